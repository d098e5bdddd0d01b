// 16-bit floating-point element types: IEEE binary16 (Half) and bfloat16 (BFloat16).
//
// Conversions from float round to nearest, ties to even, as PyTorch's do. A NaN stays a
// NaN: Half keeps its sign and becomes the quiet NaN 0x7E00 (as PyTorch writes it);
// BFloat16 becomes 0x7FC0, as c10::BFloat16 does (PyTorch's vectorised CPU conversion
// writes 0xFFFF instead: both are NaNs). Conversions from double go through float, as
// PyTorch's do, so that values match bit for bit.
#pragma once

#include <bit>
#include <cstdint>

namespace mnemo {

namespace detail {
std::uint16_t float_to_half_bits(float value);
float half_bits_to_float(std::uint16_t bits);

inline std::uint16_t float_to_bfloat16_bits(float value) {
  std::uint32_t x = std::bit_cast<std::uint32_t>(value);
  if ((x & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;
  std::uint32_t rounding_bias = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>((x + rounding_bias) >> 16);
}
inline float bfloat16_bits_to_float(std::uint16_t bits) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}
}  // namespace detail

struct Half {
  std::uint16_t bits = 0;

  Half() = default;
  explicit Half(float value) : bits(detail::float_to_half_bits(value)) {}
  static constexpr Half from_bits(std::uint16_t b) {
    Half h;
    h.bits = b;
    return h;
  }
  operator float() const { return detail::half_bits_to_float(bits); }
};

struct BFloat16 {
  std::uint16_t bits = 0;

  BFloat16() = default;
  explicit BFloat16(float value) : bits(detail::float_to_bfloat16_bits(value)) {}
  static constexpr BFloat16 from_bits(std::uint16_t b) {
    BFloat16 h;
    h.bits = b;
    return h;
  }
  operator float() const { return detail::bfloat16_bits_to_float(bits); }
};

static_assert(sizeof(Half) == 2 && sizeof(BFloat16) == 2);

}  // namespace mnemo
