// conv2d as im2col + GEMM: for each (image, group) the receptive fields are unrolled
// into a (C_in/groups * kH * kW) x (H_out * W_out) matrix, and one GEMM with the
// group's filters gives its output channels.
#include "mnemo/ops/conv.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ops/checks.h"
#include "ops/gemm.h"

namespace mnemo {
namespace {

struct ConvGeometry {
  std::int64_t channels, height, width;  // of one group's input
  std::int64_t kernel_h, kernel_w;
  std::int64_t out_h, out_w;
  std::array<std::int64_t, 2> stride, padding, dilation;
};

// Unrolls one group of one image (channels x height x width, contiguous) into cols,
// row (c, i, j) holding the input under kernel tap (i, j) for every output position;
// taps that fall on the padding read zero.
template <class T>
void im2col(const T* x, const ConvGeometry& g, T* cols) {
  const std::int64_t positions = g.out_h * g.out_w;
  for (std::int64_t c = 0; c < g.channels; ++c) {
    const T* plane = x + c * g.height * g.width;
    for (std::int64_t i = 0; i < g.kernel_h; ++i) {
      for (std::int64_t j = 0; j < g.kernel_w; ++j) {
        T* row = cols + ((c * g.kernel_h + i) * g.kernel_w + j) * positions;
        const std::int64_t dy = i * g.dilation[0] - g.padding[0];
        const std::int64_t dx = j * g.dilation[1] - g.padding[1];
        for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
          T* out = row + oy * g.out_w;
          const std::int64_t y = oy * g.stride[0] + dy;
          if (y < 0 || y >= g.height) {
            std::fill(out, out + g.out_w, T{0});
            continue;
          }
          const T* line = plane + y * g.width;
          for (std::int64_t ox = 0; ox < g.out_w; ++ox) {
            const std::int64_t xx = ox * g.stride[1] + dx;
            out[ox] = (xx >= 0 && xx < g.width) ? line[xx] : T{0};
          }
        }
      }
    }
  }
}

void check_options(const Conv2dOptions& o) {
  for (int d = 0; d < 2; ++d) {
    MNEMO_CHECK(o.stride[d] > 0, "conv2d: stride must be positive, got (", o.stride[0], ", ",
                o.stride[1], ")");
    MNEMO_CHECK(o.dilation[d] > 0, "conv2d: dilation must be positive, got (", o.dilation[0], ", ",
                o.dilation[1], ")");
    MNEMO_CHECK(o.padding[d] >= 0, "conv2d: padding must be non-negative, got (", o.padding[0],
                ", ", o.padding[1], ")");
  }
  MNEMO_CHECK(o.groups > 0, "conv2d: groups must be positive, got ", o.groups);
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& options) {
  detail::check_float_input("conv2d", input, "input");
  detail::check_float_input("conv2d", weight, "weight");
  detail::check_same_dtype("conv2d", input, "input", weight, "weight");
  check_options(options);
  MNEMO_CHECK(input.dim() == 3 || input.dim() == 4,
              "conv2d: expected 3D (unbatched) or 4D (batched) input, but got input of size ",
              shape_repr(input.sizes()));
  MNEMO_CHECK(weight.dim() == 4,
              "conv2d: expected weight of shape (out_channels, in_channels / groups, kH, kW), "
              "got ",
              shape_repr(weight.sizes()));
  const std::int64_t groups = options.groups;
  const bool batched = input.dim() == 4;
  const Tensor x = (batched ? input : input.unsqueeze(0)).contiguous();
  const std::int64_t batch = x.size(0), in_channels = x.size(1);
  const std::int64_t out_channels = weight.size(0);
  MNEMO_CHECK(out_channels % groups == 0, "conv2d: given groups=", groups,
              ", expected weight to be divisible by ", groups,
              " at dimension 0, but got weight of size ", shape_repr(weight.sizes()));
  MNEMO_CHECK(weight.size(1) * groups == in_channels, "conv2d: given groups=", groups,
              ", weight of size ", shape_repr(weight.sizes()), ", expected input ",
              shape_repr(input.sizes()), " to have ", weight.size(1) * groups,
              " channels, but got ", in_channels, " channels instead");
  if (bias.defined()) {
    detail::check_float_input("conv2d", bias, "bias");
    detail::check_same_dtype("conv2d", input, "input", bias, "bias");
    MNEMO_CHECK(bias.dim() == 1 && bias.size(0) == out_channels, "conv2d: given weight of size ",
                shape_repr(weight.sizes()), ", expected bias to be 1-dimensional with ",
                out_channels, " elements, but got bias of size ", shape_repr(bias.sizes()));
  }

  ConvGeometry g{};
  g.channels = in_channels / groups;
  g.height = x.size(2);
  g.width = x.size(3);
  g.kernel_h = weight.size(2);
  g.kernel_w = weight.size(3);
  g.stride = options.stride;
  g.padding = options.padding;
  g.dilation = options.dilation;
  const std::int64_t padded_h = g.height + 2 * g.padding[0];
  const std::int64_t padded_w = g.width + 2 * g.padding[1];
  const std::int64_t span_h = g.dilation[0] * (g.kernel_h - 1) + 1;
  const std::int64_t span_w = g.dilation[1] * (g.kernel_w - 1) + 1;
  MNEMO_CHECK(span_h <= padded_h && span_w <= padded_w,
              "conv2d: calculated padded input size per channel: (", padded_h, " x ", padded_w,
              "). Kernel size (dilated): (", span_h, " x ", span_w,
              "). Kernel size can't be greater than actual input size");
  g.out_h = (padded_h - span_h) / g.stride[0] + 1;
  g.out_w = (padded_w - span_w) / g.stride[1] + 1;

  Tensor out = empty({batch, out_channels, g.out_h, g.out_w}, {.dtype = input.dtype()});
  const std::int64_t positions = g.out_h * g.out_w;
  const std::int64_t taps = g.channels * g.kernel_h * g.kernel_w;  // GEMM inner size
  const std::int64_t group_out = out_channels / groups;
  if (out.numel() > 0) {
    const Tensor w = weight.contiguous();
    const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
    // A 1x1 kernel with unit stride and no padding reads the input as it is.
    const bool direct = g.kernel_h == 1 && g.kernel_w == 1 &&
                        g.stride == std::array<std::int64_t, 2>{1, 1} &&
                        g.padding == std::array<std::int64_t, 2>{0, 0};
    detail::dispatch_floating(input.dtype(), [&](auto tag) {
      using T = decltype(tag);
      std::vector<T> cols(direct ? 0 : static_cast<std::size_t>(taps * positions));
      const T* px = x.data<T>();
      const T* pw = w.data<T>();
      T* po = out.mutable_data<T>();
      for (std::int64_t n = 0; n < batch; ++n) {
        for (std::int64_t gi = 0; gi < groups; ++gi) {
          const T* xg = px + (n * in_channels + gi * g.channels) * g.height * g.width;
          T* og = po + (n * out_channels + gi * group_out) * positions;
          if (b.defined()) {
            const T* pb = b.data<T>() + gi * group_out;
            for (std::int64_t c = 0; c < group_out; ++c) {
              std::fill(og + c * positions, og + (c + 1) * positions, pb[c]);
            }
          }
          if (taps == 0) {
            if (!b.defined()) std::fill(og, og + group_out * positions, T{0});
            continue;
          }
          if (!direct) im2col(xg, g, cols.data());
          detail::gemm<T>(group_out, positions, taps, pw + gi * group_out * taps,
                          detail::BlasLayout{false, taps}, direct ? xg : cols.data(),
                          detail::BlasLayout{false, positions}, b.defined() ? T{1} : T{0}, og,
                          positions);
        }
      }
    });
  }
  return batched ? out : out.squeeze(0);
}

}  // namespace mnemo
