// Finite-difference checks of the elementwise ops' backward: broadcasting arithmetic,
// scalars, negation and the activations.
#include <gtest/gtest.h>

#include "autograd/gradcheck.h"
#include "mnemo/ops/elementwise.h"
#include "mnemo/ops/reduction.h"

namespace mnemo::testing {
namespace {

struct ShapePair {
  Shape a, b;
};

// Same shapes, a trailing-dimension broadcast (a bias), size-1 dimensions on both
// sides, a missing leading dimension, and a 0-dim operand.
const ShapePair kBroadcasts[] = {
    {{3, 4}, {3, 4}}, {{2, 3, 4}, {4}}, {{2, 1, 4}, {1, 3, 1}}, {{3, 1}, {2, 3, 5}}, {{2, 3}, {}},
};

TEST(ElementwiseGrad, AddAndSubBroadcast) {
  for (const auto& [sa, sb] : kBroadcasts) {
    SCOPED_TRACE(shape_repr(sa) + " with " + shape_repr(sb));
    const std::vector<Tensor> in = {leaf(sa, 1), leaf(sb, 2)};
    EXPECT_TRUE(gradcheck([](const auto& x) { return add(x[0], x[1]); }, in));
    EXPECT_TRUE(gradcheck([](const auto& x) { return add(x[0], x[1], 2.5); }, in));
    EXPECT_TRUE(gradcheck([](const auto& x) { return sub(x[0], x[1]); }, in));
    EXPECT_TRUE(gradcheck([](const auto& x) { return sub(x[1], x[0], -0.5); }, in));
  }
}

TEST(ElementwiseGrad, MulAndDivBroadcast) {
  for (const auto& [sa, sb] : kBroadcasts) {
    SCOPED_TRACE(shape_repr(sa) + " with " + shape_repr(sb));
    // Divisors away from zero, where the quotient's derivative stays moderate.
    const std::vector<Tensor> in = {leaf(sa, 3),
                                    add(leaf(sb, 4, false), 3.0).set_requires_grad(true)};
    EXPECT_TRUE(gradcheck([](const auto& x) { return mul(x[0], x[1]); }, in));
    EXPECT_TRUE(gradcheck([](const auto& x) { return div(x[0], x[1]); }, in));
    EXPECT_TRUE(gradcheck([](const auto& x) { return div(x[1], add(mul(x[0], x[0]), 1.0)); }, in));
  }
}

TEST(ElementwiseGrad, OnlyOneOperandRequiresGrad) {
  const Tensor a = leaf({2, 3}, 5);
  const Tensor b = leaf({3}, 6, /*requires_grad=*/false);
  EXPECT_TRUE(gradcheck([&](const auto& x) { return mul(b, x[0]); }, {a}));
  EXPECT_TRUE(gradcheck([&](const auto& x) { return div(x[0], add(b, 4.0)); }, {a}));
  EXPECT_FALSE(b.grad().defined());
}

TEST(ElementwiseGrad, ScalarOperandsAndNeg) {
  const std::vector<Tensor> in = {leaf({3, 2}, 7)};
  EXPECT_TRUE(gradcheck([](const auto& x) { return add(x[0], 1.5); }, in));
  EXPECT_TRUE(gradcheck([](const auto& x) { return mul(x[0], -3.0); }, in));
  EXPECT_TRUE(gradcheck([](const auto& x) { return div(x[0], 4.0); }, in));
  EXPECT_TRUE(gradcheck([](const auto& x) { return neg(x[0]); }, in));
  EXPECT_TRUE(gradcheck([](const auto& x) { return 2.0 * x[0] - x[0] * x[0] / 3.0; }, in));
}

TEST(ElementwiseGrad, Activations) {
  for (const Shape& shape : {Shape{7}, Shape{2, 3, 4}, Shape{}}) {
    SCOPED_TRACE(shape_repr(shape));
    const std::vector<Tensor> in = {leaf(shape, 8)};
    EXPECT_TRUE(gradcheck([](const auto& x) { return relu(x[0]); }, in));
    EXPECT_TRUE(gradcheck([](const auto& x) { return gelu(x[0]); }, in));
    EXPECT_TRUE(gradcheck([](const auto& x) { return gelu(x[0], /*approximate=*/true); }, in));
    EXPECT_TRUE(gradcheck([](const auto& x) { return tanh(x[0]); }, in));
    EXPECT_TRUE(gradcheck([](const auto& x) { return sigmoid(x[0]); }, in));
    EXPECT_TRUE(gradcheck([](const auto& x) { return exp(x[0]); }, in));
  }
  // Wide inputs reach the tails of gelu and sigmoid.
  const std::vector<Tensor> wide = {mul(leaf({20}, 9, false), 4.0).set_requires_grad(true)};
  EXPECT_TRUE(gradcheck([](const auto& x) { return gelu(x[0]); }, wide));
  EXPECT_TRUE(gradcheck([](const auto& x) { return gelu(x[0], true); }, wide));
  EXPECT_TRUE(gradcheck([](const auto& x) { return sigmoid(x[0]); }, wide));
  // log and sqrt on positive inputs.
  const std::vector<Tensor> positive = {
      add(exp(leaf({2, 5}, 10, false)), 0.5).set_requires_grad(true)};
  EXPECT_TRUE(gradcheck([](const auto& x) { return log(x[0]); }, positive));
  EXPECT_TRUE(gradcheck([](const auto& x) { return sqrt(x[0]); }, positive));
}

TEST(ElementwiseGrad, ReluGradientIsZeroWhereTheOutputIs) {
  const Tensor x = tensor<double>({-2.0, 0.0, 3.0}).set_requires_grad(true);
  sum(relu(x)).backward();
  EXPECT_EQ(x.grad().at<double>({0}), 0.0);
  EXPECT_EQ(x.grad().at<double>({1}), 0.0);  // PyTorch's choice at 0
  EXPECT_EQ(x.grad().at<double>({2}), 1.0);
}

TEST(ElementwiseGrad, MixedDtypesGiveEachOperandItsOwnDtype) {
  const Tensor a = ones({3}, {.dtype = DType::kFloat32, .requires_grad = true});
  const Tensor b = full({3}, 2.0, {.dtype = DType::kFloat64, .requires_grad = true});
  const Tensor y = mul(a, b);
  EXPECT_EQ(y.dtype(), DType::kFloat64);
  sum(y).backward();
  EXPECT_EQ(a.grad().dtype(), DType::kFloat32);
  EXPECT_EQ(b.grad().dtype(), DType::kFloat64);
  EXPECT_EQ(a.grad().at<float>({1}), 2.0f);
  EXPECT_EQ(b.grad().at<double>({1}), 1.0);
}

}  // namespace
}  // namespace mnemo::testing
