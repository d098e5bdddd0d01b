// Helpers shared by the ops tests: building small tensors from values, reading them
// back, and checking the error an op throws.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/core/error.h"
#include "mnemo/core/tensor.h"

namespace mnemo::testing {

// A contiguous tensor of `shape` holding `values` in row-major order.
template <class T = float>
Tensor make(const Shape& shape, const std::vector<T>& values) {
  Tensor t = empty(shape, {.dtype = dtype_of_v<T>});
  EXPECT_EQ(t.numel(), static_cast<std::int64_t>(values.size()));
  T* out = t.template mutable_data<T>();
  for (std::size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  return t;
}

// Every element, in row-major order, as double.
inline std::vector<double> values_of(const Tensor& t) {
  const Tensor d = t.to(DType::kFloat64).contiguous();
  const double* p = d.data<double>();
  return std::vector<double>(p, p + d.numel());
}

// 0, 1, ..., numel - 1 in `shape`, of a floating dtype.
inline Tensor iota(const Shape& shape, DType dtype = DType::kFloat32) {
  return arange(0.0, static_cast<double>(shape_numel(shape)), 1.0, {.dtype = dtype}).view(shape);
}

// A tensor whose storage is tagged as CUDA memory, as one loaded without map_location.
inline Tensor cuda_tensor(const Shape& shape) {
  return empty(shape, {.dtype = DType::kFloat32, .device = Device::cuda(0)});
}

inline constexpr const char* kCpuOnlyMessage =
    "tensor is on cuda:0, but this build computes on the CPU only; load it with "
    "map_location = cpu";

}  // namespace mnemo::testing

// Expects `statement` to throw mnemo::Error with `error_code` and a message that
// contains `substring`.
#define EXPECT_MNEMO_ERROR(statement, error_code, substring)               \
  do {                                                                     \
    try {                                                                  \
      (void)(statement);                                                   \
      ADD_FAILURE() << "expected mnemo::Error from: " #statement;          \
    } catch (const ::mnemo::Error& e) {                                    \
      EXPECT_EQ(e.code(), error_code) << e.what();                         \
      EXPECT_THAT(std::string(e.what()), ::testing::HasSubstr(substring)); \
    }                                                                      \
  } while (false)

// Expects the elements of `tensor` (row-major) to be within `tolerance` of the braced
// list of values that follows.
#define EXPECT_VALUES_NEAR(tensor, tolerance, ...) \
  EXPECT_THAT(                                     \
      ::mnemo::testing::values_of(tensor),         \
      ::testing::Pointwise(::testing::DoubleNear(tolerance), std::vector<double>(__VA_ARGS__)))
