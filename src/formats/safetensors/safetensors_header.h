// Parsing and validating a safetensors header (reference §9, §12): the 8-byte
// little-endian length N, then N bytes of UTF-8 JSON mapping each tensor's name to
// {"dtype", "shape", "data_offsets": [begin, end]}, with an optional "__metadata__"
// string -> string map; then the data section, which the tensors must cover exactly.
//
// Rules, each refused with a message naming the tensor and what was expected:
//  - N <= 100,000,000 (kMaxSafetensorsHeaderBytes, as the reference) and 8 + N within
//    the file;
//  - the header is UTF-8 and one JSON object (leading and trailing whitespace allowed,
//    as the reference reader allows the padding writers add), with no duplicate names;
//  - each tensor: a known dtype, a shape of non-negative integers (at most kMaxTensorRank
//    of them) whose product times the element size does not overflow and equals
//    end - begin, and whose contiguous strides fit in int64 (a shape with a 0 in it has
//    no elements, whatever its other sizes), and data_offsets of two integers with
//    begin <= end. Other keys in a tensor's object are ignored, as the reference does,
//    but must be valid JSON;
//  - "__metadata__": an object of strings (or null);
//  - sorted by data_offsets, the tensors start at 0 and follow each other with no gap
//    and no overlap, and the last one ends exactly at the end of the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "mnemo/io/byte_source.h"
#include "mnemo/serialize.h"

namespace mnemo::safetensors {

// The wire constants: the header length's size, and the header key reserved for the
// string -> string metadata.
inline constexpr std::size_t kLengthBytes = 8;
inline constexpr std::string_view kMetadataKey = "__metadata__";

// True when `head` (a file's first bytes; `file_size` in all) starts like a safetensors
// file: a header length that is plausible for the file, then '{' after optional JSON
// whitespace. Damaged lengths are left for the reader to report in detail.
bool looks_like_safetensors(std::span<const std::byte> head, std::uint64_t file_size);

// True when `text` is valid UTF-8, as the JSON header must be.
bool is_valid_utf8(std::string_view text);

// Reads the header from `source` (its first 8 + N bytes, once) and validates it against
// the source's size.
SafetensorsInfo read_info(const io::ByteSource& source);

}  // namespace mnemo::safetensors
