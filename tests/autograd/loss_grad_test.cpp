// Finite-difference checks of cross_entropy (every reduction, label smoothing), nll_loss
// and mse_loss.
#include <gtest/gtest.h>

#include "autograd/gradcheck.h"
#include "mnemo/ops/loss.h"
#include "mnemo/ops/reduction.h"

namespace mnemo::testing {
namespace {

const Reduction kReductions[] = {Reduction::kMean, Reduction::kSum, Reduction::kNone};

TEST(LossGrad, CrossEntropy) {
  const Tensor target = tensor<std::int64_t>({2, 0, 4, 2});
  for (Reduction reduction : kReductions) {
    for (double smoothing : {0.0, 0.1, 0.7}) {
      SCOPED_TRACE(::testing::Message() << static_cast<int>(reduction) << " " << smoothing);
      EXPECT_TRUE(gradcheck(
          [&](const auto& x) { return cross_entropy(x[0], target, reduction, smoothing); },
          {leaf({4, 5}, 1)}));
    }
  }
  // Unbatched logits with a 0-dim target.
  const Tensor one = scalar_tensor<std::int64_t>(3);
  EXPECT_TRUE(
      gradcheck([&](const auto& x) { return cross_entropy(x[0], one, Reduction::kMean, 0.2); },
                {leaf({6}, 2)}));
}

TEST(LossGrad, NllLoss) {
  const Tensor target = tensor<std::int32_t>({1, 1, 0});
  for (Reduction reduction : kReductions) {
    SCOPED_TRACE(static_cast<int>(reduction));
    EXPECT_TRUE(gradcheck([&](const auto& x) { return nll_loss(x[0], target, reduction); },
                          {leaf({3, 4}, 3)}));
  }
  // The gradient is -1/N at each target, zero elsewhere.
  const Tensor x = leaf({2, 3}, 4);
  nll_loss(x, tensor<std::int64_t>({2, 0})).backward();
  EXPECT_EQ(x.grad().at<double>({0, 2}), -0.5);
  EXPECT_EQ(x.grad().at<double>({1, 0}), -0.5);
  EXPECT_EQ(x.grad().at<double>({0, 0}), 0.0);
}

TEST(LossGrad, MseLoss) {
  for (Reduction reduction : kReductions) {
    SCOPED_TRACE(static_cast<int>(reduction));
    EXPECT_TRUE(gradcheck([&](const auto& x) { return mse_loss(x[0], x[1], reduction); },
                          {leaf({3, 4}, 5), leaf({3, 4}, 6)}));
  }
  EXPECT_TRUE(gradcheck([](const auto& x) { return mse_loss(x[0], x[1]); },
                        {leaf({3, 4}, 7), leaf({4}, 8)}));  // a broadcast target
}

}  // namespace
}  // namespace mnemo::testing
