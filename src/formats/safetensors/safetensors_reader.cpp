#include "formats/safetensors/safetensors_reader.h"

#include "core/tensor_impl.h"
#include "formats/safetensors/safetensors_header.h"
#include "formats/storage_pool.h"
#include "io/bulk_read.h"

#include <algorithm>
#include <vector>

namespace mnemo::safetensors {
namespace {

// safetensors has no device tags: every tensor was saved from host memory.
constexpr std::string_view kSavedLocation = "cpu";

// The alignment an element needs to be read in place: its size, or its part's size for
// complex numbers.
std::size_t element_alignment(DType dtype) {
  return is_complex(dtype) ? element_size(dtype) / 2 : element_size(dtype);
}

// How many ranges read_tensors lists for one bulk read. Listing every tensor's at once
// would cost 24 bytes per tensor at the peak of a load of many small ones.
constexpr std::size_t kRangesPerRead = 4096;

// Reads the bytes of every tensor in `tensors` that is not mapped from `source`. The
// tensors are in file order, each right after the previous one from `data_offset` on:
// read_info checked that they cover the data section exactly.
void read_tensors(const io::ByteSource& source, const Dict& tensors, std::uint64_t data_offset,
                  io::ProgressMeter& meter) {
  std::vector<io::RangeRead> reads;
  reads.reserve(std::min(tensors.size(), kRangesPerRead));
  std::uint64_t offset = data_offset;
  for (const auto& [name, value] : tensors) {
    const Storage& storage = value.as_tensor().storage();
    if (storage.kind() != StorageKind::kMapped && storage.nbytes() > 0) {
      reads.push_back({offset, std::span(storage.mutable_data(), storage.nbytes())});
      if (reads.size() == kRangesPerRead) {
        io::read_ranges(source, reads, &meter);
        reads.clear();
      }
    }
    offset += storage.nbytes();
  }
  io::read_ranges(source, reads, &meter);
}

}  // namespace

Value read(const io::ByteSource& source, const LoadOptions& options, const io::ByteSource* data) {
  SafetensorsInfo info = read_info(source);
  const Device device = options.map_location.resolve(kSavedLocation);
  const Storage mapped = options.mmap ? source.storage() : Storage();
  StorageSlicer mapped_slicer(mapped);

  std::uint64_t small_bytes = 0;
  for (const SafetensorsTensor& entry : info.tensors) {
    small_bytes += formats::StoragePool::footprint(entry.data_end - entry.data_begin);
  }
  formats::StoragePool pool(small_bytes);
  std::uint64_t mapped_bytes = 0;
  std::uint64_t read_bytes = 0;
  Dict tensors;
  tensors.reserve(info.tensors.size());
  for (SafetensorsTensor& entry : info.tensors) {
    // read_info checked that every range lies inside the file.
    const std::uint64_t offset = info.data_offset + entry.data_begin;
    const auto nbytes = static_cast<std::size_t>(entry.data_end - entry.data_begin);
    Storage storage;
    if (mapped.defined() &&
        reinterpret_cast<std::uintptr_t>(mapped.data() + offset) % element_alignment(entry.dtype) ==
            0) {
      storage = mapped_slicer.slice(static_cast<std::size_t>(offset), nbytes);
      if (!device.is_cpu()) storage = storage.with_device(device);
      mapped_bytes += nbytes;
    } else {
      storage = pool.allocate(nbytes, device);
      read_bytes += nbytes;
    }
    Shape strides = contiguous_strides(entry.shape);
    tensors.insert_or_assign(
        std::move(entry.name),
        Tensor(std::move(storage), entry.dtype, std::move(entry.shape), std::move(strides)));
  }
  // The header's entries, emptied into the tensors, are not kept while their bytes come in.
  info.tensors = std::vector<SafetensorsTensor>();
  // Then the tensors' bytes, in parallel, straight into the storages.
  io::ProgressMeter meter(options.progress, mapped_bytes + read_bytes);
  meter.add(mapped_bytes);
  pool.prefault();
  read_tensors(data ? *data : source, tensors, info.data_offset, meter);
  meter.finish();
  return tensors;
}

}  // namespace mnemo::safetensors
