#include "mnemo/core/float8.h"

#include <bit>
#include <cmath>

#include "mnemo/core/half.h"

namespace mnemo::detail {
namespace {

// The magnitude bits of a finite float, rounded to nearest (ties to even) into a small
// binary format with `mantissa_bits` and exponent `bias`, as an unsigned pattern without
// sign. The pattern may lie past the format's largest finite value; the caller decides
// what that overflow becomes.
std::uint32_t round_magnitude(std::uint32_t abs, int mantissa_bits, int bias) {
  const std::uint32_t float_exponent = abs >> 23;
  if (float_exponent == 0) return 0;  // a float subnormal is far below either format
  const int exponent = static_cast<int>(float_exponent) - 127;
  const std::uint32_t significand = (abs & 0x7fffffu) | 0x800000u;  // 1.m as 24 bits
  const int min_exponent = 1 - bias;

  // Shift the significand right so that its last kept bit counts units in the last place
  // of the result; `base` is the exponent field the kept bits add to.
  int shift = 23 - mantissa_bits;
  std::uint32_t base = 0;
  if (exponent >= min_exponent) {
    // A normal result: the kept bits hold the implicit one, which adds one to the
    // exponent field, hence the -1. A carry out of the mantissa bumps the exponent.
    base = static_cast<std::uint32_t>(exponent + bias - 1) << mantissa_bits;
  } else {
    // A subnormal result, in units of 2^(min_exponent - mantissa_bits).
    shift += min_exponent - exponent;
    if (shift > 24) return 0;  // below half the smallest subnormal
  }
  std::uint32_t kept = significand >> shift;
  const std::uint32_t rest = significand & ((1u << shift) - 1u);
  const std::uint32_t halfway = 1u << (shift - 1);
  if (rest > halfway || (rest == halfway && (kept & 1u))) ++kept;
  return base + kept;
}

constexpr std::uint8_t kE4M3NaN = 0x7f;
constexpr std::uint8_t kE5M2Infinity = 0x7c;
constexpr std::uint8_t kE5M2NaN = 0x7f;

}  // namespace

std::uint8_t float_to_float8_e4m3fn_bits(float value) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(value);
  const auto sign = static_cast<std::uint8_t>((x >> 24) & 0x80u);
  const std::uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return sign | kE4M3NaN;  // no infinity to keep: NaN
  const std::uint32_t rounded = round_magnitude(abs, 3, 7);
  // 0x7F is the NaN pattern, not 480: what rounds there or beyond is NaN.
  if (rounded >= kE4M3NaN) return sign | kE4M3NaN;
  return static_cast<std::uint8_t>(sign | rounded);
}

float float8_e4m3fn_bits_to_float(std::uint8_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x80u) << 24;
  const std::uint32_t exponent = (bits >> 3) & 0xfu;
  const std::uint32_t mantissa = bits & 0x7u;
  if (exponent == 0xfu && mantissa == 0x7u) {
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 20));
  }
  if (exponent == 0) {  // subnormal: mantissa units of 2^-9
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -9);
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent + 127u - 7u) << 23) | (mantissa << 20));
}

std::uint8_t float_to_float8_e5m2_bits(float value) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(value);
  const auto sign = static_cast<std::uint8_t>((x >> 24) & 0x80u);
  const std::uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | kE5M2NaN;
  if (abs == 0x7f800000u) return sign | kE5M2Infinity;
  const std::uint32_t rounded = round_magnitude(abs, 2, 15);
  if (rounded >= kE5M2Infinity) return sign | kE5M2Infinity;
  return static_cast<std::uint8_t>(sign | rounded);
}

float float8_e5m2_bits_to_float(std::uint8_t bits) {
  // float8_e5m2 is the upper byte of a binary16.
  return half_bits_to_float(static_cast<std::uint16_t>(bits << 8));
}

}  // namespace mnemo::detail
