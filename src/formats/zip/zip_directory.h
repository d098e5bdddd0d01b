// The central directory of a zip archive and the local header of each entry it lists.
#pragma once

#include <vector>

#include "formats/zip/zip_end_records.h"
#include "formats/zip/zip_reader.h"
#include "mnemo/io/byte_source.h"

namespace mnemo::zip {

// Reads the `location.entry_count` central directory headers (which must fill the
// directory exactly), resolving zip64 extra fields, then each entry's local header to
// set data_offset. Checks, before any value is used: signatures; method (stored or
// deflate, else kUnsupported) and encryption (kUnsupported); stored sizes that agree;
// deflated sizes that deflate could produce; every local header and its data inside the
// region before the central directory; extra fields whose blocks tile them exactly; the
// local header agreeing with the central one (name, method, descriptor flag, CRC and
// sizes unless deferred); and any data descriptor repeating the central CRC and sizes.
std::vector<Entry> read_directory(const io::ByteSource& source, const DirectoryLocation& location);

}  // namespace mnemo::zip
