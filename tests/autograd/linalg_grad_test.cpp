// Finite-difference checks of matmul (every rank combination, broadcast batches) and
// linear.
#include <gtest/gtest.h>

#include "autograd/gradcheck.h"
#include "mnemo/ops/linalg.h"

namespace mnemo::testing {
namespace {

TEST(LinalgGrad, MatmulShapes) {
  struct Case {
    Shape a, b;
  };
  const Case cases[] = {
      {{4}, {4}},                 // dot
      {{4}, {4, 3}},              // vector @ matrix
      {{2, 4}, {4}},              // matrix @ vector
      {{2, 4}, {4, 3}},           // matrix @ matrix
      {{2, 3, 4}, {4, 5}},        // batch @ matrix (folded into one GEMM)
      {{3, 4}, {2, 4, 5}},        // matrix @ batch
      {{2, 1, 3, 4}, {3, 4, 2}},  // broadcast batches
      {{4}, {2, 4, 3}},           // vector @ batch
      {{2, 3, 4}, {4}},           // batch @ vector
  };
  for (const auto& [sa, sb] : cases) {
    SCOPED_TRACE(shape_repr(sa) + " @ " + shape_repr(sb));
    EXPECT_TRUE(
        gradcheck([](const auto& x) { return matmul(x[0], x[1]); }, {leaf(sa, 1), leaf(sb, 2)}));
  }
}

TEST(LinalgGrad, MatmulOfTransposedOperands) {
  EXPECT_TRUE(gradcheck([](const auto& x) { return matmul(x[0].t(), x[1].transpose(0, 1)); },
                        {leaf({4, 2}, 3), leaf({3, 4}, 4)}));
}

TEST(LinalgGrad, Linear) {
  for (const Shape& input : {Shape{5}, Shape{3, 5}, Shape{2, 3, 5}}) {
    SCOPED_TRACE(shape_repr(input));
    EXPECT_TRUE(gradcheck([](const auto& x) { return linear(x[0], x[1], x[2]); },
                          {leaf(input, 5), leaf({4, 5}, 6), leaf({4}, 7)}));
    EXPECT_TRUE(gradcheck([](const auto& x) { return linear(x[0], x[1]); },
                          {leaf(input, 5), leaf({4, 5}, 6)}));
  }
  // Non-contiguous input and weight; only the weight requiring grad.
  EXPECT_TRUE(gradcheck([](const auto& x) { return linear(x[0].t(), x[1].t(), x[2]); },
                        {leaf({5, 3}, 8), leaf({5, 4}, 9), leaf({4}, 10)}));
  const Tensor data = leaf({3, 5}, 11, /*requires_grad=*/false);
  EXPECT_TRUE(gradcheck([&](const auto& x) { return linear(data, x[0], x[1]); },
                        {leaf({4, 5}, 12), leaf({4}, 13)}));
}

}  // namespace
}  // namespace mnemo::testing
