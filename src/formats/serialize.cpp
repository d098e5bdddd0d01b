// mnemo::load / mnemo::save: format detection and dispatch to the format readers and
// writers.
#include "mnemo/serialize.h"

#include <array>
#include <cstring>

#include "formats/pickle/module_salvage.h"
#include "formats/pt/pt_legacy_reader.h"
#include "formats/pt/pt_zip_reader.h"
#include "formats/pt/pt_zip_writer.h"
#include "mnemo/io/byte_sink.h"

namespace mnemo {
namespace {

constexpr std::size_t kHeadBytes = 512;

std::string hex_head(std::span<const std::byte> head) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < std::min<std::size_t>(head.size(), 8); ++i) {
    const auto b = static_cast<unsigned>(head[i]);
    out += (i ? " " : "");
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out.empty() ? "(empty file)" : out;
}

bool starts_with(std::span<const std::byte> head, std::string_view magic, std::size_t at = 0) {
  return head.size() >= at + magic.size() &&
         std::memcmp(head.data() + at, magic.data(), magic.size()) == 0;
}

FileFormat detect(std::span<const std::byte> head, const std::string& origin) {
  if (starts_with(head, "PK\x03\x04") || starts_with(head, "PK\x05\x06")) return FileFormat::kPtZip;
  if (pt::looks_like_legacy(head)) return FileFormat::kPtLegacy;
  if (starts_with(head, "PYTORCH1")) {
    fail(ErrorCode::kUnsupported, origin,
         ": unsupported archive format from the preview release of PyTorch");
  }
  if (starts_with(head, "ustar", 257)) {
    fail(ErrorCode::kUnsupported, origin,
         ": a tar archive, the format of PyTorch 0.3 and earlier, which mnemo does not read");
  }
  fail(ErrorCode::kUnsupported, origin,
       ": not a checkpoint mnemo can read; tried the PyTorch zip format (torch.save since "
       "1.6, starting \"PK\\x03\\x04\") and the legacy PyTorch format (a pickle starting "
       "with PyTorch's magic number); the file starts with ",
       hex_head(head));
}

std::span<const std::byte> read_head(const io::ByteSource& source, std::array<std::byte, kHeadBytes>& buffer) {
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(source.size(), kHeadBytes));
  source.read_at(0, std::span(buffer.data(), n));
  return std::span(buffer.data(), n);
}

Value load_from(const io::ByteSource& source, const LoadOptions& options) {
  std::array<std::byte, kHeadBytes> buffer;
  switch (detect(read_head(source, buffer), source.describe())) {
    case FileFormat::kPtZip: return pt::read_zip(source, options);
    case FileFormat::kPtLegacy: return pt::read_legacy(source, options);
  }
  return {};
}

}  // namespace

std::string_view file_format_name(FileFormat format) {
  switch (format) {
    case FileFormat::kPtZip: return "pt-zip";
    case FileFormat::kPtLegacy: return "pt-legacy";
  }
  return "unknown";
}

FileFormat detect_format(const std::filesystem::path& path) {
  io::FileSource source(path);
  std::array<std::byte, kHeadBytes> buffer;
  return detect(read_head(source, buffer), source.describe());
}

Value load(const std::filesystem::path& path, const LoadOptions& options) {
  if (options.mmap) {
    io::MemorySource mapped(Storage::map_file(path, options.mmap_mode), path.string());
    return load_from(mapped, options);
  }
  io::FileSource file(path);
  std::array<std::byte, kHeadBytes> buffer;
  if (detect(read_head(file, buffer), file.describe()) == FileFormat::kPtLegacy) {
    // The legacy format chains pickles whose lengths are only known by parsing them:
    // it is read through a mapping.
    io::MemorySource mapped(Storage::map_file(path, MapMode::kReadOnly), path.string());
    return pt::read_legacy(mapped, options);
  }
  return pt::read_zip(file, options);
}

Value load(std::span<const std::byte> bytes, const LoadOptions& options) {
  MNEMO_CHECK(!options.mmap, "mmap needs a file: load(path, {.mmap = true})");
  return load_from(io::MemorySource::view(bytes), options);
}

void save(const Value& value, const std::filesystem::path& path, const SaveOptions& options) {
  const pt::PreparedArchive archive(value);
  const std::string name = pt::archive_name_for(path);
  io::AtomicFileWriter file(path, {.fsync = options.fsync});
  archive.write(file, name);
  file.commit();
}

std::vector<std::byte> save_to_bytes(const Value& value) {
  io::MemorySink sink;
  pt::PreparedArchive(value).write(sink, "archive");
  return sink.release();
}

StateDict salvage_state_dict(const Value& salvaged_module) {
  return pickle::salvage_state_dict(salvaged_module);
}

}  // namespace mnemo
