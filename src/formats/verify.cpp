// mnemo::verify: every byte of a checkpoint checked, without keeping its tensors.
#include <algorithm>
#include <set>

#include "formats/zip/zip_reader.h"
#include "io/progress_meter.h"
#include "mnemo/serialize.h"

namespace mnemo {
namespace {

// A stored record's CRC is computed in slices of this size, each counted as progress.
constexpr std::uint64_t kSlice = std::uint64_t{16} << 20;

// Checks the CRC-32 of every record; stored records are read through the mapping, so
// nothing is allocated for them.
void verify_records(const io::ByteSource& source, const VerifyOptions& options,
                    VerifyReport& report) {
  zip::ZipReader zip(source);
  std::uint64_t total = 0;
  for (const zip::Entry& entry : zip.entries()) total += entry.size;
  io::ProgressMeter meter(options.progress, total);
  const Storage bytes = source.storage();
  for (const zip::Entry& entry : zip.entries()) {
    if (entry.method == zip::kMethodStored) {
      std::uint32_t crc = 0;
      for (std::uint64_t at = 0; at < entry.size; at += kSlice) {
        const std::uint64_t length = std::min(kSlice, entry.size - at);
        crc = zip::crc32(std::span(bytes.data() + entry.data_offset + at, length), crc);
        meter.add(length);
      }
      if (entry.crc32 != 0 && crc != entry.crc32) {
        fail(ErrorCode::kCorrupt, source.describe(), ": record ", entry.name,
             ": CRC-32 mismatch (stored ", entry.crc32, ", computed ", crc,
             "): the record's bytes were damaged");
      }
    } else {
      std::vector<std::byte> inflated(entry.size);
      zip.read(entry, inflated, /*verify_crc=*/true);
      meter.add(entry.size);
    }
    ++report.records;
    report.record_bytes += entry.size;
  }
  meter.finish();
}

}  // namespace

VerifyReport verify(const std::filesystem::path& path, const VerifyOptions& options) {
  VerifyReport report;
  report.format = detect_format(path);
  io::MemorySource source(Storage::map_file(path, MapMode::kReadOnly), path.string());
  if (report.format == FileFormat::kPtZip) verify_records(source, options, report);

  // Loading checks the structure and each tensor against its storage.
  // The records were checked above (with their progress); other formats have no
  // checksums, and report their mapped bytes done once the structure is checked.
  const Value value = load(path, {.map_location = MapLocation::keep_saved(),
                                  .mmap = true,
                                  .mmap_mode = MapMode::kReadOnly,
                                  .verify_crc = false,
                                  .progress = report.format == FileFormat::kPtZip
                                                  ? ProgressFunction()
                                                  : options.progress});
  std::set<std::pair<const std::byte*, std::size_t>> storages;
  for_each_tensor(value, [&](const std::string&, const Tensor& tensor) {
    ++report.tensors;
    if (storages.insert({tensor.storage().data(), tensor.storage().nbytes()}).second) {
      report.storage_bytes += tensor.storage().nbytes();
    }
  });
  return report;
}

}  // namespace mnemo
