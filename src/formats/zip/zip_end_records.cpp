#include "formats/zip/zip_end_records.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "formats/zip/zip_format.h"
#include "mnemo/core/error.h"
#include "mnemo/limits.h"

namespace mnemo::zip {

using namespace format;

DirectoryLocation read_end_records(const io::ByteSource& source) {
  const std::string src = source.describe();
  const std::uint64_t size = source.size();
  if (size < kEndSize) {
    fail(ErrorCode::kCorrupt, src, " is not a zip archive: it has ", size,
         " bytes, fewer than the ", kEndSize, "-byte end-of-central-directory record");
  }
  const std::uint64_t tail_size = std::min<std::uint64_t>(size, kEndSize + kMaxCommentSize);
  const std::uint64_t tail_start = size - tail_size;
  std::vector<std::byte> tail(static_cast<std::size_t>(tail_size));
  source.read_at(tail_start, tail);

  // The record is the last signature whose comment length reaches exactly to the end of
  // the file; a comment may itself contain the signature's bytes.
  std::optional<std::size_t> found;
  std::optional<std::size_t> mismatched;
  for (std::size_t at = tail.size() - kEndSize + 1; at-- > 0;) {
    if (load_le32(tail.data() + at) != kEndSignature) continue;
    const std::size_t comment = load_le16(tail.data() + at + 20);
    if (at + kEndSize + comment == tail.size()) {
      found = at;
      break;
    }
    if (!mismatched) mismatched = at;
  }
  if (!found) {
    if (mismatched) {
      const std::size_t at = *mismatched;
      fail(ErrorCode::kCorrupt, src, ": the end-of-central-directory record at offset ",
           tail_start + at, " declares a ", load_le16(tail.data() + at + 20), "-byte comment but ",
           tail.size() - at - kEndSize,
           " bytes follow it (the file is truncated or has data appended)");
    }
    fail(ErrorCode::kCorrupt, src,
         " is not a zip archive: no end-of-central-directory record (signature ",
         hex(kEndSignature), ") in its last ", tail_size, " bytes");
  }
  const std::byte* end = tail.data() + *found;
  const std::uint64_t end_offset = tail_start + *found;
  const std::uint16_t disk = load_le16(end + 4);
  const std::uint16_t directory_disk = load_le16(end + 6);
  const std::uint16_t disk_entries = load_le16(end + 8);
  const std::uint16_t entries = load_le16(end + 10);
  const std::uint32_t directory_size = load_le32(end + 12);
  const std::uint32_t directory_offset = load_le32(end + 16);
  const std::string where =
      src + ": end-of-central-directory record at offset " + std::to_string(end_offset);

  DirectoryLocation dir;
  std::uint64_t records_start = end_offset;  // where the central directory must end
  std::byte locator[kZip64LocatorSize];
  bool has_locator = false;
  if (end_offset >= kZip64LocatorSize) {
    source.read_at(end_offset - kZip64LocatorSize, locator);
    has_locator = load_le32(locator) == kZip64LocatorSignature;
  }
  if (has_locator) {
    const std::uint64_t locator_offset = end_offset - kZip64LocatorSize;
    const std::uint32_t record_disk = load_le32(locator + 4);
    const std::uint64_t record_offset = load_le64(locator + 8);
    const std::uint32_t disks = load_le32(locator + 16);
    if (record_disk != 0 || disks > 1) {
      fail(ErrorCode::kUnsupported, src, ": the zip64 locator at offset ", locator_offset,
           " describes a multi-disk archive (", disks, " disks, end record on disk ", record_disk,
           "); mnemo reads single-file archives only");
    }
    if (record_offset > locator_offset || locator_offset - record_offset < kZip64EndSize) {
      fail(ErrorCode::kCorrupt, src, ": the zip64 locator at offset ", locator_offset,
           " points to a zip64 end record at offset ", record_offset, ", which needs ",
           kZip64EndSize, " bytes before the locator");
    }
    std::byte record[kZip64EndSize];
    source.read_at(record_offset, record);
    const std::string record_where =
        src + ": zip64 end-of-central-directory record at offset " + std::to_string(record_offset);
    if (load_le32(record) != kZip64EndSignature) {
      fail(ErrorCode::kCorrupt, record_where, ": signature is ", hex(load_le32(record)),
           ", expected ", hex(kZip64EndSignature));
    }
    const std::uint64_t record_size = load_le64(record + 4);
    if (record_size != locator_offset - record_offset - 12) {
      fail(ErrorCode::kCorrupt, record_where, ": declares ", record_size,
           " bytes after its size field, but the locator follows after ",
           locator_offset - record_offset - 12);
    }
    check_version_needed(load_le16(record + 14), record_where);
    const std::uint32_t disk64 = load_le32(record + 16);
    const std::uint32_t directory_disk64 = load_le32(record + 20);
    const std::uint64_t disk_entries64 = load_le64(record + 24);
    dir.entry_count = load_le64(record + 32);
    dir.size = load_le64(record + 40);
    dir.offset = load_le64(record + 48);
    if (disk64 != 0 || directory_disk64 != 0 || disk_entries64 != dir.entry_count) {
      fail(ErrorCode::kUnsupported, record_where, ": describes a multi-disk archive (disk ", disk64,
           ", directory on disk ", directory_disk64, ", ", disk_entries64, " of ", dir.entry_count,
           " entries on this disk); mnemo reads single-file archives only");
    }
    // The classic record repeats each value, or holds the marker when it does not fit.
    const auto agrees = [](std::uint64_t classic, std::uint64_t zip64, std::uint64_t marker) {
      return classic == marker || classic == zip64;
    };
    if ((disk != 0 && disk != kMarker16) || (directory_disk != 0 && directory_disk != kMarker16) ||
        !agrees(disk_entries, dir.entry_count, kMarker16) ||
        !agrees(entries, dir.entry_count, kMarker16) ||
        !agrees(directory_size, dir.size, kMarker32) ||
        !agrees(directory_offset, dir.offset, kMarker32)) {
      fail(ErrorCode::kCorrupt, where, " disagrees with the zip64 record: classic says disk ", disk,
           "/", directory_disk, ", ", disk_entries, "/", entries, " entries, directory of ",
           directory_size, " bytes at ", directory_offset, "; zip64 says ", dir.entry_count,
           " entries, directory of ", dir.size, " bytes at ", dir.offset);
    }
    records_start = record_offset;
  } else {
    if (directory_size == kMarker32 || directory_offset == kMarker32) {
      fail(ErrorCode::kCorrupt, where, " marks a zip64 archive (directory size ",
           hex(directory_size), ", offset ", hex(directory_offset),
           ") but no zip64 locator precedes it");
    }
    if (disk != 0 || directory_disk != 0 || disk_entries != entries) {
      fail(ErrorCode::kUnsupported, where, " describes a multi-disk archive (disk ", disk,
           ", directory on disk ", directory_disk, ", ", disk_entries, " of ", entries,
           " entries on this disk); mnemo reads single-file archives only");
    }
    dir.entry_count = entries;
    dir.size = directory_size;
    dir.offset = directory_offset;
  }

  if (dir.offset > records_start || dir.size != records_start - dir.offset) {
    fail(ErrorCode::kCorrupt, where, ": the central directory is said to span ", dir.size,
         " bytes from offset ", dir.offset, ", but the end records begin at offset ",
         records_start);
  }
  if (dir.entry_count > limits::kMaxZipEntries) {
    fail(ErrorCode::kLimit, where, ": ", dir.entry_count,
         " entries exceed limits::kMaxZipEntries (", limits::kMaxZipEntries, ")");
  }
  if (dir.entry_count > dir.size / kCentralHeaderSize) {
    fail(ErrorCode::kCorrupt, where, ": ", dir.entry_count,
         " entries cannot fit in a central directory of ", dir.size, " bytes (each takes at least ",
         kCentralHeaderSize, ")");
  }
  return dir;
}

}  // namespace mnemo::zip
