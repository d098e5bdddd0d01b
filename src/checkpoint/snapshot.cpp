#include "mnemo/checkpoint/snapshot.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <span>
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
    struct Piece {
      const std::byte* from;
      std::byte* to;
      std::size_t length;
    };
    std::vector<Piece> pieces;
    std::uint64_t total = 0;
    for (const auto& [from, to] : pending_) {
      for (std::size_t at = 0; at < from.nbytes(); at += io::kPieceBytes) {
        pieces.push_back({from.data() + at, to.mutable_data() + at,
                          std::min<std::size_t>(io::kPieceBytes, from.nbytes() - at)});
      }
      total += from.nbytes();
    }
    io::parallel_for(pieces.size(), io::threads_for(total), [&](std::size_t i) {
      const Piece& piece = pieces[i];
      io::prefault_for_write(std::span(piece.to, piece.length));
      std::memcpy(piece.to, piece.from, piece.length);
    });
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
        pending_.push_back({storage, it->second});
      }
    }
    Tensor copied(it->second, tensor.dtype(), tensor.sizes(), tensor.strides(),
                  tensor.storage_offset());
    if (tensor.requires_grad()) copied.set_requires_grad(true);
    return copied;
  }

  struct Pending {
    Storage from;
    Storage to;
  };

  std::map<std::pair<const std::byte*, std::size_t>, Storage> copies_;
  std::vector<Pending> pending_;
};

}  // namespace

Value snapshot(const Value& value) {
  Snapshotter snapshotter;
  Value copy = snapshotter.copy(value);
  snapshotter.fill();
  return copy;
}

}  // namespace mnemo::checkpoint
