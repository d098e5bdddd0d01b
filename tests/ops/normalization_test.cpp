#include "mnemo/ops/normalization.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ops/ops_test_util.h"

namespace mnemo {
namespace {

using testing::iota;
using testing::make;
using testing::values_of;

constexpr double kEps = 1e-5;

// (N=2, C=2, L=2). Channel 0 holds 1, 2, 3, 6: mean 3, biased variance 14/4,
// unbiased 14/3. Channel 1 holds 10, 20, 30, 40: mean 25, variance 500/4 and 500/3.
Tensor batch() { return make({2, 2, 2}, {1.f, 2.f, 10.f, 20.f, 3.f, 6.f, 30.f, 40.f}); }

std::vector<double> normalized(const std::vector<double>& x, const double mean[2],
                               const double var[2], const double w[2], const double b[2]) {
  std::vector<double> out;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::size_t c = (i / 2) % 2;
    out.push_back((x[i] - mean[c]) / std::sqrt(var[c] + kEps) * w[c] + b[c]);
  }
  return out;
}

TEST(BatchNorm, TrainingUsesBatchStatsAndUpdatesRunningStats) {
  const Tensor x = batch();
  const Tensor running_mean = zeros({2});
  const Tensor running_var = ones({2});
  const Tensor weight = make({2}, {2.f, 0.5f});
  const Tensor bias = make({2}, {1.f, -1.f});
  const Tensor y = batch_norm(x, running_mean, running_var, weight, bias, /*training=*/true,
                              /*momentum=*/0.1, kEps);
  const double mean[2] = {3, 25}, biased[2] = {3.5, 125}, w[2] = {2, 0.5}, b[2] = {1, -1};
  EXPECT_THAT(values_of(y), ::testing::Pointwise(::testing::DoubleNear(1e-5),
                                                 normalized(values_of(x), mean, biased, w, b)));
  // running = 0.9 * running + 0.1 * batch statistic, with the unbiased variance.
  EXPECT_VALUES_NEAR(running_mean, 1e-6, {0.3, 2.5});
  EXPECT_VALUES_NEAR(running_var, 1e-5, {0.9 + 0.1 * 14.0 / 3.0, 0.9 + 0.1 * 500.0 / 3.0});
  EXPECT_EQ(values_of(x), values_of(batch()));  // the input is untouched
}

TEST(BatchNorm, EvaluationUsesRunningStats) {
  const Tensor running_mean = make({2}, {1.f, 20.f});
  const Tensor running_var = make({2}, {4.f, 100.f});
  const Tensor y = batch_norm(batch(), running_mean, running_var, Tensor(), Tensor(),
                              /*training=*/false, 0.1, kEps);
  const double mean[2] = {1, 20}, var[2] = {4, 100}, w[2] = {1, 1}, b[2] = {0, 0};
  EXPECT_THAT(values_of(y), ::testing::Pointwise(::testing::DoubleNear(1e-5),
                                                 normalized(values_of(batch()), mean, var, w, b)));
  EXPECT_EQ(values_of(running_mean), (std::vector<double>{1, 20}));  // unchanged
  EXPECT_EQ(values_of(running_var), (std::vector<double>{4, 100}));
}

TEST(BatchNorm, TrainingWithoutRunningStatsAndFloat64) {
  const Tensor x = batch().to(DType::kFloat64);
  const Tensor y = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, kEps);
  EXPECT_EQ(y.dtype(), DType::kFloat64);
  const double mean[2] = {3, 25}, biased[2] = {3.5, 125}, w[2] = {1, 1}, b[2] = {0, 0};
  EXPECT_THAT(values_of(y), ::testing::Pointwise(::testing::DoubleNear(1e-12),
                                                 normalized(values_of(x), mean, biased, w, b)));
  // Running stats of another dtype and strides are updated in place.
  const Tensor stats = zeros({2, 2}, {.dtype = DType::kFloat32});
  const Tensor running_mean = stats.select(1, 0);  // stride 2
  const Tensor running_var = stats.select(1, 1);
  running_var.fill_(1.0);
  batch_norm(x, running_mean, running_var, Tensor(), Tensor(), true, 1.0, kEps);
  EXPECT_VALUES_NEAR(stats, 1e-5, {3, 14.0 / 3.0, 25, 500.0 / 3.0});
}

TEST(BatchNorm, SpatialAndNonContiguousInput) {
  const Tensor x = iota({3, 2, 4, 5}).transpose(2, 3);  // (3, 2, 5, 4)
  ASSERT_FALSE(x.is_contiguous());
  const Tensor y = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, kEps);
  EXPECT_TRUE(y.allclose(
      batch_norm(x.contiguous(), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, kEps)));
  // Each channel of the result has mean 0 and (biased) variance 1 - eps / (var + eps).
  const std::vector<double> v = values_of(y.select(1, 1));
  double s = 0, ss = 0;
  for (double e : v) {
    s += e;
    ss += e * e;
  }
  EXPECT_NEAR(s / static_cast<double>(v.size()), 0.0, 1e-6);
  EXPECT_NEAR(ss / static_cast<double>(v.size()), 1.0, 1e-5);
}

TEST(BatchNorm, Errors) {
  EXPECT_MNEMO_ERROR(
      batch_norm(batch(), zeros({3}), ones({3}), Tensor(), Tensor(), true, 0.1, kEps),
      ErrorCode::kInvalidArgument, "running_mean should contain 2 elements not 3");
  EXPECT_MNEMO_ERROR(
      batch_norm(zeros({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, kEps),
      ErrorCode::kInvalidArgument,
      "expected more than 1 value per channel when training, got input size "
      "torch.Size([1, 3])");
  EXPECT_MNEMO_ERROR(batch_norm(batch(), Tensor(), Tensor(), Tensor(), Tensor(), false, 0.1, kEps),
                     ErrorCode::kInvalidArgument, "needed in evaluation mode");
  EXPECT_MNEMO_ERROR(batch_norm(batch(), Tensor(), Tensor(), ones({4}), Tensor(), true, 0.1, kEps),
                     ErrorCode::kInvalidArgument, "weight should contain 2 elements not 4");
  EXPECT_MNEMO_ERROR(batch_norm(batch(), zeros({2}), testing::cuda_tensor({2}), Tensor(), Tensor(),
                                true, 0.1, kEps),
                     ErrorCode::kInvalidArgument, "running_var tensor is on cuda:0");
  EXPECT_MNEMO_ERROR(batch_norm(batch().to(DType::kInt32), Tensor(), Tensor(), Tensor(), Tensor(),
                                true, 0.1, kEps),
                     ErrorCode::kInvalidArgument, "needs a floating dtype");
}

TEST(LayerNorm, NormalizesTrailingDims) {
  const Tensor x = make({2, 4}, {1.f, 2.f, 3.f, 4.f, 2.f, 4.f, 6.f, 8.f});
  // Row 0: mean 2.5, variance 1.25; row 1: mean 5, variance 5.
  const double r0 = 1 / std::sqrt(1.25 + kEps), r1 = 1 / std::sqrt(5 + kEps);
  EXPECT_VALUES_NEAR(layer_norm(x, {4}, Tensor(), Tensor(), kEps), 1e-6,
                     {-1.5 * r0, -0.5 * r0, 0.5 * r0, 1.5 * r0, -3 * r1, -1 * r1, 1 * r1, 3 * r1});
  const Tensor w = make({4}, {1.f, 2.f, 3.f, 4.f});
  const Tensor b = make({4}, {0.f, 0.f, 0.f, 10.f});
  EXPECT_VALUES_NEAR(
      layer_norm(x, {4}, w, b, kEps), 1e-6,
      {-1.5 * r0, -1 * r0, 1.5 * r0, 6 * r0 + 10, -3 * r1, -2 * r1, 3 * r1, 12 * r1 + 10});
  // Over the last two dims of a (2, 2, 2) view: the same rows.
  const Tensor two_dims = layer_norm(x.view({2, 2, 2}), {2, 2}, Tensor(), Tensor(), kEps);
  EXPECT_EQ(two_dims.sizes(), (Shape{2, 2, 2}));
  EXPECT_EQ(values_of(two_dims), values_of(layer_norm(x, {4}, Tensor(), Tensor(), kEps)));
}

TEST(LayerNorm, Float64AndNonContiguous) {
  const Tensor x = iota({4, 3}, DType::kFloat64).t();  // (3, 4), rows 0 3 6 9 etc.
  const Tensor y = layer_norm(x, {4}, Tensor(), Tensor(), 0.0);
  EXPECT_EQ(y.dtype(), DType::kFloat64);
  const double r = 1 / std::sqrt(11.25);  // rows are 3 apart: variance 9 * 1.25
  EXPECT_VALUES_NEAR(y.select(0, 2), 1e-12, {-4.5 * r, -1.5 * r, 1.5 * r, 4.5 * r});
}

TEST(LayerNorm, Errors) {
  EXPECT_MNEMO_ERROR(layer_norm(zeros({2, 3}), {4}, Tensor(), Tensor(), kEps),
                     ErrorCode::kInvalidArgument,
                     "given normalized_shape=torch.Size([4]), expected input with shape [*, "
                     "...normalized_shape], but got input of size torch.Size([2, 3])");
  EXPECT_MNEMO_ERROR(layer_norm(zeros({2, 3}), {3}, zeros({4}), Tensor(), kEps),
                     ErrorCode::kInvalidArgument, "expected weight of shape torch.Size([3])");
  EXPECT_MNEMO_ERROR(layer_norm(testing::cuda_tensor({2, 3}), {3}, Tensor(), Tensor(), kEps),
                     ErrorCode::kInvalidArgument, testing::kCpuOnlyMessage);
}

}  // namespace
}  // namespace mnemo
