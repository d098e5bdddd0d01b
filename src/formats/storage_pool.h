// The storages of one copy load. Small ones are cut from shared blocks instead of being
// allocated one by one: a state_dict of 20,000 small tensors then costs a few dozen
// allocations instead of 60,000, and its bytes lie together in memory. Each slice is
// 64-byte aligned, like any owned Storage, and keeps its whole block alive (and the next
// block too, when the handles of both came in the same batch), so blocks stay small
// (4 MiB) next to what a load holds. Large storages get their own allocation,
// in huge pages where those pay off (Storage::allocate_for_fill).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mnemo/core/storage.h"

namespace mnemo::formats {

class StoragePool {
 public:
  // The bytes a storage of `nbytes` takes from the pool's blocks: 0 for a large or
  // empty one.
  static std::uint64_t footprint(std::uint64_t nbytes);

  // `small_bytes`: at most how many bytes (sum of footprint()) the load will take from
  // the pool. It only caps the size of the last block: asking for more still works.
  explicit StoragePool(std::uint64_t small_bytes) : small_left_(small_bytes) {}

  // Uninitialised bytes, as Storage::allocate.
  Storage allocate(std::size_t nbytes, Device device);

  // Faults in the pages of every block made since the last call, blocks spread over the
  // cores: what a bulk read of the storages does next, at a fraction of the kernel's
  // cost of faulting them in page by page (io::prefault_for_write).
  void prefault();

 private:
  std::vector<Storage> blocks_;   // the last one is being cut
  StorageSlicer slicer_;          // of the last block; its batches span blocks
  std::size_t used_ = 0;          // bytes of the last block handed out
  std::uint64_t small_left_ = 0;  // of small_bytes, not yet in a block
  std::size_t prefaulted_ = 0;    // blocks_ before this one are faulted in
};

}  // namespace mnemo::formats
