// The argument checks every op shares (defined, on the CPU, of a dtype it computes in)
// and the dispatch from a dtype to the C++ element type of its kernel. Private to the
// library.
#pragma once

#include <cstdint>
#include <string_view>

#include "mnemo/core/tensor.h"

namespace mnemo::detail {

inline void check_defined(std::string_view op, const Tensor& t, std::string_view name) {
  MNEMO_CHECK(t.defined(), op, ": ", name, " is an undefined tensor");
}

// A tensor read from a file saved on a GPU keeps its CUDA tag; its bytes are in host
// memory, but computing on it would silently ignore where the user meant it to live.
inline void check_cpu(std::string_view op, const Tensor& t, std::string_view name = "input") {
  MNEMO_CHECK(t.device().is_cpu(), op, ": ", name, " tensor is on ", t.device().str(),
              ", but this build computes on the CPU only; load it with map_location = cpu");
}

// Kernels exist for float32 and float64 only (float16 and bfloat16 are storage types
// here: convert them with .to(DType::kFloat32) first).
inline bool is_kernel_floating(DType dtype) {
  return dtype == DType::kFloat32 || dtype == DType::kFloat64;
}

inline void check_floating(std::string_view op, const Tensor& t, std::string_view name = "input") {
  MNEMO_CHECK(is_kernel_floating(t.dtype()), op, ": ", name,
              " needs a floating dtype (float32 or float64), got ", dtype_name(t.dtype()));
}

// The usual prologue of a floating op's tensor argument.
inline void check_float_input(std::string_view op, const Tensor& t,
                              std::string_view name = "input") {
  check_defined(op, t, name);
  check_cpu(op, t, name);
  check_floating(op, t, name);
}

inline void check_same_dtype(std::string_view op, const Tensor& a, std::string_view a_name,
                             const Tensor& b, std::string_view b_name) {
  MNEMO_CHECK(a.dtype() == b.dtype(), op, ": expected ", b_name, " to have the dtype of ", a_name,
              " (", dtype_name(a.dtype()), "), got ", dtype_name(b.dtype()));
}

// Calls fn(T{}) with T = float or double. REQUIRES: is_kernel_floating(dtype).
template <class Fn>
decltype(auto) dispatch_floating(DType dtype, Fn&& fn) {
  if (dtype == DType::kFloat64) return fn(double{});
  return fn(float{});
}

// The dtypes arithmetic kernels exist for: float32, float64 and the signed integer types
// and uint8 (the storage dtypes uint16/32/64 have no kernels, as in PyTorch).
inline bool is_kernel_arithmetic(DType dtype) {
  switch (dtype) {
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64: return true;
    default: return is_kernel_floating(dtype);
  }
}

inline void check_arithmetic(std::string_view op, const Tensor& t,
                             std::string_view name = "input") {
  MNEMO_CHECK(is_kernel_arithmetic(t.dtype()), op, ": ", name,
              " needs a float32, float64, signed integer or uint8 dtype, got ",
              dtype_name(t.dtype()));
}

// Calls fn(T{}) with T the element type of a float32, float64 or integer dtype.
// REQUIRES: is_kernel_arithmetic(dtype).
template <class Fn>
decltype(auto) dispatch_arithmetic(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat64:
      return fn(double{});
    case DType::kInt8:
      return fn(std::int8_t{});
    case DType::kUInt8:
      return fn(std::uint8_t{});
    case DType::kInt16:
      return fn(std::int16_t{});
    case DType::kInt32:
      return fn(std::int32_t{});
    case DType::kInt64:
      return fn(std::int64_t{});
    default:
      return fn(float{});
  }
}

}  // namespace mnemo::detail
