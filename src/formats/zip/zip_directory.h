// The central directory of a zip archive and the local header of each entry it lists.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "formats/zip/zip_end_records.h"
#include "formats/zip/zip_reader.h"
#include "mnemo/io/byte_source.h"

namespace mnemo::zip {

// Reads the `location.entry_count` central directory headers (which must fill the
// directory exactly), resolving zip64 extra fields, then (with `local_headers`) each
// entry's local header to set data_offset. Checks, before any value is used: signatures;
// method (stored or deflate, else kUnsupported) and encryption (kUnsupported); stored
// sizes that agree; deflated sizes that deflate could produce; every local header and its
// data inside the region before the central directory; extra fields whose blocks tile
// them exactly; the local header agreeing with the central one (name, method, descriptor
// flag, CRC and sizes unless deferred); and any data descriptor repeating the central CRC
// and sizes. Without `local_headers`, data_offset stays 0 and the local checks are left
// to read_local_header or check_local_header.
std::vector<Entry> read_directory(const io::ByteSource& source, const DirectoryLocation& location,
                                  bool local_headers = true);

// Sorts `order`, indices into `entries`, by where each entry's local header starts.
void sort_in_file_order(const std::vector<Entry>& entries, std::vector<std::size_t>& order);

// Records may not share bytes: each one's local header, name and data end before the
// next one's local header, and the last one's before the central directory (offset
// `directory_offset`). Records that overlap let a small file claim its bytes many times
// over (a zip bomb without nesting), and a load allocate for each claim; this is checked
// before any record is read.
void check_records_apart(const std::vector<Entry>& entries, std::uint64_t directory_offset,
                         const std::string& src);

// The local checks for one entry: reads its local header (and data descriptor), checks
// them as read_directory does, and sets data_offset. `src` names the source in messages.
void read_local_header(const io::ByteSource& source, Entry& entry, std::uint64_t directory_offset,
                       const std::string& src);

// The same checks on bytes already read. `bytes` holds the source's bytes from the
// entry's local header on. Returns the offset of the entry's data, or 0 when `bytes` is
// too short to tell: `needed` then says how many bytes from the header on it takes.
std::uint64_t check_local_header(const Entry& entry, std::span<const std::byte> bytes,
                                  std::uint64_t directory_offset, const std::string& src,
                                  std::size_t& needed);
// How many bytes past its data the entry's data descriptor check reads (0 when the entry
// has none), and the check itself on those bytes.
std::size_t descriptor_bytes_wanted(const Entry& entry, std::uint64_t data_offset,
                                    std::uint64_t directory_offset);
void check_data_descriptor(const Entry& entry, std::uint64_t data_offset,
                           std::span<const std::byte> bytes, const std::string& src);
// The bytes a first read of a local header takes: the fixed part, the name and room for
// a typical extra field.
std::size_t local_header_guess(const Entry& entry);

}  // namespace mnemo::zip
