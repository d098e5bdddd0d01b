// SHA-256 (FIPS 180-4), for content hashes of tensors: equal values give equal hashes
// whatever the tensor's strides or storage.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "mnemo/core/tensor.h"

namespace mnemo {

class Sha256 {
 public:
  Sha256();
  void update(std::span<const std::byte> bytes);
  // The digest; the object must not be updated afterwards.
  std::array<std::uint8_t, 32> finish();
  // finish() as 64 lowercase hex digits.
  std::string hex_digest();

 private:
  void compress(const std::uint8_t* block);

  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t total_bytes_ = 0;
};

// SHA-256 of the tensor's elements in row-major order, little-endian (bool as one byte
// 0 or 1, complex as real/imaginary pairs), as 64 hex digits.
std::string tensor_sha256(const Tensor& tensor);

}  // namespace mnemo
