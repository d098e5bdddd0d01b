// Finite-difference checks of max_pool2d, avg_pool2d and adaptive_avg_pool2d, with
// padding, strides, dilation and ceil mode; and max pooling's tie rule.
#include <gtest/gtest.h>

#include "autograd/gradcheck.h"
#include "mnemo/ops/pooling.h"
#include "mnemo/ops/reduction.h"

namespace mnemo::testing {
namespace {

const Pool2dOptions kPoolCases[] = {
    {.kernel_size = {2, 2}},
    {.kernel_size = {3, 3}, .stride = std::array<std::int64_t, 2>{2, 2}, .padding = {1, 1}},
    {.kernel_size = {3, 2},
     .stride = std::array<std::int64_t, 2>{2, 1},
     .padding = {1, 0},
     .ceil_mode = true},
    {.kernel_size = {2, 3},
     .stride = std::array<std::int64_t, 2>{2, 2},
     .ceil_mode = true,
     .count_include_pad = false},
    {.kernel_size = {3, 3},
     .stride = std::array<std::int64_t, 2>{2, 2},
     .padding = {1, 1},
     .ceil_mode = true,
     .count_include_pad = false},
};

TEST(PoolingGrad, MaxPool) {
  for (const Pool2dOptions& options : kPoolCases) {
    SCOPED_TRACE(::testing::Message()
                 << options.kernel_size[0] << "x" << options.kernel_size[1] << " pad "
                 << options.padding[0] << " ceil " << options.ceil_mode);
    EXPECT_TRUE(gradcheck([&](const auto& x) { return max_pool2d(x[0], options); },
                          {leaf({2, 3, 7, 6}, 1)}));
  }
  Pool2dOptions dilated{.kernel_size = {2, 2},
                        .stride = std::array<std::int64_t, 2>{1, 2},
                        .padding = {1, 1},
                        .dilation = {2, 2}};
  EXPECT_TRUE(gradcheck([&](const auto& x) { return max_pool2d(x[0], dilated); },
                        {leaf({2, 7, 7}, 2)}));  // unbatched
}

TEST(PoolingGrad, AvgPool) {
  for (const Pool2dOptions& options : kPoolCases) {
    SCOPED_TRACE(::testing::Message()
                 << options.kernel_size[0] << "x" << options.kernel_size[1] << " pad "
                 << options.padding[0] << " ceil " << options.ceil_mode << " include_pad "
                 << options.count_include_pad);
    EXPECT_TRUE(gradcheck([&](const auto& x) { return avg_pool2d(x[0], options); },
                          {leaf({2, 3, 7, 6}, 3)}));
  }
  EXPECT_TRUE(gradcheck([](const auto& x) { return avg_pool2d(x[0].transpose(1, 2), {}); },
                        {leaf({3, 5, 4}, 4)}));
}

TEST(PoolingGrad, AdaptiveAvgPool) {
  for (const auto& out : {std::array<std::int64_t, 2>{1, 1}, std::array<std::int64_t, 2>{3, 2},
                          std::array<std::int64_t, 2>{4, 5}, std::array<std::int64_t, 2>{7, 6}}) {
    SCOPED_TRACE(::testing::Message() << out[0] << "x" << out[1]);
    EXPECT_TRUE(gradcheck([&](const auto& x) { return adaptive_avg_pool2d(x[0], out); },
                          {leaf({2, 3, 7, 6}, 5)}));
  }
}

TEST(PoolingGrad, MaxPoolTiesGoToTheFirstMaximum) {
  // Every window of the 2x2 pooling holds equal values: the first (top-left) one wins.
  const Tensor x = ones({1, 1, 2, 4}, {.dtype = DType::kFloat64, .requires_grad = true});
  sum(max_pool2d(x, {.kernel_size = {2, 2}})).backward();
  const Tensor g = x.grad();
  EXPECT_EQ(g.at<double>({0, 0, 0, 0}), 1.0);
  EXPECT_EQ(g.at<double>({0, 0, 0, 1}), 0.0);
  EXPECT_EQ(g.at<double>({0, 0, 1, 0}), 0.0);
  EXPECT_EQ(g.at<double>({0, 0, 0, 2}), 1.0);
  EXPECT_EQ(g.at<double>({0, 0, 1, 3}), 0.0);
  // Overlapping windows that pick the same element add up there.
  const Tensor y = tensor<double>({0, 5, 0, 0, 0, 0, 0, 0, 0}).view({1, 3, 3});
  y.set_requires_grad(true);
  sum(max_pool2d(y, {.kernel_size = {2, 2}, .stride = std::array<std::int64_t, 2>{1, 1}}))
      .backward();
  EXPECT_EQ(y.grad().at<double>({0, 0, 1}), 2.0);
  EXPECT_EQ(y.grad().at<double>({0, 1, 1}), 1.0);  // the window that holds only zeros
}

}  // namespace
}  // namespace mnemo::testing
