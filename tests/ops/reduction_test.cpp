#include "mnemo/ops/reduction.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "mnemo/ops/elementwise.h"
#include "ops/ops_test_util.h"

namespace mnemo {
namespace {

using testing::iota;
using testing::make;
using testing::values_of;

TEST(Sum, AllElementsGivesZeroDim) {
  const Tensor s = sum(iota({2, 3}));
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.dtype(), DType::kFloat32);
  EXPECT_EQ(s.item<double>(), 15);
  EXPECT_EQ(mean(iota({2, 3})).item<double>(), 2.5);
}

TEST(Sum, OverDimsWithAndWithoutKeepdim) {
  const Tensor x = iota({2, 3, 4});  // x[i][j][k] = 12i + 4j + k
  const Tensor s1 = sum(x, {1});
  EXPECT_EQ(s1.sizes(), (Shape{2, 4}));
  EXPECT_EQ(values_of(s1), (std::vector<double>{12, 15, 18, 21, 48, 51, 54, 57}));
  const Tensor s02 = sum(x, {0, -1}, /*keepdim=*/true);
  EXPECT_EQ(s02.sizes(), (Shape{1, 3, 1}));
  // Over i and k: sum 12i + 4j + k = 8 * 4j + 2 * 6 + 4 * 12 = 32j + 60.
  EXPECT_EQ(values_of(s02), (std::vector<double>{60, 92, 124}));
  const Tensor m = mean(x, {2});
  EXPECT_EQ(m.sizes(), (Shape{2, 3}));
  EXPECT_EQ(values_of(m), (std::vector<double>{1.5, 5.5, 9.5, 13.5, 17.5, 21.5}));
  EXPECT_EQ(sum(x, {}).dim(), 0);  // an empty list reduces everything, as in PyTorch
  EXPECT_EQ(sum(x, {}).item<double>(), 276);
}

TEST(Sum, NonContiguousInput) {
  const Tensor x = iota({3, 4}).t();  // (4, 3)
  EXPECT_EQ(values_of(sum(x, {0})), (std::vector<double>{6, 22, 38}));
  EXPECT_EQ(values_of(sum(x, {1})), (std::vector<double>{12, 15, 18, 21}));
  const Tensor expanded = make({3, 1}, {1.f, 2.f, 3.f}).expand({3, 5});
  EXPECT_EQ(values_of(sum(expanded, {1})), (std::vector<double>{5, 10, 15}));
  EXPECT_EQ(sum(expanded).item<double>(), 30);
}

TEST(Sum, Float32AccumulatesInDouble) {
  // In float32 arithmetic 1e8 + 1 == 1e8, so a float accumulator would return 0.
  EXPECT_EQ(sum(make({3}, {1e8f, 1.f, -1e8f})).item<double>(), 1.0);
  const Tensor many = full({1 << 20}, 0.1);
  EXPECT_NEAR(sum(many).item<double>(), 0.1f * (1 << 20), 1e-2);
  EXPECT_NEAR(mean(many).item<double>(), 0.1f, 1e-8);
}

TEST(Sum, IntegersAndBoolGiveInt64) {
  const Tensor i8 = make<std::int8_t>({3}, {100, 100, 100});
  EXPECT_EQ(sum(i8).dtype(), DType::kInt64);
  EXPECT_EQ(sum(i8).item<std::int64_t>(), 300);
  const Tensor flags = make<bool>({2, 2}, {true, false, true, true});
  EXPECT_EQ(values_of(sum(flags, {1})), (std::vector<double>{1, 2}));
  EXPECT_MNEMO_ERROR(mean(make<std::int64_t>({2}, {1, 2})), ErrorCode::kInvalidArgument,
                     "mean: needs a floating input");
}

TEST(Sum, EmptyReductions) {
  const Tensor empty_rows = zeros({0, 3});
  EXPECT_EQ(values_of(sum(empty_rows, {0})), (std::vector<double>{0, 0, 0}));
  EXPECT_TRUE(std::isnan(mean(empty_rows).item<double>()));
}

TEST(Sum, RejectsBadDims) {
  EXPECT_MNEMO_ERROR(sum(iota({2, 3}), {1, -1}), ErrorCode::kInvalidArgument,
                     "sum: dim 1 appears multiple times in the list of dims");
  EXPECT_THROW(sum(iota({2, 3}), {2}), Error);
  EXPECT_MNEMO_ERROR(sum(testing::cuda_tensor({2})), ErrorCode::kInvalidArgument,
                     testing::kCpuOnlyMessage);
}

TEST(Argmax, FirstMaximumAlongDim) {
  const Tensor x = make({2, 3}, {1.f, 5.f, 5.f, 7.f, -1.f, 2.f});
  const Tensor rows = argmax(x, 1);
  EXPECT_EQ(rows.dtype(), DType::kInt64);
  EXPECT_EQ(values_of(rows), (std::vector<double>{1, 0}));
  const Tensor cols = argmax(x, 0, /*keepdim=*/true);
  EXPECT_EQ(cols.sizes(), (Shape{1, 3}));
  EXPECT_EQ(values_of(cols), (std::vector<double>{1, 0, 0}));
  EXPECT_EQ(values_of(argmax(x.t(), -1)), (std::vector<double>{1, 0, 0}));
  EXPECT_EQ(values_of(argmax(make<std::int32_t>({3}, {4, 9, 9}), 0)), (std::vector<double>{1}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(argmax(make({3}, {1.f, nan, 9.f}), 0).item<std::int64_t>(), 1);
  EXPECT_MNEMO_ERROR(argmax(zeros({2, 0}), 1), ErrorCode::kInvalidArgument,
                     "expected reduction dim 1 to have non-zero size");
}

TEST(Softmax, KnownValuesAndStability) {
  const Tensor p = softmax(make({3}, {1.f, 2.f, 3.f}), 0);
  EXPECT_VALUES_NEAR(p, 1e-7, {0.09003057317038045, 0.2447284710547976, 0.6652409557748218});
  // Shifting the logits changes nothing; huge ones do not overflow.
  EXPECT_VALUES_NEAR(softmax(make({3}, {1001.f, 1002.f, 1003.f}), 0), 1e-7,
                     {0.09003057317038045, 0.2447284710547976, 0.6652409557748218});
  const Tensor lp = log_softmax(make<double>({3}, {1.0, 2.0, 3.0}), -1);
  EXPECT_EQ(lp.dtype(), DType::kFloat64);
  EXPECT_VALUES_NEAR(
      lp, 1e-15,
      {std::log(0.09003057317038045), std::log(0.2447284710547976), std::log(0.6652409557748218)});
}

TEST(Softmax, InnerDimensionMatchesTransposedComputation) {
  const Tensor x = mul(iota({2, 3, 4}), 0.3);
  const Tensor along_1 = softmax(x, 1);  // elements of a row are 4 apart
  const Tensor reference = softmax(x.transpose(1, 2).contiguous(), 2).transpose(1, 2);
  EXPECT_TRUE(along_1.allclose(reference, 1e-6, 1e-7));
  EXPECT_VALUES_NEAR(sum(along_1, {1}), 1e-6, std::vector<double>(8, 1.0));
  const Tensor log_along_1 = log_softmax(x.transpose(0, 2), 1);  // non-contiguous input
  EXPECT_TRUE(exp(log_along_1).allclose(softmax(x.transpose(0, 2), 1), 1e-5, 1e-7));
  EXPECT_MNEMO_ERROR(softmax(make<std::int64_t>({2}, {1, 2}), 0), ErrorCode::kInvalidArgument,
                     "softmax: input needs a floating dtype");
}

}  // namespace
}  // namespace mnemo
