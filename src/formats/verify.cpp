// mnemo::verify: every byte of a checkpoint checked, without keeping its tensors.
#include <set>

#include "formats/zip/zip_reader.h"
#include "mnemo/serialize.h"

namespace mnemo {
namespace {

// Checks the CRC-32 of every record; stored records are read through the mapping, so
// nothing is allocated for them.
void verify_records(const io::ByteSource& source, VerifyReport& report) {
  zip::ZipReader zip(source);
  const Storage bytes = source.storage();
  for (const zip::Entry& entry : zip.entries()) {
    if (entry.method == zip::kMethodStored) {
      const std::uint32_t crc =
          zip::crc32(std::span(bytes.data() + entry.data_offset, entry.size));
      if (entry.crc32 != 0 && crc != entry.crc32) {
        fail(ErrorCode::kCorrupt, source.describe(), ": record ", entry.name,
             ": CRC-32 mismatch (stored ", entry.crc32, ", computed ", crc,
             "): the record's bytes were damaged");
      }
    } else {
      std::vector<std::byte> inflated(entry.size);
      zip.read(entry, inflated, /*verify_crc=*/true);
    }
    ++report.records;
    report.record_bytes += entry.size;
  }
}

}  // namespace

VerifyReport verify(const std::filesystem::path& path) {
  VerifyReport report;
  report.format = detect_format(path);
  io::MemorySource source(Storage::map_file(path, MapMode::kReadOnly), path.string());
  if (report.format == FileFormat::kPtZip) verify_records(source, report);

  // Loading checks the structure and each tensor against its storage.
  const Value value = load(path, {.map_location = MapLocation::keep_saved(),
                                  .mmap = true,
                                  .mmap_mode = MapMode::kReadOnly,
                                  .verify_crc = false});
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
