#include "mnemo/checkpoint/snapshot.h"

#include <cstring>
#include <map>
#include <vector>

#include "io/parallel_copy.h"

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

  // Copies the bytes of the large storages copy() made, in pieces spread over the cores,
  // each piece's fresh pages populated at once: the copy is what an asynchronous save
  // makes training wait for.
  void fill() {
    io::copy_in_pieces(pending_, io::Destination::kFresh);
    pending_.clear();
  }

 private:
  // A copy of the tensor over a new storage. A small storage's bytes are copied at once,
  // a large one's by fill().
  Tensor copy(const Tensor& tensor) {
    if (!tensor.defined()) return tensor;
    const Storage& storage = tensor.storage();
    auto [it, inserted] = copies_.try_emplace({storage.data(), storage.nbytes()});
    if (inserted) {
      it->second = Storage::allocate_for_fill(storage.nbytes(), storage.device());
      if (storage.nbytes() < io::kPieceBytes) {  // not worth a task of its own
        std::memcpy(it->second.mutable_data(), storage.data(), storage.nbytes());
      } else {
        pending_.push_back({storage.data(), it->second.mutable_data(), storage.nbytes()});
      }
    }
    Tensor copied(it->second, tensor.dtype(), tensor.sizes(), tensor.strides(),
                  tensor.storage_offset());
    if (tensor.requires_grad()) copied.set_requires_grad(true);
    return copied;
  }

  std::map<std::pair<const std::byte*, std::size_t>, Storage> copies_;
  // The large copies still to make. Both storages outlive them: the source in the value
  // copied, the new one in copies_.
  std::vector<io::CopyRange> pending_;
};

}  // namespace

Value snapshot(const Value& value) {
  Snapshotter snapshotter;
  Value copy = snapshotter.copy(value);
  snapshotter.fill();
  return copy;
}

}  // namespace mnemo::checkpoint
