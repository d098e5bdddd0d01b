// Finite-difference checks of conv2d's backward (col2im + GEMM) over strides, padding,
// dilation, groups, bias, 1x1 kernels and unbatched input.
#include <gtest/gtest.h>

#include "autograd/gradcheck.h"
#include "mnemo/ops/conv.h"

namespace mnemo::testing {
namespace {

TEST(ConvGrad, Options) {
  struct Case {
    Shape input, weight;
    Conv2dOptions options;
    bool bias;
  };
  const Case cases[] = {
      {{2, 3, 6, 5}, {4, 3, 3, 3}, {}, true},
      {{2, 3, 7, 6}, {4, 3, 3, 2}, {.stride = {2, 1}, .padding = {1, 2}}, true},
      {{1, 4, 8, 7}, {6, 2, 3, 2}, {.padding = {2, 1}, .dilation = {2, 3}, .groups = 2}, false},
      {{2, 4, 5, 5}, {4, 1, 3, 3}, {.stride = {2, 2}, .padding = {1, 1}, .groups = 4}, true},
      {{2, 3, 4, 5}, {5, 3, 1, 1}, {}, true},                   // 1x1: no im2col
      {{1, 2, 5, 4}, {3, 2, 1, 1}, {.stride = {2, 2}}, false},  // 1x1 strided
      {{3, 6, 5}, {2, 3, 2, 2}, {.padding = {1, 0}}, true},     // unbatched
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_repr(c.input) + " * " + shape_repr(c.weight));
    const Conv2dOptions options = c.options;
    std::vector<Tensor> in = {leaf(c.input, 1), leaf(c.weight, 2)};
    if (c.bias) in.push_back(leaf({c.weight[0]}, 3));
    EXPECT_TRUE(gradcheck(
        [options](const auto& x) {
          return conv2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), options);
        },
        in));
  }
}

TEST(ConvGrad, NonContiguousInputAndPartialRequirements) {
  EXPECT_TRUE(gradcheck(
      [](const auto& x) {
        return conv2d(x[0].transpose(2, 3), x[1], Tensor(), {.padding = {1, 1}});
      },
      {leaf({2, 3, 5, 6}, 4), leaf({2, 3, 3, 3}, 5)}));
  const Tensor weight = leaf({2, 3, 3, 3}, 6, /*requires_grad=*/false);
  EXPECT_TRUE(gradcheck([&](const auto& x) { return conv2d(x[0], weight, x[1]); },
                        {leaf({1, 3, 4, 4}, 7), leaf({2}, 8)}));
  const Tensor image = leaf({1, 3, 4, 4}, 9, /*requires_grad=*/false);
  EXPECT_TRUE(
      gradcheck([&](const auto& x) { return conv2d(image, x[0]); }, {leaf({2, 3, 2, 2}, 10)}));
}

}  // namespace
}  // namespace mnemo::testing
