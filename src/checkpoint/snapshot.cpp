#include "mnemo/checkpoint/snapshot.h"

#include <cstring>
#include <map>

namespace mnemo::checkpoint {
namespace {

class Snapshotter {
 public:
  Value copy(const Value& value) {
    if (value.is_tensor()) return copy(value.as_tensor());
    if (value.is_dict()) {
      Dict dict = value.as_dict();
      for (auto& item : dict) item.second = copy(item.second);
      return dict;
    }
    if (value.is_list()) {
      List list = value.as_list();
      for (Value& item : list) item = copy(item);
      return list;
    }
    if (value.is_tuple()) {
      Tuple tuple = value.as_tuple();
      for (Value& item : tuple) item = copy(item);
      return tuple;
    }
    return value;
  }

 private:
  Tensor copy(const Tensor& tensor) {
    if (!tensor.defined()) return tensor;
    const Storage& storage = tensor.storage();
    auto [it, inserted] = copies_.try_emplace({storage.data(), storage.nbytes()});
    if (inserted) {
      it->second = Storage::allocate(storage.nbytes(), storage.device());
      std::memcpy(it->second.mutable_data(), storage.data(), storage.nbytes());
    }
    Tensor copied(it->second, tensor.dtype(), tensor.sizes(), tensor.strides(),
                  tensor.storage_offset());
    if (tensor.requires_grad()) copied.set_requires_grad(true);
    return copied;
  }

  std::map<std::pair<const std::byte*, std::size_t>, Storage> copies_;
};

}  // namespace

Value snapshot(const Value& value) { return Snapshotter().copy(value); }

}  // namespace mnemo::checkpoint
