// Helpers for the zip tests: archives written by ZipWriter, archives built by hand in
// the classic layout other writers (Python's zipfile) use, and byte patching.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/zip/zip_format.h"
#include "formats/zip/zip_reader.h"
#include "formats/zip/zip_writer.h"
#include "mnemo/core/error.h"
#include "mnemo/io/byte_sink.h"

namespace mnemo::zip::testing {

using Bytes = std::vector<std::byte>;

inline Bytes bytes_of(std::string_view text) {
  Bytes out(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) out[i] = static_cast<std::byte>(text[i]);
  return out;
}

inline std::string text_of(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

inline Bytes from_hex(std::string_view hex) {
  Bytes out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::byte>(std::stoi(std::string(hex.substr(2 * i, 2)), nullptr, 16));
  }
  return out;
}

struct NamedText {
  std::string name;
  std::string data;
};

// What ZipWriter makes of these entries, in this order.
inline Bytes write_archive(const std::vector<NamedText>& entries) {
  io::MemorySink sink;
  ZipWriter writer(sink);
  for (const NamedText& e : entries) writer.add(e.name, io::ConstBytes(bytes_of(e.data)));
  writer.finish();
  return sink.release();
}

// The entry's bytes, read with CRC verification.
inline std::string read_entry(const ZipReader& reader, const Entry& entry) {
  Bytes out(static_cast<std::size_t>(entry.size));
  reader.read(entry, out, /*verify_crc=*/true);
  return text_of(out);
}

// One entry of a hand-built archive: `stored` is what goes into the file.
struct RawEntry {
  std::string name;
  Bytes stored;
  std::uint64_t size = 0;  // uncompressed
  std::uint32_t crc = 0;
  std::uint16_t method = kMethodStored;
  std::uint16_t flags = 0;
  Bytes local_extra;
  Bytes central_extra;
  // Overrides of the central directory's size fields (e.g. the zip64 marker).
  std::optional<std::uint32_t> central_compressed_field;
  std::optional<std::uint32_t> central_size_field;
};

inline RawEntry stored_entry(std::string name, std::string_view text) {
  RawEntry e;
  e.name = std::move(name);
  e.stored = bytes_of(text);
  e.size = text.size();
  e.crc = crc32(e.stored);
  return e;
}

// A deflate stream made of stored blocks (RFC 1951 §3.2.4): valid input for any
// inflater, and simple enough to build without a compressor.
inline Bytes deflate_stored_blocks(std::string_view text, std::size_t block = 65535) {
  Bytes out;
  std::size_t at = 0;
  do {
    const std::size_t n = std::min(block, text.size() - at);
    const bool last = at + n == text.size();
    out.push_back(std::byte{last ? std::uint8_t{1} : std::uint8_t{0}});
    const auto len = static_cast<std::uint16_t>(n);
    const auto nlen = static_cast<std::uint16_t>(~len);
    for (std::uint16_t v : {len, nlen}) {
      out.push_back(static_cast<std::byte>(v & 0xFF));
      out.push_back(static_cast<std::byte>(v >> 8));
    }
    const Bytes chunk = bytes_of(text.substr(at, n));
    out.insert(out.end(), chunk.begin(), chunk.end());
    at += n;
  } while (at < text.size());
  return out;
}

inline RawEntry deflated_entry(std::string name, std::string_view text) {
  RawEntry e;
  e.name = std::move(name);
  e.stored = deflate_stored_blocks(text, 7);
  e.size = text.size();
  e.crc = crc32(bytes_of(text));
  e.method = kMethodDeflated;
  return e;
}

// A classic archive as Python's zipfile writes one to a seekable file: real CRC and
// sizes in the local headers, no data descriptors, no zip64 records.
inline Bytes build_classic(const std::vector<RawEntry>& entries, std::string_view comment = "") {
  using namespace format;
  Bytes out;
  Appender a(out);
  std::vector<std::uint64_t> offsets;
  for (const RawEntry& e : entries) {
    offsets.push_back(out.size());
    a.u32(kLocalHeaderSignature);
    a.u16(20);
    a.u16(e.flags);
    a.u16(e.method);
    a.u16(0x6000);  // 12:00
    a.u16(0x5821);  // 2024-01-01
    a.u32(e.crc);
    a.u32(static_cast<std::uint32_t>(e.stored.size()));
    a.u32(static_cast<std::uint32_t>(e.size));
    a.u16(static_cast<std::uint16_t>(e.name.size()));
    a.u16(static_cast<std::uint16_t>(e.local_extra.size()));
    a.text(e.name);
    out.insert(out.end(), e.local_extra.begin(), e.local_extra.end());
    out.insert(out.end(), e.stored.begin(), e.stored.end());
  }
  const std::uint64_t directory_offset = out.size();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const RawEntry& e = entries[i];
    a.u32(kCentralHeaderSignature);
    a.u16(0x0314);  // Unix, 2.0
    a.u16(20);
    a.u16(e.flags);
    a.u16(e.method);
    a.u16(0x6000);
    a.u16(0x5821);
    a.u32(e.crc);
    a.u32(e.central_compressed_field.value_or(static_cast<std::uint32_t>(e.stored.size())));
    a.u32(e.central_size_field.value_or(static_cast<std::uint32_t>(e.size)));
    a.u16(static_cast<std::uint16_t>(e.name.size()));
    a.u16(static_cast<std::uint16_t>(e.central_extra.size()));
    a.u16(0);
    a.u16(0);
    a.u16(0);
    a.u32(0x81A40000);  // -rw-r--r--
    a.u32(static_cast<std::uint32_t>(offsets[i]));
    a.text(e.name);
    out.insert(out.end(), e.central_extra.begin(), e.central_extra.end());
  }
  const std::uint64_t directory_size = out.size() - directory_offset;
  a.u32(kEndSignature);
  a.u16(0);
  a.u16(0);
  a.u16(static_cast<std::uint16_t>(entries.size()));
  a.u16(static_cast<std::uint16_t>(entries.size()));
  a.u32(static_cast<std::uint32_t>(directory_size));
  a.u32(static_cast<std::uint32_t>(directory_offset));
  a.u16(static_cast<std::uint16_t>(comment.size()));
  a.text(comment);
  return out;
}

inline void patch16(Bytes& b, std::uint64_t at, std::uint16_t v) { format::store_le16(&b[at], v); }
inline void patch32(Bytes& b, std::uint64_t at, std::uint32_t v) { format::store_le32(&b[at], v); }
inline void patch64(Bytes& b, std::uint64_t at, std::uint64_t v) { format::store_le64(&b[at], v); }

// Where the end records of a ZipWriter archive are (it has no comment).
struct EndOffsets {
  std::uint64_t zip64_end;
  std::uint64_t locator;
  std::uint64_t end;
  std::uint64_t directory;  // from the classic record
};

inline EndOffsets end_offsets(const Bytes& archive) {
  EndOffsets o{};
  o.end = archive.size() - format::kEndSize;
  o.locator = o.end - format::kZip64LocatorSize;
  o.zip64_end = o.locator - format::kZip64EndSize;
  o.directory = format::load_le32(&archive[o.end + 16]);
  return o;
}

// The offset of each central directory header, in order.
inline std::vector<std::uint64_t> central_offsets(const Bytes& archive, std::uint64_t directory,
                                                  std::uint64_t count) {
  std::vector<std::uint64_t> out;
  std::uint64_t at = directory;
  for (std::uint64_t i = 0; i < count; ++i) {
    out.push_back(at);
    at += format::kCentralHeaderSize + format::load_le16(&archive[at + 28]) +
          format::load_le16(&archive[at + 30]) + format::load_le16(&archive[at + 32]);
  }
  return out;
}

// The Error opening (and reading every entry of) `archive` throws; fails the test when
// nothing throws.
inline Error open_error(const Bytes& archive) {
  const io::MemorySource source = io::MemorySource::view(archive);
  try {
    ZipReader reader(source);
    for (const Entry& e : reader.entries()) read_entry(reader, e);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected an Error";
  return Error(ErrorCode::kInvalidArgument, "no error");
}

}  // namespace mnemo::zip::testing
