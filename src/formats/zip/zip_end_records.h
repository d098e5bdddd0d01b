// The end of a zip archive: the classic end-of-central-directory record (found by
// searching the last 22 + 65535 bytes, for it may be followed by a comment) and, when a
// zip64 locator precedes it, the zip64 end record. Together they say where the central
// directory is and how many entries it holds.
#pragma once

#include <cstdint>

#include "mnemo/io/byte_source.h"

namespace mnemo::zip {

struct DirectoryLocation {
  std::uint64_t entry_count = 0;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

// Reads and checks the end records: the classic record must end the file exactly (its
// comment length reaching the last byte), a zip64 record must sit right before its
// locator, the classic values must repeat the zip64 ones (or hold the 0xFFFF/0xFFFFFFFF
// markers), the archive must be on one disk, and the central directory must end where
// the end records begin. The entry count is checked against limits::kMaxZipEntries
// (kLimit) and against the directory's size (at least 46 bytes an entry). Anything else
// that does not add up is kCorrupt naming the source and offset.
DirectoryLocation read_end_records(const io::ByteSource& source);

}  // namespace mnemo::zip
