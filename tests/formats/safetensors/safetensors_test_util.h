// Building safetensors files by hand, byte by byte, from the format's definition.
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "mnemo/core/error.h"
#include "support/errors.h"

namespace mnemo::testing {

using FileBytes = std::vector<std::byte>;

inline void append(FileBytes& out, const void* data, std::size_t n) {
  const std::size_t at = out.size();
  out.resize(at + n);
  if (n > 0) std::memcpy(out.data() + at, data, n);
}

// The little-endian bytes of each value (the test machine is little-endian).
template <class T>
FileBytes le_bytes(std::initializer_list<T> values) {
  FileBytes out;
  append(out, values.begin(), values.size() * sizeof(T));
  return out;
}

// A safetensors file: the 8-byte length of `header` (or `length` when given), the header
// text as written, then `data`.
inline FileBytes st_file(std::string_view header, const FileBytes& data = {},
                         std::optional<std::uint64_t> length = std::nullopt) {
  FileBytes out;
  const std::uint64_t n = length.value_or(header.size());
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((n >> (8 * i)) & 0xff));
  append(out, header.data(), header.size());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

inline std::string text_of(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace mnemo::testing
