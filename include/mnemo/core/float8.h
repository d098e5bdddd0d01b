// 8-bit floating-point element types, with PyTorch's names and semantics (OCP FP8):
//
//   Float8E4M3FN  torch.float8_e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa bits. No
//                 infinities: the largest finite value is 448 (0x7E), and 0x7F / 0xFF are
//                 the only NaNs ("FN": finite and NaN).
//   Float8E5M2    torch.float8_e5m2: 1 sign, 5 exponent (bias 15), 2 mantissa bits, the
//                 upper byte of an IEEE binary16: infinities 0x7C / 0xFC, NaNs above them,
//                 largest finite value 57344.
//
// Conversions from float round to nearest, ties to even, as PyTorch's c10 conversions do,
// including their handling of values too large for the type: float8_e4m3fn has no
// infinity, so whatever rounds past 448 (from 464 exclusive, infinities included) becomes
// NaN, not 448 (PyTorch does not saturate); float8_e5m2 rounds such values to infinity.
// A NaN keeps its sign. Conversions to float are exact; a NaN's mantissa bits are kept.
#pragma once

#include <cstdint>

namespace mnemo {

namespace detail {
std::uint8_t float_to_float8_e4m3fn_bits(float value);
float float8_e4m3fn_bits_to_float(std::uint8_t bits);
std::uint8_t float_to_float8_e5m2_bits(float value);
float float8_e5m2_bits_to_float(std::uint8_t bits);
}  // namespace detail

struct Float8E4M3FN {
  std::uint8_t bits = 0;

  Float8E4M3FN() = default;
  explicit Float8E4M3FN(float value) : bits(detail::float_to_float8_e4m3fn_bits(value)) {}
  static constexpr Float8E4M3FN from_bits(std::uint8_t b) {
    Float8E4M3FN f;
    f.bits = b;
    return f;
  }
  operator float() const { return detail::float8_e4m3fn_bits_to_float(bits); }
};

struct Float8E5M2 {
  std::uint8_t bits = 0;

  Float8E5M2() = default;
  explicit Float8E5M2(float value) : bits(detail::float_to_float8_e5m2_bits(value)) {}
  static constexpr Float8E5M2 from_bits(std::uint8_t b) {
    Float8E5M2 f;
    f.bits = b;
    return f;
  }
  operator float() const { return detail::float8_e5m2_bits_to_float(bits); }
};

static_assert(sizeof(Float8E4M3FN) == 1 && sizeof(Float8E5M2) == 1);

}  // namespace mnemo
