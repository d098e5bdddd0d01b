#include "formats/zip/zip_writer.h"

#include <limits>

#include "formats/zip/zip_format.h"
#include "formats/zip/zip_reader.h"
#include "mnemo/core/error.h"

namespace mnemo::zip {

using namespace format;

namespace {

constexpr std::uint16_t kFlagsWithData = kFlagUtf8 | kFlagDataDescriptor;  // 0x0808
constexpr std::uint16_t kFlagsEmpty = kFlagUtf8;                           // 0x0800
constexpr std::uint16_t kMaxNameSize = 0xFFFF;
constexpr std::uint64_t kMaxDirectorySize = kMarker32;  // miniz's limit, and PyTorch's
constexpr std::uint64_t kMaxZip64ExtraSize = kExtraHeaderSize + 3 * 8;

// miniz gives an entry a zip64 extra field when its size or its local header offset
// reaches 0xFFFFFFFF: the size fields (size, then compressed size) for the first, the
// offset for the second.
struct Zip64Fields {
  bool sizes;
  bool offset;
  bool any() const { return sizes || offset; }
  std::size_t extra_size() const {
    return any() ? kExtraHeaderSize + (sizes ? 16 : 0) + (offset ? 8 : 0) : 0;
  }
};

Zip64Fields zip64_fields(std::uint64_t size, std::uint64_t offset) {
  return {size >= kMarker32, offset >= kMarker32};
}

std::uint32_t capped32(std::uint64_t v) {
  return v >= kMarker32 ? kMarker32 : static_cast<std::uint32_t>(v);
}

std::uint16_t capped16(std::uint64_t v) {
  return v >= kMarker16 ? kMarker16 : static_cast<std::uint16_t>(v);
}

// The zip64 extra block as miniz builds it: ID, data length, then the fields present.
void append_zip64_extra(Appender& out, Zip64Fields fields, std::uint64_t size,
                        std::uint64_t compressed_size, std::uint64_t offset) {
  if (!fields.any()) return;
  out.u16(kZip64ExtraId);
  out.u16(static_cast<std::uint16_t>(fields.extra_size() - kExtraHeaderSize));
  if (fields.sizes) {
    out.u64(size);
    out.u64(compressed_size);
  }
  if (fields.offset) out.u64(offset);
}

void check_name(std::string_view name, std::uint64_t size) {
  MNEMO_CHECK(!name.empty(), "a zip entry name must not be empty");
  MNEMO_CHECK(name.size() <= kMaxNameSize, "zip entry name of ", name.size(),
              " bytes is longer than the format's ", kMaxNameSize);
  MNEMO_CHECK(name.find('\0') == std::string_view::npos, "zip entry name '", name,
              "' contains a NUL byte");
  MNEMO_CHECK(name.front() != '/', "zip entry name '", name, "' must not start with '/'");
  MNEMO_CHECK(name.back() != '/' || size == 0, "zip entry '", name,
              "' names a directory (it ends in '/') but has ", size, " bytes of data");
}

}  // namespace

ZipWriter::ZipWriter(io::ByteSink& sink) : sink_(sink) {
  MNEMO_CHECK(sink.position() == 0,
              "a zip archive must start at the beginning of its sink, "
              "which already holds ",
              sink.position(), " bytes");
}

ZipWriter::~ZipWriter() = default;

void ZipWriter::emit(std::span<const io::ConstBytes> pieces, std::uint64_t bytes) {
  broken_ = true;
  sink_.write(pieces);
  broken_ = false;
  position_ += bytes;
}

void ZipWriter::add(std::string_view name, std::span<const io::ConstBytes> pieces) {
  MNEMO_CHECK(!finished_, "zip entry '", name, "' added after finish()");
  MNEMO_CHECK(!broken_, "zip entry '", name, "' added after a failed write to the archive");
  std::uint64_t size = 0;
  std::uint32_t crc = 0;
  for (const io::ConstBytes& piece : pieces) {
    MNEMO_CHECK(piece.size() <= std::numeric_limits<std::uint64_t>::max() - size, "zip entry '",
                name, "' is larger than 2^64 bytes");
    size += piece.size();
    crc = crc32(piece, crc);
  }
  check_name(name, size);
  MNEMO_CHECK(!names_.contains(std::string(name)), "duplicate zip entry name '", name, "'");

  const std::uint64_t offset = position_;
  const Zip64Fields zip64 = zip64_fields(size, offset);
  const std::uint64_t central_size = kCentralHeaderSize + name.size() + zip64.extra_size();
  // miniz refuses an entry once the directory, counting the largest zip64 extra for it,
  // would reach 4 GiB; refusing at the same point keeps every archive one PyTorch wrote.
  if (directory_size_ + kCentralHeaderSize + name.size() + kMaxZip64ExtraSize >=
      kMaxDirectorySize) {
    fail(ErrorCode::kLimit, "zip entry '", name, "' would grow the central directory past ",
         kMaxDirectorySize, " bytes, more than PyTorch's zip writer and reader allow");
  }

  // The "FB" padding block is sized so that the data starts on a 64-byte boundary.
  const std::uint64_t unpadded_start =
      offset + kLocalHeaderSize + name.size() + zip64.extra_size() + kExtraHeaderSize;
  const auto padding = static_cast<std::uint16_t>(
      (kDataAlignment - unpadded_start % kDataAlignment) % kDataAlignment);
  const std::uint16_t flags = size > 0 ? kFlagsWithData : kFlagsEmpty;

  std::vector<std::byte> header;
  header.reserve(kLocalHeaderSize + name.size() + zip64.extra_size() + kExtraHeaderSize + padding);
  Appender out(header);
  out.u32(kLocalHeaderSignature);
  out.u16(0);  // version needed: miniz writes 0 for stored entries
  out.u16(flags);
  out.u16(kMethodStored);
  out.u16(0);  // time
  out.u16(0);  // date
  out.u32(0);  // CRC: in the data descriptor (and 0 anyway for an empty entry)
  out.u32(0);  // compressed size, likewise
  out.u32(0);  // size, likewise
  out.u16(static_cast<std::uint16_t>(name.size()));
  out.u16(static_cast<std::uint16_t>(zip64.extra_size() + kExtraHeaderSize + padding));
  out.text(name);
  // In the local header miniz writes the compressed size as 0: it is not known yet.
  append_zip64_extra(out, zip64, size, 0, offset);
  out.u16(kPaddingExtraId);
  out.u16(padding);
  out.fill(padding, kPaddingByte);

  std::vector<std::byte> descriptor;
  if (size > 0) {
    Appender d(descriptor);
    d.u32(kDataDescriptorSignature);
    d.u32(crc);
    if (zip64.any()) {
      d.u64(size);  // compressed size: stored, so the same
      d.u64(size);
    } else {
      d.u32(static_cast<std::uint32_t>(size));
      d.u32(static_cast<std::uint32_t>(size));
    }
  }

  std::vector<io::ConstBytes> all;
  all.reserve(pieces.size() + 2);
  all.emplace_back(header);
  all.insert(all.end(), pieces.begin(), pieces.end());
  all.emplace_back(descriptor);
  emit(all, header.size() + size + descriptor.size());

  names_.emplace(name);
  written_.push_back({std::string(name), crc, size, offset});
  directory_size_ += central_size;
}

void ZipWriter::finish() {
  MNEMO_CHECK(!finished_, "finish() called twice");
  MNEMO_CHECK(!broken_, "finish() after a failed write to the archive");
  std::vector<std::byte> tail;
  tail.reserve(directory_size_ + kZip64EndSize + kZip64LocatorSize + kEndSize);
  Appender out(tail);
  for (const Written& w : written_) {
    const Zip64Fields zip64 = zip64_fields(w.size, w.local_header_offset);
    const bool directory = w.name.back() == '/';
    out.u32(kCentralHeaderSignature);
    out.u16(0);  // version made by: miniz leaves it 0
    out.u16(0);  // version needed
    out.u16(w.size > 0 ? kFlagsWithData : kFlagsEmpty);
    out.u16(kMethodStored);
    out.u16(0);  // time
    out.u16(0);  // date
    out.u32(w.crc32);
    out.u32(capped32(w.size));  // compressed size
    out.u32(capped32(w.size));
    out.u16(static_cast<std::uint16_t>(w.name.size()));
    out.u16(static_cast<std::uint16_t>(zip64.extra_size()));
    out.u16(0);  // comment length
    out.u16(0);  // disk number
    out.u16(0);  // internal attributes
    out.u32(directory ? kDosDirectoryAttribute : 0);
    out.u32(capped32(w.local_header_offset));
    out.text(w.name);
    append_zip64_extra(out, zip64, w.size, w.size, w.local_header_offset);
  }
  const std::uint64_t count = written_.size();
  const std::uint64_t directory_size = tail.size();
  // miniz records offset 0 for the directory of an empty archive.
  const std::uint64_t directory_offset = count > 0 ? position_ : 0;
  const std::uint64_t zip64_end_offset = position_ + directory_size;

  out.u32(kZip64EndSignature);
  out.u64(kZip64EndRecordSize);
  out.u16(kZip64VersionMadeBy);
  out.u16(kZip64VersionNeeded);
  out.u32(0);  // this disk
  out.u32(0);  // disk with the directory
  out.u64(count);
  out.u64(count);
  out.u64(directory_size);
  out.u64(directory_offset);

  out.u32(kZip64LocatorSignature);
  out.u32(0);  // disk with the zip64 end record
  out.u64(zip64_end_offset);
  out.u32(1);  // total disks

  out.u32(kEndSignature);
  out.u16(0);  // this disk
  out.u16(0);  // disk with the directory
  out.u16(capped16(count));
  out.u16(capped16(count));
  out.u32(capped32(directory_size));
  out.u32(capped32(directory_offset));
  out.u16(0);  // comment length

  const io::ConstBytes bytes(tail);
  emit(std::span<const io::ConstBytes>(&bytes, 1), tail.size());
  finished_ = true;
}

}  // namespace mnemo::zip
