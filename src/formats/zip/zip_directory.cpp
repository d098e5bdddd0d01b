#include "formats/zip/zip_directory.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "formats/zip/zip_format.h"
#include "mnemo/core/error.h"

namespace mnemo::zip {

using namespace format;

namespace {

// Deflate cannot expand data by more than 1032:1 (a 258-byte match in 2 bits), so a
// deflated entry claiming more than this per compressed byte is lying about its size.
constexpr std::uint64_t kMaxDeflateRatio = 1032;
// How much of the central directory a file-backed reader pulls in per read.
constexpr std::size_t kDirectoryChunk = std::size_t{1} << 20;
// How many bytes past the name a local header read takes at once, to catch the extra
// field (PyTorch's padding is at most 4 + 63 bytes, plus 28 for zip64) in one read.
constexpr std::size_t kLocalExtraGuess = 128;

// Reads [begin, end) of a source front to back, in chunks, handing out pointers to
// contiguous bytes. Sources already in memory are read in place.
class RegionCursor {
 public:
  RegionCursor(const io::ByteSource& source, std::uint64_t begin, std::uint64_t end)
      : source_(source), memory_(source.storage()), position_(begin), end_(end) {}

  std::uint64_t position() const { return position_; }
  std::uint64_t remaining() const { return end_ - position_; }

  // The next `n` bytes, valid until the next call. REQUIRES: n <= remaining().
  const std::byte* take(std::size_t n) {
    const std::byte* p;
    if (memory_.defined()) {
      p = memory_.data() + position_;
    } else {
      if (position_ < buffer_start_ || position_ + n > buffer_start_ + buffer_.size()) {
        const std::size_t window = static_cast<std::size_t>(
            std::min<std::uint64_t>(std::max(n, kDirectoryChunk), remaining()));
        buffer_.resize(window);
        source_.read_at(position_, buffer_);
        buffer_start_ = position_;
      }
      p = buffer_.data() + (position_ - buffer_start_);
    }
    position_ += n;
    return p;
  }

 private:
  const io::ByteSource& source_;
  Storage memory_;
  std::uint64_t position_;
  std::uint64_t end_;
  std::vector<std::byte> buffer_;
  std::uint64_t buffer_start_ = 0;
};

// Refuses entries this reader cannot decode: encrypted ones (traditional or strong, or
// with masked local headers) and patched data.
// `where` makes the message's subject; it is only called on failure.
template <class Where>
void check_flags(std::uint16_t flags, const Where& where) {
  if (flags & (kFlagEncrypted | kFlagStrongEncryption | kFlagMaskedHeaders)) {
    fail(ErrorCode::kUnsupported, where(), " is encrypted (flags ", hex(flags, 4),
         "); mnemo reads only unencrypted archives");
  }
  if (flags & kFlagPatchedData) {
    fail(ErrorCode::kUnsupported, where(), " holds patched data (flags ", hex(flags, 4),
         "), which mnemo does not read");
  }
}

template <class Where>
void check_version(std::uint16_t version, const Where& where) {
  if ((version & 0xFF) > kMaxVersionNeeded) check_version_needed(version, where());
}

// Calls visit(id, data) for each block of an extra field, checking that the blocks
// tile it exactly.
template <class Where, class Visit>
void walk_extra(const std::byte* extra, std::size_t size, std::uint64_t offset,
                const Where& where, Visit visit) {
  std::size_t at = 0;
  while (at < size) {
    if (size - at < kExtraHeaderSize) {
      fail(ErrorCode::kCorrupt, where(), ": extra field at offset ", offset, " ends with ", size - at,
           " stray bytes, too few for a block header");
    }
    const std::uint16_t id = load_le16(extra + at);
    const std::size_t length = load_le16(extra + at + 2);
    if (length > size - at - kExtraHeaderSize) {
      fail(ErrorCode::kCorrupt, where(), ": extra block ", hex(id, 4), " at offset ", offset + at,
           " claims ", length, " bytes but only ", size - at - kExtraHeaderSize, " remain");
    }
    visit(id, extra + at + kExtraHeaderSize, length);
    at += kExtraHeaderSize + length;
  }
}

// Reads one central directory header and its name, extras and comment.
Entry read_central_entry(RegionCursor& cursor, std::uint64_t index, const DirectoryLocation& dir,
                         const std::string& src) {
  const std::uint64_t header_offset = cursor.position();
  if (cursor.remaining() < kCentralHeaderSize) {
    fail(ErrorCode::kCorrupt, src, ": central directory entry ", index, " at offset ",
         header_offset, " needs ", kCentralHeaderSize, " bytes but the directory has ",
         cursor.remaining(), " left");
  }
  const std::byte* h = cursor.take(kCentralHeaderSize);
  if (load_le32(h) != kCentralHeaderSignature) {
    fail(ErrorCode::kCorrupt, src, ": central directory entry ", index, " at offset ",
         header_offset, " has signature ", hex(load_le32(h)), ", expected ",
         hex(kCentralHeaderSignature));
  }
  Entry entry;
  const std::uint16_t version_needed = load_le16(h + 6);
  entry.flags = load_le16(h + 8);
  entry.method = load_le16(h + 10);
  entry.crc32 = load_le32(h + 16);
  entry.compressed_size = load_le32(h + 20);
  entry.size = load_le32(h + 24);
  const std::size_t name_size = load_le16(h + 28);
  const std::size_t extra_size = load_le16(h + 30);
  const std::size_t comment_size = load_le16(h + 32);
  const std::uint16_t disk = load_le16(h + 34);
  entry.local_header_offset = load_le32(h + 42);
  if (cursor.remaining() < name_size + extra_size + comment_size) {
    fail(ErrorCode::kCorrupt, src, ": central directory entry ", index, " at offset ",
         header_offset, " needs ", name_size + extra_size + comment_size,
         " bytes for its name, extra field and comment but the directory has ", cursor.remaining(),
         " left");
  }
  const std::byte* variable = cursor.take(name_size + extra_size + comment_size);
  entry.name.assign(reinterpret_cast<const char*>(variable), name_size);
  const auto where = [&] {
    return "zip entry '" + printable(entry.name) + "' in " + src + " (central directory offset " +
           std::to_string(header_offset) + ")";
  };

  // The zip64 extra field holds, in this order, exactly those values whose classic field
  // is the marker.
  bool zip64_seen = false;
  std::uint32_t disk32 = disk;
  walk_extra(variable + name_size, extra_size, header_offset + kCentralHeaderSize + name_size,
             where, [&](std::uint16_t id, const std::byte* data, std::size_t length) {
               if (id != kZip64ExtraId) return;
               if (zip64_seen) fail(ErrorCode::kCorrupt, where(), ": two zip64 extra blocks");
               zip64_seen = true;
               std::size_t at = 0;
               const auto next = [&](std::size_t width, const char* what) {
                 if (length - at < width) {
                   fail(ErrorCode::kCorrupt, where(), ": the ", what,
                        " is in the zip64 extra block, which has only ", length, " bytes");
                 }
                 const std::uint64_t v = width == 8 ? load_le64(data + at) : load_le32(data + at);
                 at += width;
                 return v;
               };
               if (entry.size == kMarker32) entry.size = next(8, "size");
               if (entry.compressed_size == kMarker32) {
                 entry.compressed_size = next(8, "compressed size");
               }
               if (entry.local_header_offset == kMarker32) {
                 entry.local_header_offset = next(8, "local header offset");
               }
               if (disk == kMarker16) disk32 = static_cast<std::uint32_t>(next(4, "disk number"));
             });
  if (!zip64_seen && (entry.size == kMarker32 || entry.compressed_size == kMarker32 ||
                      entry.local_header_offset == kMarker32)) {
    fail(ErrorCode::kCorrupt, where(), ": a size or offset is ", hex(kMarker32),
         " (zip64) but the entry has no zip64 extra block");
  }

  check_version(version_needed, where);
  check_flags(entry.flags, where);
  if (entry.method != kMethodStored && entry.method != kMethodDeflated) {
    const char* known = entry.method == 12   ? " (bzip2)"
                        : entry.method == 14 ? " (LZMA)"
                        : entry.method == 93 ? " (zstd)"
                        : entry.method == 95 ? " (xz)"
                                             : "";
    fail(ErrorCode::kUnsupported, where(), " uses compression method ", entry.method, known,
         "; mnemo reads stored (0) and deflated (8) entries");
  }
  if (disk32 != 0) {
    fail(ErrorCode::kCorrupt, where(), ": starts on disk ", disk32,
         " of what the end record says is a single-disk archive");
  }
  if (entry.method == kMethodStored && entry.compressed_size != entry.size) {
    fail(ErrorCode::kCorrupt, where(), ": stored (uncompressed), yet its compressed size ",
         entry.compressed_size, " differs from its size ", entry.size);
  }
  if (entry.method == kMethodDeflated &&
      entry.compressed_size < std::numeric_limits<std::uint64_t>::max() / kMaxDeflateRatio &&
      entry.size > (entry.compressed_size + 1) * kMaxDeflateRatio) {
    fail(ErrorCode::kCorrupt, where(), ": claims ", entry.size, " bytes from ", entry.compressed_size,
         " deflated bytes, more than deflate can produce");
  }
  if (entry.local_header_offset > dir.offset ||
      dir.offset - entry.local_header_offset < kLocalHeaderSize) {
    fail(ErrorCode::kCorrupt, where(), ": local header offset ", entry.local_header_offset,
         " leaves no room for a ", kLocalHeaderSize,
         "-byte header before the central directory at offset ", dir.offset);
  }
  return entry;
}

// True when the data descriptor at `p` (with `available` bytes) repeats the entry's CRC
// and sizes, in one of its four forms: with or without signature, 4- or 8-byte sizes.
bool descriptor_matches(const std::byte* p, std::size_t available, const Entry& entry) {
  for (const bool signature : {true, false}) {
    for (const bool wide : {false, true}) {
      const std::size_t need = (signature ? 4 : 0) + 4 + (wide ? 16 : 8);
      if (available < need) continue;
      if (signature && load_le32(p) != kDataDescriptorSignature) continue;
      const std::byte* q = p + (signature ? 4 : 0);
      const std::uint64_t compressed = wide ? load_le64(q + 4) : load_le32(q + 4);
      const std::uint64_t size = wide ? load_le64(q + 12) : load_le32(q + 8);
      if (load_le32(q) == entry.crc32 && compressed == entry.compressed_size &&
          size == entry.size) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

std::string local_header_where(const Entry& entry, const std::string& src) {
  return "zip entry '" + printable(entry.name) + "' in " + src + " (local header offset " +
         std::to_string(entry.local_header_offset) + ")";
}

std::size_t local_header_guess(const Entry& entry) {
  return kLocalHeaderSize + entry.name.size() + kLocalExtraGuess;
}

std::uint64_t check_local_header(const Entry& entry, std::span<const std::byte> bytes,
                                  std::uint64_t directory_offset, const std::string& src,
                                  std::size_t& needed) {
  const std::uint64_t offset = entry.local_header_offset;
  const auto where = [&] { return local_header_where(entry, src); };
  // Everything up to the central directory is fair game.
  const std::uint64_t room = directory_offset - offset;  // >= kLocalHeaderSize, checked before
  needed = kLocalHeaderSize;
  if (bytes.size() < kLocalHeaderSize) return 0;
  const std::byte* h = bytes.data();
  if (load_le32(h) != kLocalHeaderSignature) {
    fail(ErrorCode::kCorrupt, where(), ": signature is ", hex(load_le32(h)), ", expected ",
         hex(kLocalHeaderSignature));
  }
  const std::uint16_t version_needed = load_le16(h + 4);
  const std::uint16_t flags = load_le16(h + 6);
  const std::uint16_t method = load_le16(h + 8);
  const std::uint32_t crc = load_le32(h + 14);
  const std::uint32_t compressed = load_le32(h + 18);
  const std::uint32_t size = load_le32(h + 22);
  const std::size_t name_size = load_le16(h + 26);
  const std::size_t extra_size = load_le16(h + 28);
  check_version(version_needed, where);
  check_flags(flags, where);
  if ((flags & kFlagDataDescriptor) != (entry.flags & kFlagDataDescriptor)) {
    fail(ErrorCode::kCorrupt, where(), ": flags ", hex(flags, 4),
         " disagree with the central directory's ", hex(entry.flags, 4),
         " on whether a data descriptor follows");
  }
  if (method != entry.method) {
    fail(ErrorCode::kCorrupt, where(), ": method ", method,
         " disagrees with the central directory's ", entry.method);
  }
  if (room - kLocalHeaderSize < name_size || room - kLocalHeaderSize - name_size < extra_size) {
    fail(ErrorCode::kCorrupt, where(), ": its ", name_size, "-byte name and ", extra_size,
         "-byte extra field run past the central directory at offset ", directory_offset);
  }
  needed = kLocalHeaderSize + name_size + extra_size;
  if (bytes.size() < needed) return 0;
  const std::string_view local_name(reinterpret_cast<const char*>(h + kLocalHeaderSize), name_size);
  if (local_name != entry.name) {
    fail(ErrorCode::kCorrupt, where(), ": the local header names '", printable(local_name),
         "' but the central directory names '", printable(entry.name), "'");
  }
  walk_extra(h + kLocalHeaderSize + name_size, extra_size, offset + kLocalHeaderSize + name_size,
             where, [](std::uint16_t, const std::byte*, std::size_t) {});

  // With a data descriptor the local fields may be 0; otherwise (and whenever they are
  // not 0) they repeat the central directory's, or hold the zip64 marker.
  const bool deferred = flags & kFlagDataDescriptor;
  const auto agrees = [&](std::uint64_t local, std::uint64_t central, bool sized) {
    return (deferred && local == 0) || local == central ||
           (sized && local == kMarker32 && central >= kMarker32);
  };
  if (!agrees(crc, entry.crc32, false) || !agrees(compressed, entry.compressed_size, true) ||
      !agrees(size, entry.size, true)) {
    fail(ErrorCode::kCorrupt, where(), ": CRC ", hex(crc), ", compressed size ", compressed,
         " and size ", size, " disagree with the central directory's ", hex(entry.crc32), ", ",
         entry.compressed_size, " and ", entry.size);
  }

  const std::uint64_t data_offset = offset + kLocalHeaderSize + name_size + extra_size;
  if (entry.compressed_size > directory_offset - data_offset) {
    fail(ErrorCode::kCorrupt, where(), ": its data [", data_offset, ", +", entry.compressed_size,
         ") runs past the start of the central directory at offset ", directory_offset);
  }
  return data_offset;
}

std::size_t descriptor_bytes_wanted(const Entry& entry, std::uint64_t data_offset,
                                    std::uint64_t directory_offset) {
  if (!(entry.flags & kFlagDataDescriptor)) return 0;
  const std::uint64_t at = data_offset + entry.compressed_size;
  return static_cast<std::size_t>(std::min<std::uint64_t>(directory_offset - at, kDataDescriptorSize64));
}

void check_data_descriptor(const Entry& entry, std::uint64_t data_offset,
                           std::span<const std::byte> bytes, const std::string& src) {
  if (!(entry.flags & kFlagDataDescriptor)) return;
  if (!descriptor_matches(bytes.data(), bytes.size(), entry)) {
    fail(ErrorCode::kCorrupt, local_header_where(entry, src), ": the data descriptor at offset ",
         data_offset + entry.compressed_size, " does not repeat the central directory's CRC ",
         hex(entry.crc32), ", compressed size ", entry.compressed_size, " and size ", entry.size);
  }
}

void read_local_header(const io::ByteSource& source, Entry& entry, std::uint64_t directory_offset,
                       const std::string& src) {
  const std::uint64_t room = directory_offset - entry.local_header_offset;
  // The header, the name the central directory promises and a typical extra field, at once.
  std::byte stack[512];
  std::vector<std::byte> heap;
  std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(room, local_header_guess(entry)));
  std::span<std::byte> bytes(stack, std::min(want, sizeof stack));
  if (want > sizeof stack) {
    heap.resize(want);
    bytes = heap;
  }
  source.read_at(entry.local_header_offset, bytes);
  std::size_t needed = 0;
  std::uint64_t data_offset = check_local_header(entry, bytes, directory_offset, src, needed);
  if (data_offset == 0) {
    heap.resize(needed);
    source.read_at(entry.local_header_offset, heap);
    data_offset = check_local_header(entry, heap, directory_offset, src, needed);
  }
  entry.data_offset = data_offset;
  if (entry.flags & kFlagDataDescriptor) {
    const std::size_t n = descriptor_bytes_wanted(entry, data_offset, directory_offset);
    std::byte descriptor[kDataDescriptorSize64];
    source.read_at(data_offset + entry.compressed_size, std::span<std::byte>(descriptor, n));
    check_data_descriptor(entry, data_offset, std::span<const std::byte>(descriptor, n), src);
  }
}

void sort_in_file_order(const std::vector<Entry>& entries, std::vector<std::size_t>& order) {
  const auto before = [&](std::size_t a, std::size_t b) {
    return entries[a].local_header_offset < entries[b].local_header_offset;
  };
  // Writers list their records in file order: checking that costs a fraction of sorting.
  if (!std::is_sorted(order.begin(), order.end(), before)) {
    std::sort(order.begin(), order.end(), before);
  }
}

void check_records_apart(const std::vector<Entry>& entries, std::uint64_t directory_offset,
                         const std::string& src) {
  std::vector<std::size_t> order(entries.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  sort_in_file_order(entries, order);
  for (std::size_t k = 0; k < order.size(); ++k) {
    const Entry& entry = entries[order[k]];
    const Entry* next = k + 1 < order.size() ? &entries[order[k + 1]] : nullptr;
    const std::uint64_t limit = next ? next->local_header_offset : directory_offset;
    // The offset is inside the file (read_central_entry): only the size can wrap.
    std::uint64_t end = 0;
    if (!__builtin_add_overflow(entry.local_header_offset + kLocalHeaderSize + entry.name.size(),
                                entry.compressed_size, &end) &&
        end <= limit) {
      continue;
    }
    const std::string what = "zip entry '" + printable(entry.name) + "' in " + src +
                             " (local header at offset " +
                             std::to_string(entry.local_header_offset) + ", " +
                             std::to_string(entry.compressed_size) + " bytes of data)";
    if (next) {
      fail(ErrorCode::kCorrupt, what, " overlaps zip entry '", printable(next->name),
           "', whose local header starts at offset ", limit);
    }
    fail(ErrorCode::kCorrupt, what, " runs past the start of the central directory at offset ",
         limit);
  }
}

std::vector<Entry> read_directory(const io::ByteSource& source, const DirectoryLocation& dir,
                                  bool local_headers) {
  const std::string src = source.describe();
  std::vector<Entry> entries;
  entries.reserve(static_cast<std::size_t>(dir.entry_count));
  RegionCursor cursor(source, dir.offset, dir.offset + dir.size);
  for (std::uint64_t i = 0; i < dir.entry_count; ++i) {
    entries.push_back(read_central_entry(cursor, i, dir, src));
  }
  if (cursor.remaining() != 0) {
    fail(ErrorCode::kCorrupt, src, ": the central directory holds ", cursor.remaining(),
         " bytes after its ", dir.entry_count, " entries, at offset ", cursor.position());
  }
  if (local_headers) {
    for (Entry& entry : entries) read_local_header(source, entry, dir.offset, src);
  }
  return entries;
}

}  // namespace mnemo::zip
