// conv2d as im2col + GEMM: for each (image, group) the receptive fields are unrolled
// into a (C_in/groups * kH * kW) x (H_out * W_out) matrix, and one GEMM with the
// group's filters gives its output channels. Backward runs the same products the other
// way: the input's gradient is W^T g folded back by col2im, the weight's is g cols^T.
#include "mnemo/ops/conv.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "autograd/function.h"
#include "mnemo/ops/reduction.h"
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

// The output columns [lo, hi) whose tap, at column offset `dx` from ox * stride, falls
// inside the input rather than on its padding.
std::pair<std::int64_t, std::int64_t> valid_columns(const ConvGeometry& g, std::int64_t dx) {
  const std::int64_t stride = g.stride[1];
  // ox * stride + dx >= 0 from lo on, and <= width - 1 up to hi - 1.
  const std::int64_t lo = dx >= 0 ? 0 : (-dx + stride - 1) / stride;
  const std::int64_t last = g.width - 1 - dx;
  const std::int64_t hi = last < 0 ? 0 : last / stride + 1;
  return {std::min(lo, g.out_w), std::clamp(hi, std::min(lo, g.out_w), g.out_w)};
}

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
          const auto [lo, hi] = valid_columns(g, dx);
          std::fill(out, out + lo, T{0});
          if (g.stride[1] == 1) {
            std::copy(line + lo + dx, line + hi + dx, out + lo);
          } else {
            for (std::int64_t ox = lo; ox < hi; ++ox) out[ox] = line[ox * g.stride[1] + dx];
          }
          std::fill(out + hi, out + g.out_w, T{0});
        }
      }
    }
  }
}

// The adjoint of im2col: adds each row of cols back onto the input positions its tap
// read (padding taps read nothing and give nothing back). x must be zeroed first.
template <class T>
void col2im(const T* cols, const ConvGeometry& g, T* x) {
  const std::int64_t positions = g.out_h * g.out_w;
  for (std::int64_t c = 0; c < g.channels; ++c) {
    T* plane = x + c * g.height * g.width;
    for (std::int64_t i = 0; i < g.kernel_h; ++i) {
      for (std::int64_t j = 0; j < g.kernel_w; ++j) {
        const T* row = cols + ((c * g.kernel_h + i) * g.kernel_w + j) * positions;
        const std::int64_t dy = i * g.dilation[0] - g.padding[0];
        const std::int64_t dx = j * g.dilation[1] - g.padding[1];
        for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
          const std::int64_t y = oy * g.stride[0] + dy;
          if (y < 0 || y >= g.height) continue;
          const T* in = row + oy * g.out_w;
          T* line = plane + y * g.width;
          const auto [lo, hi] = valid_columns(g, dx);
          for (std::int64_t ox = lo; ox < hi; ++ox) line[ox * g.stride[1] + dx] += in[ox];
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

// The forward; also gives the geometry and the (N, C, H, W) contiguous input it used.
Tensor conv2d_forward(const Tensor& input, const Tensor& weight, const Tensor& bias,
                      const Conv2dOptions& options, ConvGeometry& geometry, Tensor& batched_input) {
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
  geometry = g;
  batched_input = x;
  return batched ? out : out.squeeze(0);
}

class Conv2dBackward : public autograd::Node {
 public:
  Conv2dBackward(Tensor input, Tensor weight, const ConvGeometry& geometry, std::int64_t groups,
                 Shape input_sizes)
      : input_(std::move(input)),
        weight_(std::move(weight)),
        g_(geometry),
        groups_(groups),
        input_sizes_(std::move(input_sizes)) {}

  std::string name() const override { return "ConvolutionBackward0"; }
  bool saves_variables() const override { return true; }
  void release_variables() override {
    input_ = Tensor();
    weight_ = Tensor();
  }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const std::int64_t batch = input_.size(0), in_channels = input_.size(1);
    const std::int64_t out_channels = weight_.size(0);
    const Tensor gout = grads.at(0).reshape({batch, out_channels, g_.out_h, g_.out_w}).contiguous();
    Tensor dx, dw, db;
    if (needs_input_grad(0)) dx = zeros(input_.sizes(), {.dtype = input_.dtype()});
    if (needs_input_grad(1)) dw = zeros(weight_.sizes(), {.dtype = weight_.dtype()});
    if (needs_input_grad(2)) db = sum(gout, {0, 2, 3});

    const std::int64_t positions = g_.out_h * g_.out_w;
    const std::int64_t taps = g_.channels * g_.kernel_h * g_.kernel_w;
    const std::int64_t group_out = out_channels / groups_;
    const bool direct = g_.kernel_h == 1 && g_.kernel_w == 1 &&
                        g_.stride == std::array<std::int64_t, 2>{1, 1} &&
                        g_.padding == std::array<std::int64_t, 2>{0, 0};
    const bool empty = positions == 0 || taps == 0 || group_out == 0 || batch == 0;
    if ((dx.defined() || dw.defined()) && !empty) {
      detail::dispatch_floating(input_.dtype(), [&](auto tag) {
        using T = decltype(tag);
        std::vector<T> cols(direct ? 0 : static_cast<std::size_t>(taps * positions));
        const T* px = input_.data<T>();
        const T* pw = weight_.data<T>();
        const T* pg = gout.data<T>();
        for (std::int64_t n = 0; n < batch; ++n) {
          for (std::int64_t gi = 0; gi < groups_; ++gi) {
            const std::int64_t in_at = (n * in_channels + gi * g_.channels) * g_.height * g_.width;
            const T* go = pg + (n * out_channels + gi * group_out) * positions;
            const T* wg = pw + gi * group_out * taps;
            if (dx.defined()) {
              // cols = W_g^T g (taps x positions), folded back onto the input.
              T* dxg = dx.mutable_data<T>() + in_at;
              detail::gemm<T>(taps, positions, group_out, wg, detail::BlasLayout{true, taps}, go,
                              detail::BlasLayout{false, positions}, T{0},
                              direct ? dxg : cols.data(), positions);
              if (!direct) col2im(cols.data(), g_, dxg);
            }
            if (dw.defined()) {
              // dW_g += g cols^T (group_out x taps), summed over the batch by BLAS.
              if (!direct) im2col(px + in_at, g_, cols.data());
              detail::gemm<T>(group_out, taps, positions, go, detail::BlasLayout{false, positions},
                              direct ? px + in_at : cols.data(),
                              detail::BlasLayout{true, positions}, T{1},
                              dw.mutable_data<T>() + gi * group_out * taps, taps);
            }
          }
        }
      });
    }
    if (dx.defined()) dx = dx.reshape(input_sizes_);
    return {dx, dw, db};
  }

 private:
  Tensor input_;   // (N, C, H, W), contiguous
  Tensor weight_;  // contiguous
  ConvGeometry g_;
  std::int64_t groups_;
  Shape input_sizes_;  // 3-D for an unbatched input
};

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& options) {
  const bool record = autograd::detail::any_requires_grad(input, weight, bias);
  ConvGeometry geometry{};
  Tensor batched_input;
  Tensor out = autograd::detail::without_grad(
      [&] { return conv2d_forward(input, weight, bias, options, geometry, batched_input); });
  if (record) {
    autograd::detail::record(
        autograd::make_node<Conv2dBackward>(
            batched_input, autograd::detail::without_grad([&] { return weight.contiguous(); }),
            geometry, options.groups, input.sizes()),
        out, input, weight, bias);
  }
  return out;
}

}  // namespace mnemo
