// Byte buffers and files for tests of readers and writers: a reproducible pseudo-random
// pattern (so that a misplaced byte shows), and writing and reading whole files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace mnemo::testing {

// `n` pseudo-random bytes, the same for the same seed.
inline std::vector<std::byte> pattern(std::size_t n, unsigned seed = 7) {
  std::vector<std::byte> bytes(n);
  std::uint32_t x = seed;
  for (std::byte& b : bytes) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<std::byte>(x >> 24);
  }
  return bytes;
}

inline void write_file(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// The whole file, in one read (a character at a time is slow under sanitizers); empty
// when it cannot be read.
template <class Buffer = std::vector<std::byte>>
Buffer read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  Buffer out(static_cast<std::size_t>(in.tellg()), {});
  in.seekg(0);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
  return out;
}

// The whole file as a string of its bytes.
inline std::string read_text(const std::filesystem::path& path) {
  return read_file<std::string>(path);
}

}  // namespace mnemo::testing
