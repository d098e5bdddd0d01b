// The floating elementwise functions (src/ops/activation.cpp). Expected values are
// from the closed forms (torch.nn.functional agrees to the last digit shown).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "mnemo/ops/elementwise.h"
#include "ops/ops_test_util.h"

namespace mnemo {
namespace {

using testing::iota;
using testing::make;
using testing::values_of;

TEST(Activation, ExpLogSqrt) {
  const Tensor x = make({3}, {0.f, 1.f, 4.f});
  EXPECT_VALUES_NEAR(exp(x), 1e-5, {1.0, 2.718281828, 54.59815003});
  EXPECT_VALUES_NEAR(sqrt(x), 0, {0, 1, 2});
  const std::vector<double> logs = values_of(log(x));
  EXPECT_TRUE(std::isinf(logs[0]) && logs[0] < 0);
  EXPECT_NEAR(logs[2], std::log(4.0), 1e-6);
  EXPECT_TRUE(std::isnan(values_of(log(make({1}, {-1.f})))[0]));
}

TEST(Activation, ReluKeepsNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<double> r = values_of(relu(make({4}, {-2.f, 0.f, 3.f, nan})));
  EXPECT_EQ(r[0], 0);
  EXPECT_EQ(r[1], 0);
  EXPECT_EQ(r[2], 3);
  EXPECT_TRUE(std::isnan(r[3]));
}

TEST(Activation, GeluExactAndTanhForms) {
  const Tensor x = make<double>({4}, {1.0, -1.0, 0.5, -3.0});
  EXPECT_VALUES_NEAR(
      gelu(x), 1e-15,
      {0.841344746068543, -0.15865525393145702, 0.34573123063700656, -0.00404969409489031});
  EXPECT_VALUES_NEAR(
      gelu(x, /*approximate=*/true), 1e-15,
      {0.8411919906082768, -0.15880800939172324, 0.34571400982514394, -0.0036373920817729943});
  EXPECT_VALUES_NEAR(
      gelu(x.to(DType::kFloat32)), 1e-7,
      {0.841344746068543, -0.15865525393145702, 0.34573123063700656, -0.00404969409489031});
}

TEST(Activation, TanhAndSigmoid) {
  const Tensor x = make<double>({4}, {1.0, -1.0, 0.5, -3.0});
  EXPECT_VALUES_NEAR(
      tanh(x), 1e-15,
      {0.7615941559557649, -0.7615941559557649, 0.46211715726000974, -0.9950547536867305});
  EXPECT_VALUES_NEAR(
      sigmoid(x), 1e-15,
      {0.7310585786300049, 0.2689414213699951, 0.6224593312018546, 0.04742587317756678});
  // Large magnitudes saturate instead of overflowing into NaN.
  EXPECT_VALUES_NEAR(sigmoid(make({2}, {-200.f, 200.f})), 0, {0, 1});
}

TEST(Activation, KeepsDtypeAndAcceptsStrides) {
  const Tensor x = iota({3, 4}, DType::kFloat64).t();  // (4, 3), not contiguous
  const Tensor y = tanh(x);
  EXPECT_EQ(y.dtype(), DType::kFloat64);
  EXPECT_EQ(y.sizes(), (Shape{4, 3}));
  EXPECT_TRUE(y.is_contiguous());
  EXPECT_EQ(values_of(y), values_of(tanh(x.contiguous())));
  EXPECT_DOUBLE_EQ(y.at<double>({1, 2}), std::tanh(9.0));  // x[1][2] = source[2][1]
}

TEST(Activation, RefusesNonFloatingAndCudaInputs) {
  EXPECT_MNEMO_ERROR(relu(make<std::int64_t>({2}, {1, 2})), ErrorCode::kInvalidArgument,
                     "relu: input needs a floating dtype (float32 or float64), got int64");
  EXPECT_MNEMO_ERROR(gelu(ones({2}).to(DType::kFloat16)), ErrorCode::kInvalidArgument,
                     "got float16");
  EXPECT_MNEMO_ERROR(sigmoid(testing::cuda_tensor({2})), ErrorCode::kInvalidArgument,
                     testing::kCpuOnlyMessage);
  EXPECT_MNEMO_ERROR(exp(Tensor()), ErrorCode::kInvalidArgument, "undefined tensor");
}

}  // namespace
}  // namespace mnemo
