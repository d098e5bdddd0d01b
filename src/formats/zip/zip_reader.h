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
// Records may not overlap, which is checked on opening (before any local header is read
// when they are deferred).
// Encrypted entries and other methods are kUnsupported; more than
// limits::kMaxZipEntries entries is kLimit.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/progress_meter.h"
#include "mnemo/core/ordered_map.h"
#include "mnemo/io/byte_source.h"

namespace mnemo::io {
class TaskShare;
}  // namespace mnemo::io

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

// When the local headers (and data descriptors) are read and checked.
enum class LocalHeaders : std::uint8_t {
  kEager,     // all of them, by the constructor: every Entry's data_offset is known
  kDeferred,  // for a source that is not in memory: each as its entry is read (read,
              // read_all), so that opening an archive of 100,000 records reads only its
              // directory. Entries' data_offset is then 0. In memory, this is kEager.
};

// One entry to read into a buffer of its size, for read_all.
struct ReadRequest {
  const Entry* entry;
  std::span<std::byte> out;
};

struct ReadAllOptions {
  // Counts the requested bytes as they arrive (a CRC mismatch may still follow).
  io::ProgressMeter* progress = nullptr;
  // The most threads to read on, the calling one included; 0: as many as help.
  std::size_t max_threads = 0;
  // With deferred local headers: check those of the entries not requested too, as the
  // eager constructor would have. Only false when an earlier read_all, which checked
  // them all, succeeded.
  bool check_unrequested = true;
  // Threads that call share->help() while this runs read along (io::TaskShare).
  io::TaskShare* share = nullptr;
};

class ZipReader {
 public:
  // Parses and validates the whole directory. `source` must outlive the reader.
  explicit ZipReader(const io::ByteSource& source, LocalHeaders local_headers = LocalHeaders::kEager);
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

  // Reads many entries at once, each as read() would (the same checks, the same errors),
  // as fast as the machine allows: large records go straight from the source into their
  // buffers in pieces spread over the cores, each piece's CRC-32 computed while it is in
  // the cache and the pieces' CRCs combined; runs of small records are read with one
  // read each into a bounded buffer and copied out. With deferred local headers, every
  // entry's local header and data descriptor is checked here, requested or not (unless
  // options say otherwise), as the eager constructor would have. When several records
  // are damaged, the error reported does not depend on timing: the first bad header or
  // small record in file order, else the first bad large record. Each request's entry
  // comes from entries(), at most once, with a buffer of its size (kInvalidArgument
  // otherwise). Safe to call from several threads at once.
  void read_all(std::span<const ReadRequest> requests, bool verify_crc,
                const ReadAllOptions& options = {}) const;

  bool local_headers_deferred() const { return deferred_; }
  const io::ByteSource& source() const { return source_; }

 private:
  // Indexes entries_ by name; duplicates are kCorrupt.
  void build_index();
  // `entry` with its data_offset, its local header and data descriptor checked (a copy,
  // when they were deferred).
  Entry resolved(const Entry& entry) const;
  // The bulk read of deferred entries from a file.
  void read_all_deferred(std::span<const ReadRequest> requests, bool verify_crc,
                         const ReadAllOptions& options, io::ProgressMeter& meter) const;

  const io::ByteSource& source_;
  bool deferred_ = false;
  std::uint64_t directory_offset_ = 0;
  std::vector<Entry> entries_;
  // Keys view entries_' names: a move keeps them valid, a copy rebuilds them.
  mnemo::detail::OrderedMap<std::string_view, std::size_t> index_;
};

// CRC-32 (zip's polynomial) of `bytes`, continuing from `crc` (0 to start).
std::uint32_t crc32(std::span<const std::byte> bytes, std::uint32_t crc = 0);

}  // namespace mnemo::zip
