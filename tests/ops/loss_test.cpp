#include "mnemo/ops/loss.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ops/ops_test_util.h"

namespace mnemo {
namespace {

using testing::make;
using testing::values_of;

TEST(CrossEntropy, MatchesTheFormula) {
  const Tensor logits = make({2, 3}, {1, 2, 3, 0, 0, 0});
  const Tensor target = make<std::int64_t>({2}, {2, 1});
  // -log softmax: log(e + e^2 + e^3) - 3 for the first row, log 3 for the second.
  const double first = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;
  const double second = std::log(3.0);
  EXPECT_VALUES_NEAR(cross_entropy(logits, target, Reduction::kNone), 1e-6, {first, second});
  EXPECT_NEAR(cross_entropy(logits, target).item<double>(), (first + second) / 2, 1e-6);
  EXPECT_NEAR(cross_entropy(logits, target, Reduction::kSum).item<double>(), first + second, 1e-6);
  // Label smoothing e: (1 - e) nll + e / C * sum over classes of -log p.
  const double lse = first + 3.0;
  const double smooth_first = 3 * lse - 6.0, smooth_second = 3 * second;
  const double e = 0.1;
  EXPECT_VALUES_NEAR(
      cross_entropy(logits, target, Reduction::kNone, e), 1e-6,
      {(1 - e) * first + e / 3 * smooth_first, (1 - e) * second + e / 3 * smooth_second});
  EXPECT_NEAR(cross_entropy(logits, target, Reduction::kMean, e).item<double>(),
              ((1 - e) * (first + second) + e / 3 * (smooth_first + smooth_second)) / 2, 1e-6);
  // Unbatched logits with a 0-dim target.
  EXPECT_NEAR(cross_entropy(make({3}, {1, 2, 3}), make<std::int64_t>({}, {2})).item<double>(),
              first, 1e-6);
  EXPECT_EQ(cross_entropy(logits.to(DType::kFloat64), target).dtype(), DType::kFloat64);
}

TEST(NllLoss, PicksTheTargetEntries) {
  const Tensor log_probs = make({2, 2}, {-1, -2, -3, -4});
  const Tensor target = make<std::int32_t>({2}, {1, 0});
  EXPECT_EQ(values_of(nll_loss(log_probs, target, Reduction::kNone)), (std::vector<double>{2, 3}));
  EXPECT_EQ(nll_loss(log_probs, target).item<double>(), 2.5);
  EXPECT_EQ(nll_loss(log_probs, target, Reduction::kSum).item<double>(), 5.0);
}

TEST(MseLoss, Reductions) {
  const Tensor a = make({3}, {1, 2, 3});
  const Tensor b = make({3}, {1, 0, 0});
  EXPECT_EQ(values_of(mse_loss(a, b, Reduction::kNone)), (std::vector<double>{0, 4, 9}));
  EXPECT_NEAR(mse_loss(a, b).item<double>(), 13.0 / 3, 1e-6);
  EXPECT_EQ(mse_loss(a, b, Reduction::kSum).item<double>(), 13.0);
  EXPECT_EQ(mse_loss(make({2, 1}, {1, 2}), make({3}, {0, 0, 0}), Reduction::kSum).item<double>(),
            15.0);  // broadcast to (2, 3)
}

TEST(Losses, Errors) {
  const Tensor logits = zeros({2, 3});
  EXPECT_MNEMO_ERROR(cross_entropy(logits, make<std::int64_t>({2}, {0, 5})),
                     ErrorCode::kInvalidArgument, "Target 5 is out of bounds.");
  EXPECT_MNEMO_ERROR(cross_entropy(logits, make<std::int64_t>({2}, {0, -1})),
                     ErrorCode::kInvalidArgument, "Target -1 is out of bounds.");
  EXPECT_MNEMO_ERROR(cross_entropy(logits, make<std::int64_t>({3}, {0, 1, 2})),
                     ErrorCode::kInvalidArgument,
                     "Expected input batch_size (2) to match target batch_size (3).");
  EXPECT_MNEMO_ERROR(cross_entropy(logits, zeros({2})), ErrorCode::kInvalidArgument,
                     "target must hold class indices");
  EXPECT_MNEMO_ERROR(cross_entropy(logits, make<std::int64_t>({2}, {0, 1}), Reduction::kMean, 1.5),
                     ErrorCode::kInvalidArgument,
                     "label_smoothing must be between 0.0 and 1.0. Got: 1.5");
  EXPECT_MNEMO_ERROR(cross_entropy(zeros({2, 3, 4}), make<std::int64_t>({2}, {0, 1})),
                     ErrorCode::kInvalidArgument, "expected input of shape (N, C) or (C)");
  EXPECT_MNEMO_ERROR(nll_loss(logits, make<std::int64_t>({}, {0})), ErrorCode::kInvalidArgument,
                     "expected a 1-D target");
  EXPECT_MNEMO_ERROR(mse_loss(make<std::int64_t>({1}, {1}), zeros({1})),
                     ErrorCode::kInvalidArgument, "needs a floating dtype");
}

}  // namespace
}  // namespace mnemo
