#include "formats/storage_pool.h"

#include <algorithm>

#include "io/parallel_copy.h"

namespace mnemo::formats {
namespace {

// Storages up to this size are pooled: the per-allocation cost (three heap blocks and
// their headers) matters next to their bytes, and keeping a block alive for one of them
// costs little.
constexpr std::uint64_t kMaxPooledBytes = std::uint64_t{64} << 10;
constexpr std::uint64_t kBlockBytes = std::uint64_t{4} << 20;

}  // namespace

std::uint64_t StoragePool::footprint(std::uint64_t nbytes) {
  if (nbytes == 0 || nbytes > kMaxPooledBytes) return 0;
  return (nbytes + kStorageAlignment - 1) / kStorageAlignment * kStorageAlignment;
}

Storage StoragePool::allocate(std::size_t nbytes, Device device) {
  const std::uint64_t needed = footprint(nbytes);
  // Large storages, those tagged for another device (map_location) and empty ones stand
  // alone: an empty slice would share its address with the next storage, and savers
  // tell storages apart by address.
  if (needed == 0 || !device.is_cpu()) return Storage::allocate_for_fill(nbytes, device);
  if (blocks_.empty() || blocks_.back().nbytes() - used_ < needed) {
    const std::uint64_t size = std::max(needed, std::min(kBlockBytes, small_left_));
    blocks_.push_back(Storage::allocate_for_fill(static_cast<std::size_t>(size), device));
    slicer_.set_base(blocks_.back());
    used_ = 0;
    small_left_ -= std::min(small_left_, size);
  }
  Storage storage = slicer_.slice(used_, nbytes);
  used_ += static_cast<std::size_t>(needed);
  return storage;
}

void StoragePool::prefault() {
  const std::span<const Storage> blocks = std::span(blocks_).subspan(prefaulted_);
  std::uint64_t bytes = 0;
  for (const Storage& block : blocks) bytes += block.nbytes();
  io::parallel_for(blocks.size(), io::threads_for(bytes), [&](std::size_t i) {
    io::prefault_for_write(std::span(blocks[i].mutable_data(), blocks[i].nbytes()));
  });
  prefaulted_ = blocks_.size();
}

}  // namespace mnemo::formats
