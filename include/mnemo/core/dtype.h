// Element types, with PyTorch's names ("float32", "bfloat16", ...), and conversion of
// contiguous element buffers between any two of them.
//
// Conversion rules (PyTorch's, with the undefined cases of C++ made defined):
//  - to bool: any non-zero value (a NaN included) is true; a bool is written as 0 or 1,
//    and a bool byte read from a buffer is true when it is not 0 (files may hold others);
//  - float to integer: truncation toward zero; NaN becomes 0 and values outside the
//    target's range saturate (PyTorch leaves both undefined);
//  - integer to integer: two's-complement wrap-around into the target's width (signed
//    and unsigned alike), as in PyTorch;
//  - to float16/bfloat16/float8: round to nearest even, through float as PyTorch does
//    (float8_e4m3fn has no infinity: what rounds past 448 becomes NaN, see float8.h);
//  - complex to real: the real part; real to complex: imaginary part 0.
//
// uint16/32/64 and the float8 types are storage dtypes, as in PyTorch 2.x: they load
// (from safetensors and PyTorch 2.x .pt files), save as safetensors (the .pt writer
// refuses them, since PyTorch 1.13 cannot read them) and convert to and from every other
// dtype, but the ops compute on none of them (convert first).
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "mnemo/core/float8.h"
#include "mnemo/core/half.h"

namespace mnemo {

enum class DType : std::uint8_t {
  kFloat32,
  kFloat64,
  kFloat16,
  kBFloat16,
  kInt8,
  kUInt8,
  kInt16,
  kInt32,
  kInt64,
  kBool,
  kComplex64,
  kComplex128,
  // Added later; appended so that the values above keep their numbers.
  kUInt16,
  kUInt32,
  kUInt64,
  kFloat8E4M3FN,
  kFloat8E5M2,
};

inline constexpr DType kAllDTypes[] = {
    DType::kFloat32, DType::kFloat64, DType::kFloat16,   DType::kBFloat16,
    DType::kInt8,    DType::kUInt8,   DType::kInt16,     DType::kInt32,
    DType::kInt64,   DType::kBool,    DType::kComplex64, DType::kComplex128,
    DType::kUInt16,  DType::kUInt32,  DType::kUInt64,    DType::kFloat8E4M3FN,
    DType::kFloat8E5M2,
};

// PyTorch's name without the "torch." prefix: "float32", "int64", "float8_e4m3fn", ...
std::string_view dtype_name(DType dtype);

// Accepts PyTorch's names and aliases ("float32", "float", "half", "long", "cfloat", ...),
// with or without a "torch." prefix. nullopt for anything else.
std::optional<DType> dtype_from_name(std::string_view name);

std::size_t element_size(DType dtype);
bool is_floating_point(DType dtype);  // float16/32/64, bfloat16 and the float8 types
bool is_complex(DType dtype);
bool is_integral(DType dtype, bool include_bool = false);  // signed and unsigned

// The C++ type of each dtype's elements.
template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::kFloat32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::kFloat64; };
template <> struct dtype_of<Half> { static constexpr DType value = DType::kFloat16; };
template <> struct dtype_of<BFloat16> { static constexpr DType value = DType::kBFloat16; };
template <> struct dtype_of<std::int8_t> { static constexpr DType value = DType::kInt8; };
template <> struct dtype_of<std::uint8_t> { static constexpr DType value = DType::kUInt8; };
template <> struct dtype_of<std::int16_t> { static constexpr DType value = DType::kInt16; };
template <> struct dtype_of<std::int32_t> { static constexpr DType value = DType::kInt32; };
template <> struct dtype_of<std::int64_t> { static constexpr DType value = DType::kInt64; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::kBool; };
template <> struct dtype_of<std::uint16_t> { static constexpr DType value = DType::kUInt16; };
template <> struct dtype_of<std::uint32_t> { static constexpr DType value = DType::kUInt32; };
template <> struct dtype_of<std::uint64_t> { static constexpr DType value = DType::kUInt64; };
template <> struct dtype_of<Float8E4M3FN> { static constexpr DType value = DType::kFloat8E4M3FN; };
template <> struct dtype_of<Float8E5M2> { static constexpr DType value = DType::kFloat8E5M2; };
template <> struct dtype_of<std::complex<float>> {
  static constexpr DType value = DType::kComplex64;
};
template <> struct dtype_of<std::complex<double>> {
  static constexpr DType value = DType::kComplex128;
};
template <class T> inline constexpr DType dtype_of_v = dtype_of<T>::value;

// Calls fn(T{}) with T the C++ element type of `dtype`.
template <class Fn>
decltype(auto) visit_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32: return fn(float{});
    case DType::kFloat64: return fn(double{});
    case DType::kFloat16: return fn(Half{});
    case DType::kBFloat16: return fn(BFloat16{});
    case DType::kInt8: return fn(std::int8_t{});
    case DType::kUInt8: return fn(std::uint8_t{});
    case DType::kInt16: return fn(std::int16_t{});
    case DType::kInt32: return fn(std::int32_t{});
    case DType::kInt64: return fn(std::int64_t{});
    case DType::kBool: return fn(bool{});
    case DType::kComplex64: return fn(std::complex<float>{});
    case DType::kComplex128: return fn(std::complex<double>{});
    case DType::kUInt16: return fn(std::uint16_t{});
    case DType::kUInt32: return fn(std::uint32_t{});
    case DType::kUInt64: return fn(std::uint64_t{});
    case DType::kFloat8E4M3FN: return fn(Float8E4M3FN{});
    case DType::kFloat8E5M2: return fn(Float8E5M2{});
  }
  return fn(float{});  // unreachable for valid enumerators
}

// Converts one element between any two element types, by the rules above.
template <class To, class From>
To convert_element(From value);

// Converts `count` contiguous elements of `src_dtype` at `src` into `dst_dtype` at `dst`.
// The buffers must not overlap unless the dtypes are equal and src == dst.
void convert_elements(const void* src, DType src_dtype, void* dst, DType dst_dtype,
                      std::size_t count);

}  // namespace mnemo

#include "mnemo/core/dtype_convert.h"  // IWYU pragma: export
