// Expected values are hand-checked and agree with torch.nn.functional on the same input.
#include "mnemo/ops/pooling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ops/ops_test_util.h"

namespace mnemo {
namespace {

using testing::iota;
using testing::make;
using testing::values_of;

Tensor grid() { return iota({1, 1, 5, 5}); }  // x[i][j] = 5i + j

Pool2dOptions pool(std::int64_t kernel, std::int64_t stride, std::int64_t padding = 0) {
  return {
      .kernel_size = {kernel, kernel}, .stride = {{stride, stride}}, .padding = {padding, padding}};
}

TEST(MaxPool2d, Values) {
  const Tensor y = max_pool2d(iota({2, 4, 4}), {.kernel_size = {2, 2}});  // stride = kernel
  EXPECT_EQ(y.sizes(), (Shape{2, 2, 2}));
  EXPECT_EQ(values_of(y), (std::vector<double>{5, 7, 13, 15, 21, 23, 29, 31}));
  Pool2dOptions dilated = pool(2, 1);
  dilated.dilation = {2, 2};
  EXPECT_EQ(values_of(max_pool2d(grid(), dilated)),
            (std::vector<double>{12, 13, 14, 17, 18, 19, 22, 23, 24}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor with_nan = make({1, 2, 2}, {1.f, nan, 3.f, 4.f});
  EXPECT_TRUE(std::isnan(max_pool2d(with_nan, pool(2, 2)).item<double>()));
}

TEST(MaxPool2d, CeilModeAndPaddingOutputSizes) {
  // Floor and ceil agree here: (5 + 2 - 3) / 2 + 1 = 3.
  Pool2dOptions o = pool(3, 2, 1);
  o.ceil_mode = true;
  const Tensor y = max_pool2d(grid(), o);
  EXPECT_EQ(y.sizes(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(values_of(y), (std::vector<double>{6, 8, 9, 16, 18, 19, 21, 23, 24}));
  // Ceil mode adds the partial window: 3 instead of 2.
  Pool2dOptions partial = pool(2, 2);
  EXPECT_EQ(max_pool2d(grid(), partial).sizes(), (Shape{1, 1, 2, 2}));
  partial.ceil_mode = true;
  EXPECT_EQ(values_of(max_pool2d(grid(), partial)),
            (std::vector<double>{6, 8, 9, 16, 18, 19, 21, 23, 24}));
  // ceil((5 + 2 - 2) / 2) + 1 = 4, but the 4th window would start at 5, in the right
  // padding only, so PyTorch drops it.
  Pool2dOptions dropped = pool(2, 2, 1);
  dropped.ceil_mode = true;
  const Tensor z = max_pool2d(grid(), dropped);
  EXPECT_EQ(z.sizes(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(values_of(z), (std::vector<double>{0, 2, 4, 10, 12, 14, 20, 22, 24}));
  // Rectangular: H uses stride 1, W stride 3 with ceil.
  Pool2dOptions rect{.kernel_size = {2, 2}, .stride = {{1, 3}}, .ceil_mode = true};
  EXPECT_EQ(max_pool2d(iota({1, 4, 7}), rect).sizes(), (Shape{1, 3, 3}));
}

TEST(AvgPool2d, CountIncludePad) {
  Pool2dOptions o = pool(3, 2, 1);
  o.ceil_mode = true;
  EXPECT_VALUES_NEAR(avg_pool2d(grid(), o), 1e-6,
                     {12.0 / 9, 3, 24.0 / 9, 7, 12, 9, 8, 13, 84.0 / 9});
  o.count_include_pad = false;
  EXPECT_VALUES_NEAR(avg_pool2d(grid(), o), 1e-6, {3, 4.5, 6, 10.5, 12, 13.5, 18, 19.5, 21});
}

TEST(AvgPool2d, CeilModeWindowsPastThePadding) {
  // A ceil-mode window reaching past the padded input divides by its clipped size.
  Pool2dOptions o = pool(2, 2);
  o.ceil_mode = true;
  EXPECT_VALUES_NEAR(avg_pool2d(grid(), o), 1e-6, {3, 5, 6.5, 13, 15, 16.5, 20.5, 22.5, 24});
  Pool2dOptions padded = pool(2, 2, 1);
  padded.ceil_mode = true;
  EXPECT_VALUES_NEAR(avg_pool2d(grid(), padded), 1e-6, {0, 0.75, 1.75, 3.75, 9, 11, 8.75, 19, 21});
  padded.count_include_pad = false;
  EXPECT_VALUES_NEAR(avg_pool2d(grid(), padded), 1e-6, {0, 1.5, 3.5, 7.5, 9, 11, 17.5, 19, 21});
  const Tensor y64 = avg_pool2d(grid().to(DType::kFloat64), o);
  EXPECT_EQ(y64.dtype(), DType::kFloat64);
  EXPECT_EQ(values_of(y64), values_of(avg_pool2d(grid(), o)));
}

TEST(AdaptiveAvgPool2d, PyTorchWindows) {
  const Tensor x = iota({1, 1, 5, 7});
  EXPECT_VALUES_NEAR(adaptive_avg_pool2d(x, {3, 3}), 1e-6,
                     {4.5, 6.5, 8.5, 15.0, 17.0, 19.0, 25.5, 27.5, 29.5});
  EXPECT_VALUES_NEAR(adaptive_avg_pool2d(x, {2, 4}), 1e-6,
                     {7.5, 9.0, 11.0, 12.5, 21.5, 23.0, 25.0, 26.5});
  EXPECT_EQ(values_of(adaptive_avg_pool2d(x, {5, 7})), values_of(x));
  const Tensor global = adaptive_avg_pool2d(iota({2, 3, 4, 4}), {1, 1});
  EXPECT_EQ(global.sizes(), (Shape{2, 3, 1, 1}));
  EXPECT_EQ(values_of(global)[4], 16 * 4 + 7.5);  // plane 4 holds 64 .. 79
  // Larger output than input: windows overlap and repeat.
  EXPECT_EQ(values_of(adaptive_avg_pool2d(make({1, 1, 2}, {1.f, 3.f}), {1, 3})),
            (std::vector<double>{1, 2, 3}));
}

TEST(Pooling, NonContiguousInput) {
  const Tensor x = iota({1, 6, 5}).transpose(1, 2);  // (1, 5, 6)
  ASSERT_FALSE(x.is_contiguous());
  EXPECT_EQ(values_of(max_pool2d(x, pool(2, 2))),
            values_of(max_pool2d(x.contiguous(), pool(2, 2))));
  EXPECT_EQ(values_of(avg_pool2d(x, pool(3, 1, 1))),
            values_of(avg_pool2d(x.contiguous(), pool(3, 1, 1))));
  EXPECT_EQ(values_of(adaptive_avg_pool2d(x, {2, 4})),
            values_of(adaptive_avg_pool2d(x.contiguous(), {2, 4})));
}

TEST(Pooling, Errors) {
  EXPECT_MNEMO_ERROR(max_pool2d(grid(), pool(2, 2, 2)), ErrorCode::kInvalidArgument,
                     "pad should be at most half of kernel size");
  EXPECT_MNEMO_ERROR(max_pool2d(zeros({1, 1, 2, 2}), pool(3, 1)), ErrorCode::kInvalidArgument,
                     "the calculated output size (0x0) is too small");
  EXPECT_MNEMO_ERROR(avg_pool2d(zeros({5, 5}), pool(2, 2)), ErrorCode::kInvalidArgument,
                     "expected a 3D (C, H, W) or 4D (N, C, H, W) input");
  EXPECT_MNEMO_ERROR(max_pool2d(zeros({1, 0, 5, 5}), pool(2, 2)), ErrorCode::kInvalidArgument,
                     "with non-zero C, H and W");
  Pool2dOptions dilated = pool(2, 2);
  dilated.dilation = {2, 2};
  EXPECT_MNEMO_ERROR(avg_pool2d(grid(), dilated), ErrorCode::kInvalidArgument, "has no dilation");
  EXPECT_MNEMO_ERROR(max_pool2d(grid().to(DType::kInt64), pool(2, 2)), ErrorCode::kInvalidArgument,
                     "needs a floating dtype");
  EXPECT_MNEMO_ERROR(adaptive_avg_pool2d(grid(), {0, 2}), ErrorCode::kInvalidArgument,
                     "output_size must be positive");
  EXPECT_MNEMO_ERROR(adaptive_avg_pool2d(testing::cuda_tensor({1, 2, 2}), {1, 1}),
                     ErrorCode::kInvalidArgument, testing::kCpuOnlyMessage);
}

}  // namespace
}  // namespace mnemo
