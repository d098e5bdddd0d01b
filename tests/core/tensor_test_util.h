// Helpers shared by the tensor tests.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mnemo/core/tensor.h"

namespace mnemo::testing {

// Short names for what the expectations use most.
inline constexpr ErrorCode kInvalid = ErrorCode::kInvalidArgument;
inline constexpr double kInf = std::numeric_limits<double>::infinity();
inline constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

// 0, 1, 2, ... as int64 in `sizes`, contiguous.
inline Tensor iota(const Shape& sizes) { return arange(shape_numel(sizes)).view(sizes); }

// The elements in row-major (logical) order, converted to T.
template <class T>
std::vector<T> values(const Tensor& t) {
  const Tensor c = t.to(dtype_of_v<T>).contiguous();
  const T* data = c.data<T>();
  return std::vector<T>(data, data + c.numel());
}

// Runs `fn`, expecting mnemo::Error with `code` whose message contains `fragment`.
template <class Fn>
::testing::AssertionResult throws_error(Fn&& fn, ErrorCode code, const std::string& fragment) {
  try {
    fn();
  } catch (const Error& e) {
    if (e.code() != code) {
      return ::testing::AssertionFailure() << "code " << error_code_name(e.code()) << " instead of "
                                           << error_code_name(code) << ": " << e.what();
    }
    if (std::string(e.what()).find(fragment) == std::string::npos) {
      return ::testing::AssertionFailure() << "message lacks '" << fragment << "': " << e.what();
    }
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "nothing was thrown";
}

}  // namespace mnemo::testing
