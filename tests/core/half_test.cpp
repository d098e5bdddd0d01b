// Float16 and bfloat16 encodings, checked against reference encoders written here in the
// most direct way: decode every 16-bit pattern by its definition, then round a float to
// the nearest representable value by comparing distances.
#include "mnemo/core/half.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace mnemo {
namespace {

std::uint16_t to_half(float f) { return Half(f).bits; }
std::uint16_t to_bf16(float f) { return BFloat16(f).bits; }
float from_half(std::uint16_t b) { return static_cast<float>(Half::from_bits(b)); }
float from_bf16(std::uint16_t b) { return static_cast<float>(BFloat16::from_bits(b)); }
float float_of(std::uint32_t bits) { return std::bit_cast<float>(bits); }
std::uint32_t bits_of(float f) { return std::bit_cast<std::uint32_t>(f); }

// The magnitude of a binary16 pattern without its sign, from the IEEE definition; the
// pattern 0x7C00 stands for 2^16, the first value past the largest finite one, so that
// rounding can compare against it.
double half_magnitude(std::uint16_t bits) {
  const int exponent = (bits >> 10) & 0x1f;
  const int mantissa = bits & 0x3ff;
  if (exponent == 0) return std::ldexp(mantissa, -24);
  return std::ldexp(1024 + mantissa, exponent - 25);
}

// Round to nearest, ties to even, by searching the ordered magnitudes.
std::uint16_t reference_half(float f) {
  const std::uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (std::isnan(f)) return sign | 0x7e00;
  const double a = std::fabs(static_cast<double>(f));
  std::uint16_t lo = 0, hi = 0x7c00;  // half_magnitude(lo) <= a < half_magnitude(hi)
  if (a >= half_magnitude(hi)) return sign | 0x7c00;
  while (hi - lo > 1) {
    const std::uint16_t mid = static_cast<std::uint16_t>((lo + hi) / 2);
    (half_magnitude(mid) <= a ? lo : hi) = mid;
  }
  const double below = a - half_magnitude(lo), above = half_magnitude(hi) - a;
  const std::uint16_t chosen = below < above ? lo : above < below ? hi : (lo % 2 == 0 ? lo : hi);
  return sign | chosen;
}

double bf16_magnitude(std::uint16_t bits) {
  if (bits == 0x7f80) return std::ldexp(1.0, 128);  // one past the largest finite value
  return std::fabs(static_cast<double>(float_of(static_cast<std::uint32_t>(bits) << 16)));
}

std::uint16_t reference_bf16(float f) {
  if (std::isnan(f)) return 0x7fc0;
  const std::uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (std::isinf(f)) return sign | 0x7f80;
  const double a = std::fabs(static_cast<double>(f));
  const std::uint16_t lo = static_cast<std::uint16_t>((bits_of(f) & 0x7fffffffu) >> 16);
  const std::uint16_t hi = static_cast<std::uint16_t>(lo + 1);
  const double below = a - bf16_magnitude(lo), above = bf16_magnitude(hi) - a;
  const std::uint16_t chosen = below < above ? lo : above < below ? hi : (lo % 2 == 0 ? lo : hi);
  return sign | chosen;
}

// --- float16 -----------------------------------------------------------------------------

TEST(HalfTest, DecodesEveryPatternByDefinition) {
  for (std::uint32_t b = 0; b <= 0xffff; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    const float f = from_half(bits);
    const int exponent = (bits >> 10) & 0x1f;
    if (exponent == 0x1f) {
      if (bits & 0x3ff) {
        EXPECT_TRUE(std::isnan(f)) << std::hex << b;
      } else {
        EXPECT_TRUE(std::isinf(f)) << std::hex << b;
      }
    } else {
      EXPECT_EQ(static_cast<double>(std::fabs(f)), half_magnitude(bits & 0x7fff)) << std::hex << b;
    }
    EXPECT_EQ(std::signbit(f), (bits & 0x8000) != 0) << std::hex << b;
  }
}

TEST(HalfTest, EveryNonNanPatternRoundTrips) {
  for (std::uint32_t b = 0; b <= 0xffff; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    if ((bits & 0x7c00) == 0x7c00 && (bits & 0x3ff)) continue;  // NaN
    ASSERT_EQ(to_half(from_half(bits)), bits) << std::hex << b;
  }
}

TEST(HalfTest, MatchesTheReferenceOnManyFloats) {
  std::mt19937 rng(12345);
  std::vector<std::uint32_t> patterns;
  for (int i = 0; i < 1'000'000; ++i) patterns.push_back(rng());
  // Every float in the half range at a coarse grid, and the halfway points exactly.
  for (std::uint32_t b = 0x33000000u - 64; b < 0x47800000u + 64; b += 997) patterns.push_back(b);
  for (std::uint32_t h = 0; h < 0x7c00; ++h) {
    const double mid = (half_magnitude(static_cast<std::uint16_t>(h)) +
                        half_magnitude(static_cast<std::uint16_t>(h + 1))) /
                       2;
    const float f = static_cast<float>(mid);  // exact: halfway points have <= 12 bits
    ASSERT_EQ(static_cast<double>(f), mid);
    for (std::uint32_t delta : {0u, 1u, 0xffffffffu}) patterns.push_back(bits_of(f) + delta);
  }
  for (std::uint32_t p : patterns) {
    for (std::uint32_t sign : {0u, 0x80000000u}) {
      const float f = float_of(p ^ sign);
      ASSERT_EQ(to_half(f), reference_half(f)) << "float bits 0x" << std::hex << (p ^ sign);
    }
  }
}

TEST(HalfTest, TiesRoundToEven) {
  EXPECT_EQ(to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // halfway, 1.0 is even
  EXPECT_EQ(to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // halfway, up to even
  EXPECT_EQ(from_half(0x3c02), 1.0f + std::ldexp(1.0f, -9));
  EXPECT_EQ(to_half(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);  // past half
  EXPECT_EQ(to_half(-(1.0f + std::ldexp(1.0f, -11))), 0xbc00);
  EXPECT_EQ(to_half(2049.0f), 0x6800);  // 2048: spacing is 2 there, 2049 is a tie
  EXPECT_EQ(to_half(2051.0f), 0x6802);  // 2052
}

TEST(HalfTest, LargestFiniteAndOverflow) {
  EXPECT_EQ(to_half(65504.0f), 0x7bff);
  EXPECT_EQ(from_half(0x7bff), 65504.0f);
  EXPECT_EQ(to_half(65519.99f), 0x7bff);  // just below the halfway point to 2^16
  EXPECT_EQ(to_half(std::nextafter(65520.0f, 0.0f)), 0x7bff);
  EXPECT_EQ(to_half(65520.0f), 0x7c00);  // halfway: rounds to "even" infinity
  EXPECT_EQ(to_half(-65520.0f), 0xfc00);
  EXPECT_EQ(to_half(65536.0f), 0x7c00);
  EXPECT_EQ(to_half(1e30f), 0x7c00);
  EXPECT_EQ(to_half(std::numeric_limits<float>::max()), 0x7c00);
}

TEST(HalfTest, Subnormals) {
  const float tiny = std::ldexp(1.0f, -24);  // smallest subnormal half
  EXPECT_EQ(to_half(tiny), 0x0001);
  EXPECT_EQ(from_half(0x0001), tiny);
  EXPECT_EQ(to_half(std::ldexp(1.0f, -25)), 0x0000);   // a tie with zero: even
  EXPECT_EQ(to_half(-std::ldexp(1.0f, -25)), 0x8000);  // keeps the sign
  EXPECT_EQ(to_half(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(to_half(1.5f * std::ldexp(1.0f, -25)), 0x0001);
  EXPECT_EQ(to_half(std::ldexp(1.0f, -26)), 0x0000);
  EXPECT_EQ(to_half(3 * std::ldexp(1.0f, -25)), 0x0002);  // 1.5 units: tie up to 2
  EXPECT_EQ(to_half(5 * std::ldexp(1.0f, -25)), 0x0002);  // 2.5 units: tie down to 2
  EXPECT_EQ(to_half(1023 * tiny), 0x03ff);                // largest subnormal
  EXPECT_EQ(to_half(1023.5f * tiny), 0x0400);             // tie into the normals
  EXPECT_EQ(to_half(std::ldexp(1.0f, -14)), 0x0400);      // smallest normal
  EXPECT_EQ(from_half(0x03ff), 1023 * tiny);
  EXPECT_EQ(to_half(std::numeric_limits<float>::denorm_min()), 0x0000);
}

TEST(HalfTest, ZerosInfinitiesAndNans) {
  EXPECT_EQ(to_half(0.0f), 0x0000);
  EXPECT_EQ(to_half(-0.0f), 0x8000);
  EXPECT_TRUE(std::signbit(from_half(0x8000)));
  EXPECT_EQ(from_half(0x8000), 0.0f);
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(to_half(inf), 0x7c00);
  EXPECT_EQ(to_half(-inf), 0xfc00);
  EXPECT_EQ(from_half(0x7c00), inf);
  EXPECT_EQ(from_half(0xfc00), -inf);
  EXPECT_EQ(to_half(std::numeric_limits<float>::quiet_NaN()), 0x7e00);
  EXPECT_EQ(to_half(-std::numeric_limits<float>::quiet_NaN()), 0xfe00);  // sign kept
  EXPECT_EQ(to_half(float_of(0x7f800001u)), 0x7e00);                     // signalling, quietened
  EXPECT_EQ(to_half(float_of(0xffbfffffu)), 0xfe00);
  EXPECT_TRUE(std::isnan(from_half(0x7c01)));
  EXPECT_TRUE(std::isnan(from_half(0xfe00)));
  EXPECT_TRUE(std::signbit(from_half(0xfe00)));
}

// --- bfloat16 ---------------------------------------------------------------------------------

TEST(BFloat16Test, DecodesAsTheTopHalfOfAFloat) {
  for (std::uint32_t b = 0; b <= 0xffff; ++b) {
    const float f = from_bf16(static_cast<std::uint16_t>(b));
    ASSERT_EQ(bits_of(f), b << 16);
  }
}

TEST(BFloat16Test, EveryNonNanPatternRoundTrips) {
  for (std::uint32_t b = 0; b <= 0xffff; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    if ((bits & 0x7f80) == 0x7f80 && (bits & 0x7f)) continue;  // NaN
    ASSERT_EQ(to_bf16(from_bf16(bits)), bits) << std::hex << b;
  }
}

TEST(BFloat16Test, MatchesTheReferenceOnManyFloats) {
  std::mt19937 rng(54321);
  for (int i = 0; i < 1'000'000; ++i) {
    const std::uint32_t p = rng();
    for (std::uint32_t q : {p, (p & 0xffff0000u) | 0x8000u, (p & 0xffff0000u) | 0x7fffu}) {
      const float f = float_of(q);
      ASSERT_EQ(to_bf16(f), reference_bf16(f)) << "float bits 0x" << std::hex << q;
    }
  }
}

TEST(BFloat16Test, TiesRoundToEven) {
  EXPECT_EQ(to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);      // tie, 1.0 is even
  EXPECT_EQ(to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);  // tie, up to even
  EXPECT_EQ(to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3f81);
  EXPECT_EQ(to_bf16(float_of(0x00008000u)), 0x0000);  // subnormal tie down
  EXPECT_EQ(to_bf16(float_of(0x00018000u)), 0x0002);  // subnormal tie up
  EXPECT_EQ(to_bf16(float_of(0x00010000u)), 0x0001);  // subnormals are kept
}

TEST(BFloat16Test, OverflowZerosInfinitiesAndNans) {
  EXPECT_EQ(to_bf16(float_of(0x7f7f0000u)), 0x7f7f);  // largest finite
  EXPECT_EQ(to_bf16(float_of(0x7f7f7fffu)), 0x7f7f);
  EXPECT_EQ(to_bf16(float_of(0x7f7f8000u)), 0x7f80);  // tie with "2^128": infinity
  EXPECT_EQ(to_bf16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(to_bf16(-std::numeric_limits<float>::max()), 0xff80);
  EXPECT_EQ(to_bf16(0.0f), 0x0000);
  EXPECT_EQ(to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  // Every NaN becomes the canonical quiet NaN 0x7FC0, sign dropped (c10::BFloat16's rule).
  EXPECT_EQ(to_bf16(std::numeric_limits<float>::quiet_NaN()), 0x7fc0);
  EXPECT_EQ(to_bf16(-std::numeric_limits<float>::quiet_NaN()), 0x7fc0);
  EXPECT_EQ(to_bf16(float_of(0x7f800001u)), 0x7fc0);  // would truncate to infinity
  EXPECT_EQ(to_bf16(float_of(0xffffffffu)), 0x7fc0);  // would carry into the sign
  EXPECT_TRUE(std::isnan(from_bf16(0x7f81)));
}

TEST(HalfTypesTest, ConstructAndConvertImplicitly) {
  const Half h(2.5f);
  const float back = h;
  EXPECT_EQ(back, 2.5f);
  const BFloat16 b(-3.0f);
  EXPECT_EQ(static_cast<float>(b), -3.0f);
  EXPECT_EQ(Half().bits, 0);
  EXPECT_EQ(BFloat16().bits, 0);
  static_assert(Half::from_bits(0x3c00).bits == 0x3c00);
  static_assert(BFloat16::from_bits(0x3f80).bits == 0x3f80);
}

}  // namespace
}  // namespace mnemo
