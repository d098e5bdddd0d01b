#include "mnemo/ops/conv.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "mnemo/core/generator.h"
#include "ops/ops_test_util.h"

namespace mnemo {
namespace {

using testing::iota;
using testing::make;
using testing::values_of;

// conv2d by its definition: a direct loop over every output and kernel tap, in double.
std::vector<double> naive_conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                 const Conv2dOptions& o) {
  const std::vector<double> x = values_of(input), w = values_of(weight);
  const std::vector<double> b = bias.defined() ? values_of(bias) : std::vector<double>();
  const std::int64_t n_batch = input.size(0), c_in = input.size(1), h = input.size(2),
                     wd = input.size(3);
  const std::int64_t c_out = weight.size(0), cg = weight.size(1), kh = weight.size(2),
                     kw = weight.size(3);
  const std::int64_t oh = (h + 2 * o.padding[0] - o.dilation[0] * (kh - 1) - 1) / o.stride[0] + 1;
  const std::int64_t ow = (wd + 2 * o.padding[1] - o.dilation[1] * (kw - 1) - 1) / o.stride[1] + 1;
  const std::int64_t per_group = c_out / o.groups;
  std::vector<double> out;
  for (std::int64_t n = 0; n < n_batch; ++n) {
    for (std::int64_t co = 0; co < c_out; ++co) {
      const std::int64_t g = co / per_group;
      for (std::int64_t y = 0; y < oh; ++y) {
        for (std::int64_t xo = 0; xo < ow; ++xo) {
          double s = b.empty() ? 0.0 : b[static_cast<std::size_t>(co)];
          for (std::int64_t ci = 0; ci < cg; ++ci) {
            for (std::int64_t i = 0; i < kh; ++i) {
              for (std::int64_t j = 0; j < kw; ++j) {
                const std::int64_t yy = y * o.stride[0] - o.padding[0] + i * o.dilation[0];
                const std::int64_t xx = xo * o.stride[1] - o.padding[1] + j * o.dilation[1];
                if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                const std::int64_t c = g * cg + ci;
                s += x[static_cast<std::size_t>(((n * c_in + c) * h + yy) * wd + xx)] *
                     w[static_cast<std::size_t>(((co * cg + ci) * kh + i) * kw + j)];
              }
            }
          }
          out.push_back(s);
        }
      }
    }
  }
  return out;
}

TEST(Conv2d, HandComputedSum) {
  const Tensor x = iota({1, 1, 3, 3});  // [[0 1 2] [3 4 5] [6 7 8]]
  const Tensor y = conv2d(x, ones({1, 1, 2, 2}));
  EXPECT_EQ(y.sizes(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(values_of(y), (std::vector<double>{8, 12, 20, 24}));
  const Tensor padded =
      conv2d(x, ones({1, 1, 2, 2}), make({1}, {100.f}), {.stride = {2, 2}, .padding = {1, 1}});
  EXPECT_EQ(padded.sizes(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(values_of(padded), (std::vector<double>{100, 103, 109, 124}));
}

struct ConvCase {
  const char* name;
  Shape input, weight;
  Conv2dOptions options;
  bool bias;
};

TEST(Conv2d, MatchesDirectLoop) {
  const ConvCase cases[] = {
      {"plain", {2, 3, 7, 6}, {4, 3, 3, 3}, {}, true},
      {"strided padded", {2, 3, 7, 6}, {4, 3, 3, 2}, {.stride = {2, 3}, .padding = {1, 2}}, true},
      {"dilated", {1, 2, 9, 8}, {3, 2, 3, 3}, {.padding = {2, 1}, .dilation = {2, 3}}, false},
      {"grouped", {2, 4, 6, 6}, {6, 2, 3, 3}, {.padding = {1, 1}, .groups = 2}, true},
      {"depthwise", {1, 3, 5, 5}, {6, 1, 3, 3}, {.stride = {2, 2}, .groups = 3}, false},
      {"pointwise", {2, 4, 3, 5}, {5, 4, 1, 1}, {}, true},
      {"pointwise strided", {2, 4, 3, 5}, {6, 2, 1, 1}, {.stride = {2, 2}, .groups = 2}, true},
      {"everything",
       {2, 6, 10, 9},
       {4, 3, 3, 2},
       {.stride = {2, 1}, .padding = {1, 3}, .dilation = {2, 2}, .groups = 2},
       true},
  };
  Generator gen(11);
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Tensor x = randn(c.input, {}, &gen);
    const Tensor w = randn(c.weight, {}, &gen);
    const Tensor b = c.bias ? randn({c.weight[0]}, {}, &gen) : Tensor();
    const Tensor y = conv2d(x, w, b, c.options);
    EXPECT_THAT(values_of(y), ::testing::Pointwise(::testing::DoubleNear(1e-4),
                                                   naive_conv2d(x, w, b, c.options)));
    const Tensor y64 = conv2d(x.to(DType::kFloat64), w.to(DType::kFloat64),
                              b.defined() ? b.to(DType::kFloat64) : Tensor(), c.options);
    EXPECT_EQ(y64.dtype(), DType::kFloat64);
    EXPECT_THAT(values_of(y64), ::testing::Pointwise(::testing::DoubleNear(1e-10),
                                                     naive_conv2d(x, w, b, c.options)));
  }
}

TEST(Conv2d, UnbatchedAndNonContiguousInput) {
  Generator gen(5);
  const Tensor x = randn({3, 6, 5}, {}, &gen);
  const Tensor w = randn({2, 3, 3, 3}, {}, &gen);
  const Tensor y = conv2d(x, w, Tensor(), {.padding = {1, 1}});
  EXPECT_EQ(y.sizes(), (Shape{2, 6, 5}));
  EXPECT_TRUE(y.allclose(conv2d(x.unsqueeze(0), w, Tensor(), {.padding = {1, 1}}).squeeze(0)));
  // Channels-last memory seen as NCHW.
  const Tensor nhwc = x.permute({1, 2, 0}).contiguous().permute({2, 0, 1});
  ASSERT_FALSE(nhwc.is_contiguous());
  EXPECT_TRUE(
      conv2d(nhwc, w.transpose(2, 3).contiguous().transpose(2, 3), Tensor(), {.padding = {1, 1}})
          .allclose(y, 1e-6, 1e-6));
}

TEST(Conv2d, ShapeErrorsSayWhatWasExpected) {
  const Tensor w = zeros({8, 3, 3, 3});
  EXPECT_MNEMO_ERROR(conv2d(zeros({1, 4, 5, 5}), w), ErrorCode::kInvalidArgument,
                     "expected input torch.Size([1, 4, 5, 5]) to have 3 channels, but got 4 "
                     "channels instead");
  EXPECT_MNEMO_ERROR(conv2d(zeros({1, 3, 2, 2}), w), ErrorCode::kInvalidArgument,
                     "Kernel size can't be greater than actual input size");
  EXPECT_MNEMO_ERROR(conv2d(zeros({1, 6, 5, 5}), zeros({3, 3, 3, 3}), Tensor(), {.groups = 2}),
                     ErrorCode::kInvalidArgument, "expected weight to be divisible by 2");
  EXPECT_MNEMO_ERROR(conv2d(zeros({1, 3, 5, 5}), w, zeros({7})), ErrorCode::kInvalidArgument,
                     "expected bias to be 1-dimensional with 8 elements");
  EXPECT_MNEMO_ERROR(conv2d(zeros({3, 5}), w), ErrorCode::kInvalidArgument,
                     "expected 3D (unbatched) or 4D (batched) input");
  EXPECT_MNEMO_ERROR(conv2d(zeros({1, 3, 5, 5}), w, Tensor(), {.stride = {0, 1}}),
                     ErrorCode::kInvalidArgument, "stride must be positive");
  EXPECT_MNEMO_ERROR(conv2d(zeros({1, 3, 5, 5}).to(DType::kInt32), w), ErrorCode::kInvalidArgument,
                     "needs a floating dtype");
  EXPECT_MNEMO_ERROR(conv2d(testing::cuda_tensor({1, 3, 5, 5}), w), ErrorCode::kInvalidArgument,
                     testing::kCpuOnlyMessage);
}

}  // namespace
}  // namespace mnemo
