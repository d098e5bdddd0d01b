// Element conversions between every pair of dtypes, against the rules written in dtype.h.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "mnemo/core/dtype.h"

namespace mnemo {
namespace {

template <class T>
constexpr bool kIsComplex = false;
template <class T>
constexpr bool kIsComplex<std::complex<T>> = true;
template <class T>
constexpr bool kIsReduced = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16> ||
                            std::is_same_v<T, Float8E4M3FN> || std::is_same_v<T, Float8E5M2>;
template <class T>
constexpr bool kIsFloatLike = std::is_floating_point_v<T> || kIsReduced<T> || kIsComplex<T>;
// Buffers hold bools as bytes (std::vector<bool> has no data()).
template <class T>
using Stored = std::conditional_t<std::is_same_v<T, bool>, std::uint8_t, T>;

// The exact value an element holds, read without convert_element.
struct Exact {
  long double re = 0, im = 0;
};

template <class T>
Exact exact_of(T v) {
  if constexpr (kIsComplex<T>) {
    return {v.real(), v.imag()};
  } else if constexpr (kIsReduced<T>) {
    return {static_cast<float>(v), 0};
  } else {
    return {static_cast<long double>(v), 0};
  }
}

// What the rules of dtype.h say `x` (from a float-like source or not) becomes in To.
template <class To>
To expected(Exact x, bool from_float) {
  if constexpr (std::is_same_v<To, bool>) {
    return x.re != 0 || x.im != 0;  // NaN != 0 is true
  } else if constexpr (std::is_integral_v<To>) {
    if (!from_float) {  // wraps; a uint64 past INT64_MAX wraps from its own bits
      if (x.re >= 0x1p63L) return static_cast<To>(static_cast<std::uint64_t>(x.re));
      return static_cast<To>(static_cast<std::int64_t>(x.re));
    }
    if (std::isnan(x.re)) return 0;
    const long double t = std::trunc(x.re);
    if (t <= static_cast<long double>(std::numeric_limits<To>::min())) {
      return std::numeric_limits<To>::min();
    }
    if (t >= static_cast<long double>(std::numeric_limits<To>::max())) {
      return std::numeric_limits<To>::max();
    }
    return static_cast<To>(t);
  } else if constexpr (kIsReduced<To>) {
    return To(static_cast<float>(x.re));  // through float
  } else if constexpr (kIsComplex<To>) {
    using Part = typename To::value_type;
    return To(static_cast<Part>(x.re), static_cast<Part>(x.im));
  } else {
    return static_cast<To>(x.re);
  }
}

template <class T>
bool same_element(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    return std::signbit(a) == std::signbit(b) && a == b;
  } else if constexpr (kIsReduced<T>) {
    return a.bits == b.bits;
  } else if constexpr (kIsComplex<T>) {
    return same_element(a.real(), b.real()) && same_element(a.imag(), b.imag());
  } else {
    return a == b;
  }
}

template <class T>
std::string show(T v) {
  std::ostringstream out;
  if constexpr (kIsReduced<T>) {
    out << static_cast<float>(v) << " (0x" << std::hex << static_cast<unsigned>(v.bits) << ")";
  } else if constexpr (std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::uint8_t>) {
    out << int(v);
  } else {
    out << v;
  }
  return out.str();
}

// Representative elements of each source type: zero, one, minus one, fractions, values
// at and past every integer type's range, infinities and NaNs where the type has them.
template <class T>
std::vector<Stored<T>> samples() {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if constexpr (std::is_same_v<T, bool>) {
    return {false, true};
  } else if constexpr (kIsComplex<T>) {
    using P = typename T::value_type;
    return {T(0, 0),
            T(0, P(-0.0)),
            T(1, 0),
            T(-1, 2),
            T(P(0.5), P(-0.25)),
            T(0, 1),
            T(P(2.75), P(1e10)),
            T(P(1e10), 0),
            T(P(-3e9), 1),
            T(P(nan), 0),
            T(0, P(nan)),
            T(P(inf), P(-inf)),
            T(P(-129.5), P(300.25))};
  } else if constexpr (kIsFloatLike<T>) {
    std::vector<T> out;
    for (double v : {0.0,      -0.0,    1.0,      -1.0,         0.5,   -0.5,  2.5,   -2.75,
                     127.9,    128.0,   -128.5,   -129.5,       255.5, 256.0, 300.7, 32767.5,
                     -32769.0, 65504.0, 70000.25, 2147483647.0, 3e9,   -3e9,  1e10,  9.3e18,
                     -9.3e18,  1e20,    inf,      -inf,         nan,   -nan}) {
      if constexpr (kIsReduced<T>) {
        out.push_back(T(static_cast<float>(v)));
      } else {
        out.push_back(static_cast<T>(v));
      }
    }
    return out;
  } else {
    std::vector<T> out;
    for (std::int64_t v : {std::int64_t{0},
                           std::int64_t{1},
                           std::int64_t{-1},
                           std::int64_t{2},
                           std::int64_t{100},
                           std::int64_t{127},
                           std::int64_t{128},
                           std::int64_t{-128},
                           std::int64_t{-129},
                           std::int64_t{255},
                           std::int64_t{256},
                           std::int64_t{300},
                           std::int64_t{-300},
                           std::int64_t{32767},
                           std::int64_t{32768},
                           std::int64_t{65535},
                           std::int64_t{70000},
                           std::int64_t{2147483647},
                           std::int64_t{2147483648},
                           std::int64_t{-2147483649},
                           (std::int64_t{1} << 40) + 7,
                           std::int64_t{16777217},
                           (std::int64_t{1} << 53) + 1,
                           std::numeric_limits<std::int64_t>::max(),
                           std::numeric_limits<std::int64_t>::min()}) {
      out.push_back(static_cast<T>(v));  // wraps into the sample type
    }
    return out;
  }
}

TEST(DTypeConvertTest, EveryPairFollowsTheRules) {
  int checked = 0;
  for (DType src_dtype : kAllDTypes) {
    for (DType dst_dtype : kAllDTypes) {
      SCOPED_TRACE(std::string(dtype_name(src_dtype)) + " -> " +
                   std::string(dtype_name(dst_dtype)));
      visit_dtype(src_dtype, [&](auto src_tag) {
        using From = decltype(src_tag);
        visit_dtype(dst_dtype, [&](auto dst_tag) {
          using To = decltype(dst_tag);
          const std::vector<Stored<From>> in = samples<From>();
          std::vector<Stored<To>> out(in.size());
          convert_elements(in.data(), src_dtype, out.data(), dst_dtype, in.size());
          for (std::size_t i = 0; i < in.size(); ++i) {
            const From value = static_cast<From>(in[i]);
            const To got = static_cast<To>(out[i]);
            const To want = expected<To>(exact_of(value), kIsFloatLike<From>);
            EXPECT_TRUE(same_element(got, want))
                << "sample " << i << " = " << show(value) << ": got " << show(got) << ", expected "
                << show(want);
            // The single-element template agrees with the buffer conversion.
            EXPECT_TRUE(same_element(convert_element<To>(value), got)) << "sample " << i;
            if constexpr (std::is_same_v<To, bool>) {
              EXPECT_LE(out[i], 1) << "a bool must be written as 0 or 1";
            }
            ++checked;
          }
        });
      });
    }
  }
  EXPECT_GT(checked, 12 * 12 * 2);
}

// --- the rules one by one, with literal expectations -------------------------------------

TEST(DTypeConvertTest, ToBoolIsNonZero) {
  EXPECT_FALSE(convert_element<bool>(0.0f));
  EXPECT_FALSE(convert_element<bool>(-0.0));
  EXPECT_TRUE(convert_element<bool>(0.001f));
  EXPECT_TRUE(convert_element<bool>(std::numeric_limits<double>::quiet_NaN()));
  EXPECT_TRUE(convert_element<bool>(std::int8_t{-1}));
  EXPECT_FALSE(convert_element<bool>(Half(-0.0f)));
  EXPECT_TRUE(convert_element<bool>(BFloat16(2.0f)));
  EXPECT_TRUE(convert_element<bool>(std::complex<float>(0, 1)));  // the imaginary part counts
  EXPECT_FALSE(convert_element<bool>(std::complex<double>(0, -0.0)));
}

TEST(DTypeConvertTest, FloatToIntTruncatesTowardZero) {
  EXPECT_EQ(convert_element<std::int32_t>(2.9f), 2);
  EXPECT_EQ(convert_element<std::int32_t>(-2.9f), -2);
  EXPECT_EQ(convert_element<std::int64_t>(0.999), 0);
  EXPECT_EQ(convert_element<std::int64_t>(-0.999), 0);
  EXPECT_EQ(convert_element<std::uint8_t>(255.9), 255);
  EXPECT_EQ(convert_element<std::int16_t>(Half(-1000.5f)), -1000);
  EXPECT_EQ(convert_element<std::int8_t>(std::complex<float>(-7.5f, 100.0f)), -7);
}

TEST(DTypeConvertTest, NanToIntIsZero) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(convert_element<std::int64_t>(nan), 0);
  EXPECT_EQ(convert_element<std::int8_t>(static_cast<float>(nan)), 0);
  EXPECT_EQ(convert_element<std::uint8_t>(Half::from_bits(0x7e00)), 0);
  EXPECT_EQ(convert_element<std::int32_t>(BFloat16::from_bits(0xffc1)), 0);
}

TEST(DTypeConvertTest, FloatToIntSaturates) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(convert_element<std::int32_t>(1e10), 2147483647);
  EXPECT_EQ(convert_element<std::int32_t>(-1e10), -2147483647 - 1);
  EXPECT_EQ(convert_element<std::int8_t>(300.5f), 127);
  EXPECT_EQ(convert_element<std::int8_t>(-128.9f), -128);  // truncates into range first
  EXPECT_EQ(convert_element<std::int8_t>(-129.0f), -128);
  EXPECT_EQ(convert_element<std::uint8_t>(-1.0f), 0);
  EXPECT_EQ(convert_element<std::uint8_t>(-0.5f), 0);
  EXPECT_EQ(convert_element<std::uint8_t>(256.0), 255);
  EXPECT_EQ(convert_element<std::int16_t>(Half(65504.0f)), 32767);
  EXPECT_EQ(convert_element<std::int64_t>(inf), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(convert_element<std::int64_t>(-inf), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(convert_element<std::int64_t>(std::ldexp(1.0, 63)),
            std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(convert_element<std::int64_t>(-std::ldexp(1.0, 63)),
            std::numeric_limits<std::int64_t>::min());
  // The largest double below 2^63 is exact, not saturated.
  EXPECT_EQ(convert_element<std::int64_t>(std::nextafter(std::ldexp(1.0, 63), 0.0)),
            std::int64_t{0x7ffffffffffffc00});
  EXPECT_EQ(convert_element<std::int64_t>(std::nextafter(std::ldexp(1.0f, 63), 0.0f)),
            std::int64_t{0x7fffff8000000000});
}

TEST(DTypeConvertTest, IntToNarrowerIntWrapsAround) {
  EXPECT_EQ(convert_element<std::int8_t>(std::int64_t{300}), 44);
  EXPECT_EQ(convert_element<std::int8_t>(std::int64_t{-129}), 127);
  EXPECT_EQ(convert_element<std::int8_t>(std::uint8_t{255}), -1);
  EXPECT_EQ(convert_element<std::uint8_t>(std::int32_t{-1}), 255);
  EXPECT_EQ(convert_element<std::uint8_t>(std::int16_t{256}), 0);
  EXPECT_EQ(convert_element<std::int16_t>(std::int32_t{65536 + 5}), 5);
  EXPECT_EQ(convert_element<std::int32_t>((std::int64_t{1} << 40) + 7), 7);
  EXPECT_EQ(convert_element<std::int64_t>(std::int8_t{-5}), -5);  // widening sign-extends
  EXPECT_EQ(convert_element<std::int64_t>(std::uint8_t{200}), 200);
}

TEST(DTypeConvertTest, IntToFloatRoundsToNearest) {
  EXPECT_EQ(convert_element<float>(std::int64_t{16777217}), 16777216.0f);  // tie to even
  EXPECT_EQ(convert_element<float>(std::int64_t{16777219}), 16777220.0f);
  EXPECT_EQ(convert_element<double>((std::int64_t{1} << 53) + 1), std::ldexp(1.0, 53));
  EXPECT_EQ(convert_element<Half>(std::int32_t{65519}).bits, 0x7bff);
  EXPECT_EQ(convert_element<Half>(std::int32_t{65520}).bits, 0x7c00);
  EXPECT_EQ(convert_element<Half>(std::int64_t{2049}).bits, 0x6800);
  EXPECT_EQ(convert_element<BFloat16>(std::int32_t{257}).bits, 0x4380);  // 256: tie to even
  EXPECT_EQ(convert_element<float>(true), 1.0f);
}

TEST(DTypeConvertTest, DoubleToHalfRoundsTwiceThroughFloat) {
  // 1 + 2^-11 + 2^-40 is just above the halfway point between the halves 1 and 1 + 2^-10,
  // so rounding it once would give 1 + 2^-10 (0x3C01). Through float it first becomes
  // exactly 1 + 2^-11, a tie, which rounds to the even 1.0: PyTorch's result.
  const double d = 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40);
  EXPECT_EQ(static_cast<float>(d), 1.0f + std::ldexp(1.0f, -11));
  EXPECT_EQ(convert_element<Half>(d).bits, 0x3c00);
  EXPECT_EQ(convert_element<BFloat16>(1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40)).bits,
            0x3f80);  // the same for bfloat16
  EXPECT_EQ(convert_element<Half>(std::complex<double>(d, 5.0)).bits, 0x3c00);
}

TEST(DTypeConvertTest, ReducedFloatsConvertThroughFloat) {
  EXPECT_EQ(convert_element<BFloat16>(Half(1.0f + std::ldexp(1.0f, -10))).bits, 0x3f80);
  EXPECT_EQ(convert_element<Half>(BFloat16(3.0f)).bits, 0x4200);
  EXPECT_EQ(convert_element<Half>(BFloat16::from_bits(0x7f80)).bits, 0x7c00);  // inf stays inf
  EXPECT_EQ(convert_element<Half>(BFloat16(1e6f)).bits, 0x7c00);               // overflows
  EXPECT_EQ(convert_element<double>(Half::from_bits(0x0001)), std::ldexp(1.0, -24));
  EXPECT_EQ(convert_element<Half>(-0.0).bits, 0x8000);
  EXPECT_EQ(convert_element<Half>(std::numeric_limits<double>::quiet_NaN()).bits, 0x7e00);
  EXPECT_EQ(convert_element<BFloat16>(-std::numeric_limits<double>::quiet_NaN()).bits, 0x7fc0);
}

TEST(DTypeConvertTest, UnsignedIntegers) {
  // Float to unsigned saturates at both ends; NaN is 0.
  EXPECT_EQ(convert_element<std::uint16_t>(-1.0), 0);
  EXPECT_EQ(convert_element<std::uint16_t>(70000.0f), 65535);
  EXPECT_EQ(convert_element<std::uint16_t>(65535.9), 65535);
  EXPECT_EQ(convert_element<std::uint32_t>(4294967295.5), 4294967295u);
  EXPECT_EQ(convert_element<std::uint32_t>(std::numeric_limits<double>::quiet_NaN()), 0u);
  EXPECT_EQ(convert_element<std::uint64_t>(1e20), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(convert_element<std::uint64_t>(std::ldexp(1.0, 64)),
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(convert_element<std::uint64_t>(std::nextafter(std::ldexp(1.0, 64), 0.0)),
            std::uint64_t{0xfffffffffffff800});
  EXPECT_EQ(convert_element<std::uint64_t>(Half(-3.0f)), 0u);
  // Integer to integer wraps, both ways.
  EXPECT_EQ(convert_element<std::uint16_t>(std::int64_t{70000}), 70000 - 65536);
  EXPECT_EQ(convert_element<std::uint16_t>(std::int8_t{-1}), 65535);
  EXPECT_EQ(convert_element<std::uint64_t>(std::int64_t{-1}), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(convert_element<std::int64_t>(std::numeric_limits<std::uint64_t>::max()), -1);
  EXPECT_EQ(convert_element<std::int16_t>(std::uint32_t{0x8000}), -32768);
  EXPECT_EQ(convert_element<std::uint32_t>(std::uint16_t{65535}), 65535u);  // zero-extends
  // Unsigned to float rounds once, from the exact value.
  EXPECT_EQ(convert_element<double>(std::numeric_limits<std::uint64_t>::max()), std::ldexp(1.0, 64));
  EXPECT_EQ(convert_element<float>(std::uint32_t{16777217}), 16777216.0f);
  EXPECT_EQ(convert_element<Half>(std::uint16_t{65535}).bits, 0x7c00);
  EXPECT_TRUE(convert_element<bool>(std::uint64_t{1} << 63));
}

TEST(DTypeConvertTest, Float8ThroughFloat) {
  // To float8 from other types, through float; overflow by each format's rule.
  EXPECT_EQ(convert_element<Float8E4M3FN>(1000.0).bits, 0x7f);  // NaN: no infinity
  EXPECT_EQ(convert_element<Float8E4M3FN>(std::int32_t{-448}).bits, 0xfe);
  EXPECT_EQ(convert_element<Float8E5M2>(Half::from_bits(0x7bff)).bits, 0x7c);  // 65504: inf
  EXPECT_EQ(convert_element<Float8E5M2>(std::int64_t{3}).bits, 0x42);
  EXPECT_EQ(convert_element<Float8E4M3FN>(BFloat16(2.0f)).bits, 0x40);
  // 464 + 2^-40 is past the tie between 448 and 480 (the NaN pattern), but as a float
  // it is exactly the tie, which goes to the even 448: double rounding, as PyTorch.
  EXPECT_EQ(convert_element<Float8E4M3FN>(464.0 + std::ldexp(1.0, -40)).bits, 0x7e);
  EXPECT_EQ(convert_element<Float8E4M3FN>(464.0f + 0.0625f).bits, 0x7f);
  // From float8 to other types.
  EXPECT_EQ(convert_element<std::int32_t>(Float8E4M3FN::from_bits(0x7e)), 448);
  EXPECT_EQ(convert_element<std::int32_t>(Float8E4M3FN::from_bits(0x7f)), 0);  // NaN
  EXPECT_EQ(convert_element<std::uint8_t>(Float8E5M2::from_bits(0x7b)), 255);  // saturates
  EXPECT_EQ(convert_element<Half>(Float8E5M2::from_bits(0xfc)).bits, 0xfc00);  // -inf
  EXPECT_EQ(convert_element<double>(Float8E4M3FN::from_bits(0x01)), std::ldexp(1.0, -9));
  EXPECT_EQ(convert_element<Float8E5M2>(Float8E4M3FN::from_bits(0x7e)).bits, 0x5f);  // 448 exact
  EXPECT_EQ(convert_element<Float8E4M3FN>(Float8E5M2::from_bits(0x7c)).bits, 0x7f);  // inf: NaN
  EXPECT_EQ(convert_element<std::complex<float>>(Float8E5M2::from_bits(0xbc)),
            std::complex<float>(-1.0f, 0.0f));
  EXPECT_FALSE(convert_element<bool>(Float8E4M3FN::from_bits(0x80)));  // -0
  EXPECT_TRUE(convert_element<bool>(Float8E4M3FN::from_bits(0xff)));   // NaN is true
}

TEST(DTypeConvertTest, ComplexAndReal) {
  EXPECT_EQ(convert_element<float>(std::complex<float>(3.5f, -2.0f)), 3.5f);
  EXPECT_EQ(convert_element<double>(std::complex<double>(-1.25, 9.0)), -1.25);
  EXPECT_EQ(convert_element<std::int64_t>(std::complex<double>(1e30, 0)),
            std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(convert_element<std::complex<double>>(2.5f), std::complex<double>(2.5, 0));
  EXPECT_EQ(convert_element<std::complex<float>>(std::int64_t{-7}), std::complex<float>(-7, 0));
  EXPECT_EQ(convert_element<std::complex<float>>(Half(0.5f)), std::complex<float>(0.5f, 0));
  EXPECT_EQ(convert_element<std::complex<double>>(true), std::complex<double>(1, 0));
  const auto narrowed = convert_element<std::complex<float>>(std::complex<double>(0.1, 1e300));
  EXPECT_EQ(narrowed.real(), 0.1f);
  EXPECT_TRUE(std::isinf(narrowed.imag()));
  EXPECT_EQ(convert_element<std::complex<double>>(std::complex<float>(0.1f, -2)),
            std::complex<double>(static_cast<double>(0.1f), -2));
}

TEST(DTypeConvertTest, BoolBytesOtherThanZeroOrOneAreTrue) {
  // Bool bytes may come from a file; any non-zero byte is true, never undefined.
  const std::uint8_t bytes[] = {0, 1, 2, 255, 0x80};
  for (DType dst : kAllDTypes) {
    SCOPED_TRACE(dtype_name(dst));
    visit_dtype(dst, [&](auto tag) {
      using To = decltype(tag);
      Stored<To> out[5];
      convert_elements(bytes, DType::kBool, out, dst, 5);
      for (int i = 0; i < 5; ++i) {
        const To want = expected<To>({bytes[i] != 0 ? 1.0L : 0.0L, 0}, false);
        EXPECT_TRUE(same_element(static_cast<To>(out[i]), want)) << "byte " << int(bytes[i]);
      }
    });
  }
  // bool to bool also writes canonical 0 or 1 bytes.
  std::uint8_t out[5] = {9, 9, 9, 9, 9};
  convert_elements(bytes, DType::kBool, out, DType::kBool, 5);
  EXPECT_EQ(std::vector<std::uint8_t>(out, out + 5), (std::vector<std::uint8_t>{0, 1, 1, 1, 1}));
  std::uint8_t in_place[3] = {2, 0, 7};
  convert_elements(in_place, DType::kBool, in_place, DType::kBool, 3);
  EXPECT_EQ(std::vector<std::uint8_t>(in_place, in_place + 3),
            (std::vector<std::uint8_t>{1, 0, 1}));
}

TEST(DTypeConvertTest, SameDTypeCopiesBytesAndZeroCountIsANoOp) {
  const std::uint16_t nan_payload[] = {0x7d01, 0xfe55, 0x3c00};
  std::uint16_t out[3] = {};
  convert_elements(nan_payload, DType::kFloat16, out, DType::kFloat16, 3);
  EXPECT_EQ(std::memcmp(out, nan_payload, sizeof(out)), 0);  // NaN payloads untouched
  float dst = 5.0f;
  convert_elements(nullptr, DType::kFloat64, &dst, DType::kFloat32, 0);
  EXPECT_EQ(dst, 5.0f);
  double same[2] = {1.5, -2.0};
  convert_elements(same, DType::kFloat64, same, DType::kFloat64, 2);  // src == dst allowed
  EXPECT_EQ(same[0], 1.5);
  EXPECT_EQ(same[1], -2.0);
}

}  // namespace
}  // namespace mnemo
