// Finite-difference checks of embedding (repeated indices, padding_idx) and dropout
// (the same seeded mask in forward and backward).
#include <gtest/gtest.h>

#include "autograd/gradcheck.h"
#include "mnemo/ops/elementwise.h"
#include "mnemo/ops/embedding.h"
#include "mnemo/ops/reduction.h"

namespace mnemo::testing {
namespace {

Tensor indices(std::initializer_list<std::int64_t> values, const Shape& shape) {
  return tensor<std::int64_t>(values).view(shape);
}

TEST(EmbeddingGrad, RepeatedIndicesAccumulate) {
  const Tensor idx = indices({3, 0, 3, 1, 4, 3}, {2, 3});
  EXPECT_TRUE(gradcheck([&](const auto& x) { return embedding(x[0], idx); }, {leaf({5, 4}, 1)}));
  const Tensor w = leaf({5, 2}, 2);
  sum(embedding(w, idx)).backward();
  EXPECT_EQ(w.grad().at<double>({3, 0}), 3.0);
  EXPECT_EQ(w.grad().at<double>({2, 1}), 0.0);
}

TEST(EmbeddingGrad, PaddingRowGetsNoGradient) {
  const Tensor idx = indices({2, 0, 2, 1}, {4});
  const Tensor w = leaf({4, 3}, 3);
  const Tensor out = embedding(w, idx, /*padding_idx=*/2);
  EXPECT_TRUE(out.allclose(embedding(w.detach(), idx)));  // the lookup is unchanged
  sum(mul(out, 2.0)).backward();
  for (std::int64_t j = 0; j < 3; ++j) {
    EXPECT_EQ(w.grad().at<double>({2, j}), 0.0);
    EXPECT_EQ(w.grad().at<double>({0, j}), 2.0);
    EXPECT_EQ(w.grad().at<double>({3, j}), 0.0);
  }
  // A negative padding_idx counts from the end.
  const Tensor v = leaf({4, 3}, 4);
  sum(embedding(v, idx, -2)).backward();
  EXPECT_EQ(v.grad().at<double>({2, 1}), 0.0);
  EXPECT_EQ(v.grad().at<double>({1, 1}), 1.0);
  // With the padding row unused, the rest of the gradient is the plain one.
  EXPECT_TRUE(gradcheck([&](const auto& x) { return embedding(x[0], idx, 3); }, {leaf({4, 3}, 5)}));
}

TEST(DropoutGrad, SameMaskInForwardAndBackward) {
  for (double p : {0.2, 0.5, 0.9}) {
    SCOPED_TRACE(p);
    // A new generator with the same seed on every evaluation: the same mask each time.
    EXPECT_TRUE(gradcheck(
        [p](const auto& x) {
          Generator gen(42);
          return dropout(x[0], p, /*training=*/true, &gen);
        },
        {leaf({4, 5}, 6)}));
  }
  const Tensor x = ones({1000}, {.dtype = DType::kFloat64, .requires_grad = true});
  Generator gen(7);
  const Tensor y = dropout(x, 0.25, true, &gen);
  sum(y).backward();
  // Each gradient is the output's value: 0 where dropped, 1 / (1 - p) where kept.
  EXPECT_TRUE(x.grad().equal(y.detach()));
  EXPECT_GT(sum(x.grad()).item<double>(), 0.0);
}

TEST(DropoutGrad, ProbabilityOneAndEvaluation) {
  const Tensor x = leaf({3}, 8);
  sum(dropout(x, 1.0, true)).backward();
  EXPECT_TRUE(x.grad().equal(zeros({3}, {.dtype = DType::kFloat64})));
  const Tensor y = dropout(x, 0.5, /*training=*/false);
  EXPECT_TRUE(y.is_same(x));  // the input itself, as F.dropout(training=False)
}

}  // namespace
}  // namespace mnemo::testing
