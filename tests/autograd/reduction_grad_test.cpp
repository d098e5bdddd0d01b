// Finite-difference checks of sum, mean, softmax and log_softmax.
#include <gtest/gtest.h>

#include "autograd/gradcheck.h"
#include "mnemo/ops/reduction.h"

namespace mnemo::testing {
namespace {

TEST(ReductionGrad, SumAndMeanOverEverything) {
  for (const Shape& shape : {Shape{5}, Shape{2, 3, 4}, Shape{}}) {
    SCOPED_TRACE(shape_repr(shape));
    const std::vector<Tensor> in = {leaf(shape, 1)};
    EXPECT_TRUE(gradcheck([](const auto& x) { return sum(x[0]); }, in));
    EXPECT_TRUE(gradcheck([](const auto& x) { return mean(x[0]); }, in));
  }
}

TEST(ReductionGrad, SumAndMeanOverDims) {
  const std::vector<Tensor> in = {leaf({2, 3, 4}, 2)};
  for (const Shape& dims : {Shape{0}, Shape{1}, Shape{-1}, Shape{0, 2}, Shape{2, 0, 1}}) {
    for (bool keepdim : {false, true}) {
      SCOPED_TRACE(shape_repr(dims) + (keepdim ? " keepdim" : ""));
      EXPECT_TRUE(gradcheck([&](const auto& x) { return sum(x[0], dims, keepdim); }, in));
      EXPECT_TRUE(gradcheck([&](const auto& x) { return mean(x[0], dims, keepdim); }, in));
    }
  }
}

TEST(ReductionGrad, SoftmaxAndLogSoftmax) {
  const std::vector<Tensor> in = {leaf({3, 4, 5}, 3)};
  for (std::int64_t dim : {0, 1, 2, -1}) {
    SCOPED_TRACE(dim);
    EXPECT_TRUE(gradcheck([&](const auto& x) { return softmax(x[0], dim); }, in));
    EXPECT_TRUE(gradcheck([&](const auto& x) { return log_softmax(x[0], dim); }, in));
  }
  // A non-contiguous input, and a 1-D one.
  EXPECT_TRUE(gradcheck([](const auto& x) { return log_softmax(x[0].transpose(0, 2), 1); }, in));
  const std::vector<Tensor> row = {leaf({6}, 4)};
  EXPECT_TRUE(gradcheck([](const auto& x) { return log_softmax(x[0], 0); }, row));
  EXPECT_TRUE(gradcheck([](const auto& x) { return softmax(x[0], 0); }, row));
}

TEST(ReductionGrad, ArgmaxIsNotDifferentiable) {
  const Tensor x = leaf({3, 4}, 5);
  EXPECT_FALSE(argmax(x, 1).requires_grad());
  EXPECT_TRUE(sum(x, {1}).requires_grad());
  EXPECT_EQ(sum(x, {1}).grad_fn()->name(), "SumBackward1");
  EXPECT_EQ(mean(x).grad_fn()->name(), "MeanBackward0");
}

}  // namespace
}  // namespace mnemo::testing
