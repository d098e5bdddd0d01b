// ZipReader: the entries of a zip archive — what a .pt file is — read from a ByteSource.
//
// Reads the end-of-central-directory record (and the zip64 locator and record when
// present), the central directory, and each entry's local header to find where its data
// starts. Stored (method 0) and deflated (method 8) entries are supported, in any order.
// Every size and offset is checked against the source before it is used; anything that
// does not add up is kCorrupt, naming the entry and the offset. Beyond that, whatever a
// zip repeats must agree: the classic and zip64 end records, each local header and its
// central directory header (name, method, descriptor flag, CRC and sizes unless
// deferred to a data descriptor), and each data descriptor with the central directory.
// Encrypted entries and other methods are kUnsupported; more than
// limits::kMaxZipEntries entries is kLimit.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mnemo/io/byte_source.h"

namespace mnemo::zip {

inline constexpr std::uint16_t kMethodStored = 0;
inline constexpr std::uint16_t kMethodDeflated = 8;

struct Entry {
  std::string name;
  std::uint16_t method = kMethodStored;
  std::uint16_t flags = 0;  // general-purpose bits from the central directory
  std::uint32_t crc32 = 0;
  std::uint64_t compressed_size = 0;
  std::uint64_t size = 0;  // uncompressed
  std::uint64_t local_header_offset = 0;
  std::uint64_t data_offset = 0;  // where the (compressed) bytes start in the source
};

class ZipReader {
 public:
  // Parses and validates the whole directory. `source` must outlive the reader.
  explicit ZipReader(const io::ByteSource& source);
  ZipReader(const ZipReader& other);
  ZipReader(ZipReader&&) noexcept = default;

  const std::vector<Entry>& entries() const { return entries_; }
  // nullptr when there is no entry of that name.
  const Entry* find(std::string_view name) const;

  // Reads the entry's uncompressed bytes into `out` (REQUIRES: `entry` comes from
  // entries(); out.size() == entry.size, else kInvalidArgument). Stored data goes
  // straight from the source into `out`; a deflated entry's compressed bytes are read
  // into a buffer first unless the source is in memory. With `verify_crc`, a CRC-32
  // that does not match the central directory's is kCorrupt naming the entry (a CRC of
  // 0 in the directory is what some writers put when they skip it: then nothing is
  // checked). Safe to call from several threads at once.
  void read(const Entry& entry, std::span<std::byte> out, bool verify_crc) const;

  const io::ByteSource& source() const { return source_; }

 private:
  // Indexes entries_ by name; duplicates are kCorrupt.
  void build_index();

  const io::ByteSource& source_;
  std::vector<Entry> entries_;
  // Keys view entries_' names: a move keeps them valid, a copy rebuilds them.
  std::unordered_map<std::string_view, std::size_t> index_;
};

// CRC-32 (zip's polynomial) of `bytes`, continuing from `crc` (0 to start).
std::uint32_t crc32(std::span<const std::byte> bytes, std::uint32_t crc = 0);

}  // namespace mnemo::zip
