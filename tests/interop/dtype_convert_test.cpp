// float32 (and float64) to float16/bfloat16 conversion, bit for bit against PyTorch's
// .half() and .bfloat16() on the same values.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "mnemo/core/dtype.h"
#include "support/bytes.h"
#include "support/python.h"

namespace mnemo {
namespace {

using testing::python_output;
using testing::TempDir;

template <class T>
void write_values(const std::filesystem::path& path, const std::vector<T>& values) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(T)));
  ASSERT_TRUE(out.good()) << path;
}

std::vector<std::uint16_t> read_u16(const std::filesystem::path& path) {
  const std::vector<std::byte> bytes = testing::read_file(path);
  std::vector<std::uint16_t> out(bytes.size() / 2);
  std::memcpy(out.data(), bytes.data(), out.size() * 2);
  return out;
}

// Reads `in` (raw values of `dtype`), writes .half() and .bfloat16() bits to out files.
constexpr const char* kConvertScript = R"(
import sys
import numpy as np
import torch
src, dtype, half_out, bf16_out = sys.argv[1:5]
x = torch.from_numpy(np.fromfile(src, dtype=dtype))
x.half().view(torch.int16).numpy().tofile(half_out)
x.bfloat16().view(torch.int16).numpy().tofile(bf16_out)
)";

// Float32 bit patterns: uniformly random ones, random ones inside float16's range
// (where rounding is interesting), every kind of NaN, and the documented edge cases.
std::vector<std::uint32_t> float_patterns() {
  std::mt19937 rng(20240611);
  std::vector<std::uint32_t> bits;
  for (int i = 0; i < 1500; ++i) bits.push_back(rng());
  for (int i = 0; i < 2500; ++i) {
    // exponents 2^-27 .. 2^16, any mantissa, any sign
    const std::uint32_t exponent = 100 + rng() % 44;
    bits.push_back((rng() & 0x80000000u) | (exponent << 23) | (rng() & 0x7fffffu));
  }
  for (int i = 0; i < 300; ++i) {
    // exact float16 and bfloat16 ties: the dropped bits are exactly one half
    const std::uint32_t exponent = 103 + rng() % 40;
    bits.push_back((exponent << 23) | (rng() & 0x7fe000u) | 0x1000u);
    bits.push_back((rng() & 0x80000000u) | ((rng() % 254 + 1) << 23) | (rng() & 0x7f0000u) |
                   0x8000u);
  }
  const auto f = [](float v) { return std::bit_cast<std::uint32_t>(v); };
  for (float v : {0.0f,
                  -0.0f,
                  1.0f,
                  -1.0f,
                  65504.0f,
                  65519.99f,
                  65520.0f,
                  -65520.0f,
                  65536.0f,
                  std::ldexp(1.0f, -24),
                  std::ldexp(1.0f, -25),
                  1.5f * std::ldexp(1.0f, -25),
                  std::ldexp(1.0f, -14),
                  1023.5f * std::ldexp(1.0f, -24),
                  1.0f + std::ldexp(1.0f, -11),
                  1.0f + 3 * std::ldexp(1.0f, -11),
                  1.0f + std::ldexp(1.0f, -8),
                  1.0f + 3 * std::ldexp(1.0f, -8),
                  INFINITY,
                  -INFINITY,
                  std::numeric_limits<float>::max(),
                  std::numeric_limits<float>::denorm_min()}) {
    bits.push_back(f(v));
  }
  for (std::uint32_t nan : {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800001u, 0x7fa00000u,
                            0x7fffffffu, 0xffffffffu, 0x7f802000u, 0x7fbfe000u}) {
    bits.push_back(nan);
  }
  for (std::uint32_t sub = 1; sub < 0x00800000u; sub = sub * 3 + 1) bits.push_back(sub);
  return bits;
}

TEST(DTypeConvertInterop, Float32ToHalfAndBFloat16MatchTorchBitForBit) {
  const std::vector<std::uint32_t> bits = float_patterns();
  std::vector<float> values(bits.size());
  std::memcpy(values.data(), bits.data(), bits.size() * 4);
  ASSERT_GT(values.size(), 4000u);

  TempDir dir;
  write_values(dir / "in.bin", values);
  python_output(kConvertScript, (dir / "in.bin").string() + " float32 " +
                                    (dir / "half.bin").string() + " " +
                                    (dir / "bf16.bin").string());
  const std::vector<std::uint16_t> torch_half = read_u16(dir / "half.bin");
  const std::vector<std::uint16_t> torch_bf16 = read_u16(dir / "bf16.bin");
  ASSERT_EQ(torch_half.size(), values.size());
  ASSERT_EQ(torch_bf16.size(), values.size());

  std::vector<std::uint16_t> ours_half(values.size()), ours_bf16(values.size());
  convert_elements(values.data(), DType::kFloat32, ours_half.data(), DType::kFloat16,
                   values.size());
  convert_elements(values.data(), DType::kFloat32, ours_bf16.data(), DType::kBFloat16,
                   values.size());

  int nans = 0, mismatches = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (std::isnan(values[i])) {
      // PyTorch's vectorised bfloat16 conversion writes 0xFFFF for a NaN, its scalar one
      // 0x7FC0; only NaN-ness is common ground. Ours is the documented canonical NaN.
      ++nans;
      const std::uint16_t sign = std::signbit(values[i]) ? 0x8000 : 0;
      EXPECT_EQ(ours_half[i], sign | 0x7e00) << std::hex << bits[i];
      EXPECT_EQ(ours_bf16[i], 0x7fc0) << std::hex << bits[i];
      EXPECT_EQ(torch_half[i] & 0x7c00, 0x7c00) << "torch half of NaN 0x" << std::hex << bits[i];
      EXPECT_NE(torch_half[i] & 0x03ff, 0) << "torch half of NaN 0x" << std::hex << bits[i];
      EXPECT_EQ(torch_bf16[i] & 0x7f80, 0x7f80) << "torch bf16 of NaN 0x" << std::hex << bits[i];
      EXPECT_NE(torch_bf16[i] & 0x007f, 0) << "torch bf16 of NaN 0x" << std::hex << bits[i];
      continue;
    }
    if (ours_half[i] != torch_half[i] || ours_bf16[i] != torch_bf16[i]) {
      if (++mismatches <= 20) {
        ADD_FAILURE() << "float bits 0x" << std::hex << bits[i] << " (" << values[i]
                      << "): half ours 0x" << ours_half[i] << " torch 0x" << torch_half[i]
                      << ", bfloat16 ours 0x" << ours_bf16[i] << " torch 0x" << torch_bf16[i];
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(nans, 8);
}

TEST(DTypeConvertInterop, Float64ConvertsThroughFloat32LikeTorch) {
  // Doubles just off the float16/bfloat16 halfway points, where rounding once and
  // rounding through float disagree; and random doubles.
  std::mt19937_64 rng(7);
  std::vector<double> values;
  for (int k = -30; k <= 30; ++k) {
    for (double tie :
         {1.0 + std::ldexp(1.0, -11), 1.0 + 3 * std::ldexp(1.0, -11), 1.0 + std::ldexp(1.0, -8),
          1.0 + 3 * std::ldexp(1.0, -8), 65520.0, std::ldexp(1.0, -25)}) {
      values.push_back(tie * (1 + k * std::ldexp(1.0, -40)));
    }
  }
  for (int i = 0; i < 1000; ++i) {
    const double v = std::bit_cast<double>(rng());
    if (!std::isnan(v)) values.push_back(v);
    values.push_back(
        std::ldexp(static_cast<double>(rng() >> 11), -53 - static_cast<int>(rng() % 30)));
  }
  TempDir dir;
  write_values(dir / "in.bin", values);
  python_output(kConvertScript, (dir / "in.bin").string() + " float64 " +
                                    (dir / "half.bin").string() + " " +
                                    (dir / "bf16.bin").string());
  const std::vector<std::uint16_t> torch_half = read_u16(dir / "half.bin");
  const std::vector<std::uint16_t> torch_bf16 = read_u16(dir / "bf16.bin");
  ASSERT_EQ(torch_half.size(), values.size());
  std::vector<std::uint16_t> ours_half(values.size()), ours_bf16(values.size());
  convert_elements(values.data(), DType::kFloat64, ours_half.data(), DType::kFloat16,
                   values.size());
  convert_elements(values.data(), DType::kFloat64, ours_bf16.data(), DType::kBFloat16,
                   values.size());
  int mismatches = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (ours_half[i] != torch_half[i] || ours_bf16[i] != torch_bf16[i]) {
      if (++mismatches <= 20) {
        ADD_FAILURE() << "double " << values[i] << ": half ours 0x" << std::hex << ours_half[i]
                      << " torch 0x" << torch_half[i] << ", bfloat16 ours 0x" << ours_bf16[i]
                      << " torch 0x" << torch_bf16[i];
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace mnemo
