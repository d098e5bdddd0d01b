// Finite-difference checks of batch_norm (training through the batch statistics, and
// evaluation with running statistics) and layer_norm over several trailing dimensions.
#include <gtest/gtest.h>

#include "autograd/gradcheck.h"
#include "mnemo/ops/elementwise.h"
#include "mnemo/ops/normalization.h"

namespace mnemo::testing {
namespace {

constexpr double kEps = 1e-5;

TEST(NormalizationGrad, BatchNormTraining) {
  for (const Shape& shape : {Shape{4, 3}, Shape{3, 2, 5}, Shape{2, 3, 4, 3}}) {
    SCOPED_TRACE(shape_repr(shape));
    const std::int64_t c = shape[1];
    // The running statistics change on every call; training normalises with the batch's.
    const Tensor running_mean = zeros({c}, {.dtype = DType::kFloat64});
    const Tensor running_var = ones({c}, {.dtype = DType::kFloat64});
    EXPECT_TRUE(gradcheck(
        [&](const auto& x) {
          return batch_norm(x[0], running_mean, running_var, x[1], x[2], true, 0.1, kEps);
        },
        {leaf(shape, 1), leaf({c}, 2), leaf({c}, 3)}));
    // Without affine parameters and without running statistics.
    EXPECT_TRUE(gradcheck(
        [&](const auto& x) {
          return batch_norm(x[0], Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, kEps);
        },
        {leaf(shape, 4)}));
  }
}

TEST(NormalizationGrad, BatchNormEvaluation) {
  const Tensor running_mean = tensor<double>({0.5, -1.0, 2.0});
  const Tensor running_var = tensor<double>({1.5, 0.25, 3.0});
  EXPECT_TRUE(gradcheck(
      [&](const auto& x) {
        return batch_norm(x[0], running_mean, running_var, x[1], x[2], false, 0.1, kEps);
      },
      {leaf({2, 3, 2, 2}, 5), leaf({3}, 6), leaf({3}, 7)}));
  EXPECT_TRUE(gradcheck(
      [&](const auto& x) {
        return batch_norm(x[0], running_mean, running_var, Tensor(), Tensor(), false, 0.1, kEps);
      },
      {leaf({4, 3}, 8)}));
}

TEST(NormalizationGrad, BatchNormRunningStatsAreNotRecorded) {
  const Tensor running_mean = zeros({3});
  const Tensor running_var = ones({3});
  const Tensor x = leaf({4, 3}, 9).to(DType::kFloat32);
  batch_norm(x, running_mean, running_var, Tensor(), Tensor(), true, 0.1, kEps);
  EXPECT_FALSE(running_mean.requires_grad());
  EXPECT_TRUE(running_mean.is_leaf());
  EXPECT_NE(running_mean.at<float>({0}), 0.0f);  // it was updated
}

TEST(NormalizationGrad, LayerNorm) {
  struct Case {
    Shape input, normalized;
  };
  const Case cases[] = {{{3, 5}, {5}}, {{2, 3, 4}, {4}}, {{2, 3, 4}, {3, 4}}, {{6}, {6}}};
  for (const auto& [input, normalized] : cases) {
    SCOPED_TRACE(shape_repr(input) + " over " + shape_repr(normalized));
    const Shape norm = normalized;
    EXPECT_TRUE(gradcheck([&](const auto& x) { return layer_norm(x[0], norm, x[1], x[2], kEps); },
                          {leaf(input, 10), leaf(normalized, 11), leaf(normalized, 12)}));
    EXPECT_TRUE(
        gradcheck([&](const auto& x) { return layer_norm(x[0], norm, Tensor(), Tensor(), kEps); },
                  {leaf(input, 13)}));
  }
  EXPECT_TRUE(gradcheck(
      [](const auto& x) { return layer_norm(x[0].transpose(0, 1), {2}, x[1], Tensor(), kEps); },
      {leaf({2, 3}, 14), leaf({2}, 15)}));
}

}  // namespace
}  // namespace mnemo::testing
