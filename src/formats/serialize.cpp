// mnemo::load / mnemo::save: format detection and dispatch to the format readers and
// writers.
#include "mnemo/serialize.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

#include "formats/pickle/module_salvage.h"
#include "formats/pt/pt_legacy_reader.h"
#include "formats/pt/pt_zip_reader.h"
#include "formats/pt/pt_zip_writer.h"
#include "formats/safetensors/safetensors_header.h"
#include "formats/safetensors/safetensors_reader.h"
#include "formats/safetensors/safetensors_writer.h"
#include "io/progress_meter.h"
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

FileFormat detect(std::span<const std::byte> head, std::uint64_t file_size,
                  const std::string& origin) {
  if (starts_with(head, "PK\x03\x04") || starts_with(head, "PK\x05\x06")) return FileFormat::kPtZip;
  if (pt::looks_like_legacy(head)) return FileFormat::kPtLegacy;
  if (safetensors::looks_like_safetensors(head, file_size)) return FileFormat::kSafetensors;
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
       "1.6, starting \"PK\\x03\\x04\"), the legacy PyTorch format (a pickle starting "
       "with PyTorch's magic number) and safetensors (an 8-byte little-endian header length, "
       "then a JSON object starting '{'); the file starts with ",
       hex_head(head));
}

std::span<const std::byte> read_head(const io::ByteSource& source, std::array<std::byte, kHeadBytes>& buffer) {
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(source.size(), kHeadBytes));
  source.read_at(0, std::span(buffer.data(), n));
  return std::span(buffer.data(), n);
}

FileFormat detect_source(const io::ByteSource& source) {
  std::array<std::byte, kHeadBytes> buffer;
  return detect(read_head(source, buffer), source.size(), source.describe());
}

// A file whose first bytes were already read to detect its format: reads of them are
// served from memory, so that a copy load reads each byte of the file once.
class HeadCachedSource : public io::ByteSource {
 public:
  HeadCachedSource(const io::ByteSource& file, std::span<const std::byte> head)
      : file_(file), head_(head) {}

  std::uint64_t size() const override { return file_.size(); }
  std::string describe() const override { return file_.describe(); }
  void read_at(std::uint64_t offset, std::span<std::byte> out) const override {
    if (offset < head_.size() && contains(offset, out.size())) {
      const std::size_t cached = std::min<std::size_t>(out.size(), head_.size() - offset);
      std::memcpy(out.data(), head_.data() + offset, cached);
      offset += cached;
      out = out.subspan(cached);
      if (out.empty()) return;
    }
    file_.read_at(offset, out);
  }

 private:
  const io::ByteSource& file_;
  std::span<const std::byte> head_;
};

Value load_from(const io::ByteSource& source, const LoadOptions& options) {
  switch (detect_source(source)) {
    case FileFormat::kPtZip: return pt::read_zip(source, options);
    case FileFormat::kPtLegacy: return pt::read_legacy(source, options);
    case FileFormat::kSafetensors: return safetensors::read(source, options);
  }
  return {};
}

// Writes a prepared file into `sink`, through a meter when progress is wanted. `total`,
// which never exceeds the file's size, is reserved in the sink first.
template <typename Write>
void write_metered(io::ByteSink& sink, const SaveOptions& options, std::uint64_t total,
                   const Write& write) {
  sink.reserve(total);
  if (!options.progress) {
    write(sink);
    return;
  }
  io::ProgressMeter meter(options.progress, total);
  io::MeteredSink metered(sink, meter);
  write(metered);
  meter.finish();
}

// Prepares `value` for writing in `format` — where anything that refuses it is refused,
// before any file is touched — then calls emit(total, write): `write` puts the file's
// bytes into a sink, `total` is the bytes to report progress against.
template <typename Emit>
void prepare(const Value& value, FileFormat format, const std::string& archive_name,
             const SaveOptions& options, const Emit& emit) {
  switch (format) {
    case FileFormat::kPtZip: {
      const pt::PreparedArchive archive(value);
      emit(archive.record_bytes(), [&](io::ByteSink& out) { archive.write(out, archive_name); });
      return;
    }
    case FileFormat::kSafetensors: {
      const safetensors::PreparedFile prepared(value, options.metadata);
      emit(prepared.size(), [&](io::ByteSink& out) { prepared.write(out); });
      return;
    }
    case FileFormat::kPtLegacy:
      fail(ErrorCode::kInvalidArgument,
           "mnemo does not write the legacy PyTorch format; save as pt-zip, which every "
           "PyTorch since 1.6 reads");
  }
}

void check_metadata_fits(FileFormat format, const SaveOptions& options) {
  if (format != FileFormat::kSafetensors && !options.metadata.empty()) {
    fail(ErrorCode::kInvalidArgument, "SaveOptions::metadata (", options.metadata.size(),
         " entries) is only written by the safetensors format, not ", file_format_name(format),
         "; save to a .safetensors file, or leave it empty");
  }
}

}  // namespace

std::string_view file_format_name(FileFormat format) {
  switch (format) {
    case FileFormat::kPtZip: return "pt-zip";
    case FileFormat::kPtLegacy: return "pt-legacy";
    case FileFormat::kSafetensors: return "safetensors";
  }
  return "unknown";
}

FileFormat format_for_path(const std::filesystem::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".safetensors" ? FileFormat::kSafetensors : FileFormat::kPtZip;
}

FileFormat detect_format(const std::filesystem::path& path) {
  io::FileSource source(path);
  return detect_source(source);
}

Value load(const std::filesystem::path& path, const LoadOptions& options) {
  if (options.mmap) {
    io::MemorySource mapped(Storage::map_file(path, options.mmap_mode), path.string());
    return load_from(mapped, options);
  }
  io::FileSource file(path);
  std::array<std::byte, kHeadBytes> buffer;
  const std::span<const std::byte> head = read_head(file, buffer);
  switch (detect(head, file.size(), file.describe())) {
    case FileFormat::kPtZip: return pt::read_zip(file, options);
    case FileFormat::kPtLegacy: {
      // The legacy format chains pickles whose lengths are only known by parsing them:
      // it is read through a mapping.
      io::MemorySource mapped(Storage::map_file(path, MapMode::kReadOnly), path.string());
      return pt::read_legacy(mapped, options);
    }
    case FileFormat::kSafetensors:
      return safetensors::read(HeadCachedSource(file, head), options, &file);
  }
  return {};
}

Value load(std::span<const std::byte> bytes, const LoadOptions& options) {
  MNEMO_CHECK(!options.mmap, "mmap needs a file: load(path, {.mmap = true})");
  return load_from(io::MemorySource::view(bytes), options);
}

void save(const Value& value, const std::filesystem::path& path, const SaveOptions& options) {
  const FileFormat format = format_for_path(path);
  check_metadata_fits(format, options);
  const std::string archive_name =
      format == FileFormat::kPtZip ? pt::archive_name_for(path) : std::string();
  prepare(value, format, archive_name, options, [&](std::uint64_t total, const auto& write) {
    io::AtomicFileWriter file(path, {.fsync = options.fsync});
    write_metered(file, options, total, write);
    file.commit();
  });
}

std::vector<std::byte> save_to_bytes(const Value& value) {
  return save_to_bytes(value, FileFormat::kPtZip);
}

std::vector<std::byte> save_to_bytes(const Value& value, FileFormat format,
                                     const SaveOptions& options) {
  check_metadata_fits(format, options);
  io::MemorySink sink;
  prepare(value, format, "archive", options, [&](std::uint64_t total, const auto& write) {
    write_metered(sink, options, total, write);
  });
  return sink.release();
}

namespace {

SafetensorsInfo inspect_source(const io::ByteSource& source) {
  const FileFormat format = detect_source(source);
  if (format != FileFormat::kSafetensors) {
    fail(ErrorCode::kInvalidArgument, source.describe(), " is a ", file_format_name(format),
         " file, not safetensors");
  }
  return safetensors::read_info(source);
}

}  // namespace

SafetensorsInfo inspect_safetensors(const std::filesystem::path& path) {
  return inspect_source(io::FileSource(path));
}

SafetensorsInfo inspect_safetensors(std::span<const std::byte> bytes) {
  return inspect_source(io::MemorySource::view(bytes));
}

StateDict salvage_state_dict(const Value& salvaged_module) {
  return pickle::salvage_state_dict(salvaged_module);
}

}  // namespace mnemo
