// float8_e4m3fn and float8_e5m2 encodings against the OCP FP8 definitions: literal values
// derived by hand from the formats, and reference encoders written here in the most
// direct way (decode every pattern by definition, round by comparing distances).
// PyTorch 1.13 has no float8, so no live oracle exists; the overflow rules are those of
// PyTorch 2.x's c10 conversions (see float8.h).
#include "mnemo/core/float8.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace mnemo {
namespace {

struct Format {
  int mantissa_bits;
  int bias;
  std::uint8_t overflow;  // the pattern a value rounding past the largest finite one gets
  std::uint8_t (*encode)(float);
  float (*decode)(std::uint8_t);
};

std::uint8_t encode_e4m3(float f) { return Float8E4M3FN(f).bits; }
float decode_e4m3(std::uint8_t b) { return static_cast<float>(Float8E4M3FN::from_bits(b)); }
std::uint8_t encode_e5m2(float f) { return Float8E5M2(f).bits; }
float decode_e5m2(std::uint8_t b) { return static_cast<float>(Float8E5M2::from_bits(b)); }

const Format kE4M3{3, 7, 0x7f, encode_e4m3, decode_e4m3};   // overflow is NaN
const Format kE5M2{2, 15, 0x7c, encode_e5m2, decode_e5m2};  // overflow is infinity

// The magnitude of a pattern without its sign, from the definition. The overflow pattern
// stands for the first value past the largest finite one, so rounding can compare to it.
double magnitude(const Format& format, std::uint8_t bits) {
  const int exponent = (bits & 0x7f) >> format.mantissa_bits;
  const int mantissa = bits & ((1 << format.mantissa_bits) - 1);
  if (exponent == 0) return std::ldexp(mantissa, 1 - format.bias - format.mantissa_bits);
  return std::ldexp((1 << format.mantissa_bits) + mantissa,
                    exponent - format.bias - format.mantissa_bits);
}

// Round to nearest, ties to even, by searching the ordered magnitudes.
std::uint8_t reference_encode(const Format& format, float f) {
  const std::uint8_t sign = std::signbit(f) ? 0x80 : 0;
  if (std::isnan(f)) return sign | 0x7f;
  const double a = std::fabs(static_cast<double>(f));
  if (a >= magnitude(format, format.overflow)) return sign | format.overflow;
  std::uint8_t lo = 0;
  while (magnitude(format, static_cast<std::uint8_t>(lo + 1)) <= a) ++lo;
  const auto hi = static_cast<std::uint8_t>(lo + 1);
  const double below = a - magnitude(format, lo), above = magnitude(format, hi) - a;
  const std::uint8_t pick = below < above ? lo : above < below ? hi : (lo % 2 == 0 ? lo : hi);
  return sign | pick;
}

TEST(Float8Test, E4M3FNValuesFromTheDefinition) {
  EXPECT_EQ(Float8E4M3FN(0.0f).bits, 0x00);
  EXPECT_EQ(Float8E4M3FN(-0.0f).bits, 0x80);
  EXPECT_EQ(Float8E4M3FN(1.0f).bits, 0x38);  // 0 0111 000
  EXPECT_EQ(Float8E4M3FN(2.0f).bits, 0x40);
  EXPECT_EQ(Float8E4M3FN(-1.5f).bits, 0xbc);  // 1 0111 100
  EXPECT_EQ(Float8E4M3FN(240.0f).bits, 0x77);
  EXPECT_EQ(Float8E4M3FN(448.0f).bits, 0x7e);                // the largest finite value
  EXPECT_EQ(Float8E4M3FN(0.015625f).bits, 0x08);             // 2^-6, the smallest normal
  EXPECT_EQ(Float8E4M3FN(0.013671875f).bits, 0x07);          // 7 x 2^-9, the largest subnormal
  EXPECT_EQ(Float8E4M3FN(std::ldexp(1.0f, -9)).bits, 0x01);  // the smallest subnormal

  EXPECT_EQ(decode_e4m3(0x7e), 448.0f);
  EXPECT_EQ(decode_e4m3(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(decode_e4m3(0x08), std::ldexp(1.0f, -6));
  EXPECT_EQ(decode_e4m3(0xb8), -1.0f);
  EXPECT_TRUE(std::signbit(decode_e4m3(0x80)) && decode_e4m3(0x80) == 0.0f);
  // 0x78..0x7E are finite (no infinity); only 0x7F and 0xFF are NaN.
  EXPECT_EQ(decode_e4m3(0x78), 256.0f);
  EXPECT_TRUE(std::isnan(decode_e4m3(0x7f)));
  EXPECT_TRUE(std::isnan(decode_e4m3(0xff)) && std::signbit(decode_e4m3(0xff)));
  for (int b = 0; b < 256; ++b) {
    if ((b & 0x7f) != 0x7f) {
      EXPECT_FALSE(std::isinf(decode_e4m3(static_cast<std::uint8_t>(b)))) << b;
    }
  }
}

TEST(Float8Test, E4M3FNOverflowIsNaNNotSaturation) {
  EXPECT_EQ(Float8E4M3FN(449.0f).bits, 0x7e);
  EXPECT_EQ(Float8E4M3FN(464.0f).bits, 0x7e);  // the tie with "480" goes to the even 448
  EXPECT_EQ(Float8E4M3FN(std::nextafter(464.0f, 1000.0f)).bits, 0x7f);
  EXPECT_EQ(Float8E4M3FN(480.0f).bits, 0x7f);
  EXPECT_EQ(Float8E4M3FN(1e30f).bits, 0x7f);
  EXPECT_EQ(Float8E4M3FN(-1e30f).bits, 0xff);
  EXPECT_EQ(Float8E4M3FN(std::numeric_limits<float>::infinity()).bits, 0x7f);
  EXPECT_EQ(Float8E4M3FN(-std::numeric_limits<float>::infinity()).bits, 0xff);
  EXPECT_EQ(Float8E4M3FN(std::numeric_limits<float>::quiet_NaN()).bits, 0x7f);
  EXPECT_EQ(Float8E4M3FN(-std::numeric_limits<float>::quiet_NaN()).bits, 0xff);
}

TEST(Float8Test, E4M3FNRoundsToNearestEven) {
  EXPECT_EQ(Float8E4M3FN(1.0625f).bits, 0x38);  // tie between 1 and 1.125: even 1
  EXPECT_EQ(Float8E4M3FN(1.1875f).bits, 0x3a);  // tie between 1.125 and 1.25: even 1.25
  EXPECT_EQ(Float8E4M3FN(1.07f).bits, 0x39);
  // Subnormals, in units of 2^-9.
  EXPECT_EQ(Float8E4M3FN(std::ldexp(1.0f, -10)).bits, 0x00);  // half a unit: even 0
  EXPECT_EQ(Float8E4M3FN(std::ldexp(1.5f, -10)).bits, 0x01);
  EXPECT_EQ(Float8E4M3FN(std::ldexp(3.0f, -10)).bits, 0x02);   // 1.5 units: even 2
  EXPECT_EQ(Float8E4M3FN(-std::ldexp(1.0f, -11)).bits, 0x80);  // underflows to -0
  EXPECT_EQ(Float8E4M3FN(std::numeric_limits<float>::denorm_min()).bits, 0x00);
  // Between the largest subnormal and the smallest normal: the tie goes to the even 0x08.
  EXPECT_EQ(Float8E4M3FN(0.0146484375f).bits, 0x08);
}

TEST(Float8Test, E5M2ValuesFromTheDefinition) {
  EXPECT_EQ(Float8E5M2(1.0f).bits, 0x3c);  // 0 01111 00
  EXPECT_EQ(Float8E5M2(-2.0f).bits, 0xc0);
  EXPECT_EQ(Float8E5M2(57344.0f).bits, 0x7b);               // the largest finite value
  EXPECT_EQ(Float8E5M2(std::ldexp(1.0f, -14)).bits, 0x04);  // the smallest normal
  EXPECT_EQ(Float8E5M2(std::ldexp(1.0f, -16)).bits, 0x01);  // the smallest subnormal
  EXPECT_EQ(decode_e5m2(0x7b), 57344.0f);
  EXPECT_EQ(decode_e5m2(0x03), std::ldexp(3.0f, -16));
  EXPECT_EQ(decode_e5m2(0x7c), std::numeric_limits<float>::infinity());
  EXPECT_EQ(decode_e5m2(0xfc), -std::numeric_limits<float>::infinity());
  for (std::uint8_t b : {0x7d, 0x7e, 0x7f, 0xfd, 0xfe, 0xff}) {
    EXPECT_TRUE(std::isnan(decode_e5m2(b))) << int(b);
  }
}

TEST(Float8Test, E5M2OverflowIsInfinity) {
  EXPECT_EQ(Float8E5M2(61439.0f).bits, 0x7b);
  EXPECT_EQ(Float8E5M2(61440.0f).bits, 0x7c);  // the tie with 65536 goes to the even inf
  EXPECT_EQ(Float8E5M2(1e9f).bits, 0x7c);
  EXPECT_EQ(Float8E5M2(-1e9f).bits, 0xfc);
  EXPECT_EQ(Float8E5M2(std::numeric_limits<float>::infinity()).bits, 0x7c);
  EXPECT_EQ(Float8E5M2(std::numeric_limits<float>::quiet_NaN()).bits, 0x7f);
  EXPECT_EQ(Float8E5M2(-std::numeric_limits<float>::quiet_NaN()).bits, 0xff);
  // Subnormal rounding, in units of 2^-16.
  EXPECT_EQ(Float8E5M2(std::ldexp(1.0f, -17)).bits, 0x00);
  EXPECT_EQ(Float8E5M2(std::ldexp(3.0f, -17)).bits, 0x02);
}

// Every finite pattern decodes to its defined value and encodes back to itself.
TEST(Float8Test, EveryPatternRoundTrips) {
  for (const Format* format : {&kE4M3, &kE5M2}) {
    for (int b = 0; b < 256; ++b) {
      const auto bits = static_cast<std::uint8_t>(b);
      const float value = format->decode(bits);
      if ((bits & 0x7f) >= format->overflow) continue;  // inf and NaN, checked above
      const double defined = magnitude(*format, bits) * ((bits & 0x80) ? -1 : 1);
      EXPECT_EQ(static_cast<double>(value), defined) << "pattern " << b;
      EXPECT_EQ(format->encode(value), bits) << "pattern " << b;
    }
  }
}

// Floats at, between, and just around every pair of neighbouring patterns, plus random
// floats across the whole range, encode as the reference does.
TEST(Float8Test, EncodingMatchesTheReference) {
  for (const Format* format : {&kE4M3, &kE5M2}) {
    std::vector<float> inputs;
    for (int b = 0; b < format->overflow; ++b) {
      const double lo = magnitude(*format, static_cast<std::uint8_t>(b));
      const double hi = magnitude(*format, static_cast<std::uint8_t>(b + 1));
      for (double v : {lo, (lo + hi) / 2, hi}) {
        const auto f = static_cast<float>(v);
        inputs.insert(inputs.end(), {f, std::nextafter(f, 0.0f), std::nextafter(f, 1e30f)});
      }
    }
    std::mt19937 random(7);
    std::uniform_int_distribution<std::uint32_t> any_bits;
    for (int i = 0; i < 50000; ++i) {
      // A random significand (NaN and infinity included) with an exponent around the
      // formats' range.
      int exponent = 0;
      const float fraction = std::frexp(std::bit_cast<float>(any_bits(random)), &exponent);
      inputs.push_back(std::ldexp(fraction, static_cast<int>(any_bits(random) % 40) - 24));
    }
    for (float f : inputs) {
      for (float v : {f, -f}) {
        ASSERT_EQ(format->encode(v), reference_encode(*format, v))
            << "value " << v << " (0x" << std::hex << std::bit_cast<std::uint32_t>(v) << ")";
      }
    }
  }
}

}  // namespace
}  // namespace mnemo
