// The zip format's wire constants (PKWARE APPNOTE 6.3), little-endian helpers and the
// checks and message pieces the reader's files share; each signature, record size and
// marker is named once here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/core/error.h"

namespace mnemo::zip::format {

// Record signatures ("PK" followed by two bytes), as read little-endian.
inline constexpr std::uint32_t kLocalHeaderSignature = 0x04034b50;
inline constexpr std::uint32_t kCentralHeaderSignature = 0x02014b50;
inline constexpr std::uint32_t kDataDescriptorSignature = 0x08074b50;
inline constexpr std::uint32_t kEndSignature = 0x06054b50;
inline constexpr std::uint32_t kZip64EndSignature = 0x06064b50;
inline constexpr std::uint32_t kZip64LocatorSignature = 0x07064b50;

// Fixed sizes of the records, before their variable parts.
inline constexpr std::size_t kLocalHeaderSize = 30;
inline constexpr std::size_t kCentralHeaderSize = 46;
inline constexpr std::size_t kEndSize = 22;
inline constexpr std::size_t kZip64EndSize = 56;
inline constexpr std::size_t kZip64LocatorSize = 20;
inline constexpr std::size_t kDataDescriptorSize32 = 16;  // signature, CRC, 2 x 4-byte sizes
inline constexpr std::size_t kDataDescriptorSize64 = 24;  // signature, CRC, 2 x 8-byte sizes
// The zip64 end record's "size of record" counts what follows that field.
inline constexpr std::uint64_t kZip64EndRecordSize = kZip64EndSize - 12;
inline constexpr std::size_t kMaxCommentSize = 0xFFFF;

// A classic field holding its maximum says "the real value is in the zip64 record or
// extra field".
inline constexpr std::uint16_t kMarker16 = 0xFFFF;
inline constexpr std::uint32_t kMarker32 = 0xFFFFFFFF;

// Extra-field header IDs.
inline constexpr std::uint16_t kZip64ExtraId = 0x0001;
inline constexpr std::uint16_t kPaddingExtraId = 0x4246;  // "FB", PyTorch's alignment padding
inline constexpr std::byte kPaddingByte{'Z'};
inline constexpr std::size_t kExtraHeaderSize = 4;  // ID and data length

// General-purpose flag bits.
inline constexpr std::uint16_t kFlagEncrypted = 0x0001;
inline constexpr std::uint16_t kFlagDataDescriptor = 0x0008;
inline constexpr std::uint16_t kFlagPatchedData = 0x0020;
inline constexpr std::uint16_t kFlagStrongEncryption = 0x0040;
inline constexpr std::uint16_t kFlagUtf8 = 0x0800;
inline constexpr std::uint16_t kFlagMaskedHeaders = 0x2000;  // central directory encryption

// Versions: "version needed" is (major * 10 + minor) in its low byte.
inline constexpr std::uint8_t kMaxVersionNeeded = 63;  // APPNOTE 6.3
inline constexpr std::uint16_t kZip64VersionNeeded = 45;
inline constexpr std::uint16_t kZip64VersionMadeBy = 0x031E;  // Unix, 3.0: what miniz writes

// MS-DOS "directory" attribute, set in the external attributes of names ending in '/'.
inline constexpr std::uint32_t kDosDirectoryAttribute = 0x10;

inline std::uint16_t load_le16(const std::byte* p) {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) |
                                    (std::to_integer<unsigned>(p[1]) << 8));
}
inline std::uint32_t load_le32(const std::byte* p) {
  return static_cast<std::uint32_t>(load_le16(p)) |
         (static_cast<std::uint32_t>(load_le16(p + 2)) << 16);
}
inline std::uint64_t load_le64(const std::byte* p) {
  return static_cast<std::uint64_t>(load_le32(p)) |
         (static_cast<std::uint64_t>(load_le32(p + 4)) << 32);
}

inline void store_le16(std::byte* p, std::uint16_t v) {
  p[0] = static_cast<std::byte>(v & 0xFF);
  p[1] = static_cast<std::byte>(v >> 8);
}
inline void store_le32(std::byte* p, std::uint32_t v) {
  store_le16(p, static_cast<std::uint16_t>(v & 0xFFFF));
  store_le16(p + 2, static_cast<std::uint16_t>(v >> 16));
}
inline void store_le64(std::byte* p, std::uint64_t v) {
  store_le32(p, static_cast<std::uint32_t>(v & 0xFFFFFFFF));
  store_le32(p + 4, static_cast<std::uint32_t>(v >> 32));
}

// Writes little-endian fields into a block whose size the caller worked out: the
// writer's per-record headers, where growing a vector field by field would cost more
// than the fields.
class FieldWriter {
 public:
  // Grows `out` by `size` bytes, to be filled through this writer.
  FieldWriter(std::vector<std::byte>& out, std::size_t size) {
    const std::size_t start = out.size();
    out.resize(start + size);
    at_ = out.data() + start;
    end_ = at_ + size;
  }
  void u16(std::uint16_t v) { store_le16(take(2), v); }
  void u32(std::uint32_t v) { store_le32(take(4), v); }
  void u64(std::uint64_t v) { store_le64(take(8), v); }
  void text(std::string_view s) {
    if (!s.empty()) std::memcpy(take(s.size()), s.data(), s.size());
  }
  void bytes(std::span<const std::byte> b) {
    if (!b.empty()) std::memcpy(take(b.size()), b.data(), b.size());
  }
  void fill(std::size_t n, std::byte value) { std::memset(take(n), static_cast<int>(value), n); }
  // True once the block is filled exactly.
  bool full() const { return at_ == end_; }

 private:
  std::byte* take(std::size_t n) {
    MNEMO_CHECK(n <= static_cast<std::size_t>(end_ - at_),
                "zip writer: a field runs past the block sized for it");
    std::byte* p = at_;
    at_ += n;
    return p;
  }
  std::byte* at_;
  std::byte* end_;
};

// Appends little-endian fields to a byte vector.
class Appender {
 public:
  explicit Appender(std::vector<std::byte>& out) : out_(out) {}
  void u16(std::uint16_t v) { store_le16(grow(2), v); }
  void u32(std::uint32_t v) { store_le32(grow(4), v); }
  void u64(std::uint64_t v) { store_le64(grow(8), v); }
  void text(std::string_view s) {
    std::byte* p = grow(s.size());
    for (char c : s) *p++ = static_cast<std::byte>(c);
  }
  void fill(std::size_t n, std::byte value) { out_.insert(out_.end(), n, value); }

 private:
  std::byte* grow(std::size_t n) {
    out_.resize(out_.size() + n);
    return out_.data() + out_.size() - n;
  }
  std::vector<std::byte>& out_;
};

// "0x04034b50": how the messages show signatures and CRCs.
inline std::string hex(std::uint64_t value, int digits = 8) {
  char buffer[24];
  std::snprintf(buffer, sizeof(buffer), "0x%0*llx", digits, static_cast<unsigned long long>(value));
  return buffer;
}

// A name as it may appear in a message: non-printable bytes escaped, long names cut.
inline std::string printable(std::string_view name) {
  constexpr std::size_t kMaxShown = 200;
  std::string out;
  for (std::size_t i = 0; i < name.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x" + hex(c, 2).substr(2);
    }
  }
  if (name.size() > kMaxShown) out += "...";
  return out;
}

// Refuses a "version needed to extract" beyond what this reader implements; its high
// byte names a host system and is ignored, as every reader does.
inline void check_version_needed(std::uint16_t version, const std::string& where) {
  const unsigned spec = version & 0xFF;
  if (spec > kMaxVersionNeeded) {
    fail(ErrorCode::kUnsupported, where, " needs zip version ", spec / 10, ".", spec % 10,
         " to extract; mnemo reads archives up to version 6.3");
  }
}

}  // namespace mnemo::zip::format
