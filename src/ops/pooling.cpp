// max_pool2d, avg_pool2d and adaptive_avg_pool2d, plane by plane, and their backward:
// max pooling routes each output's gradient to the element it picked, average pooling
// spreads it evenly over the window it averaged.
#include "mnemo/ops/pooling.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "autograd/function.h"
#include "ops/checks.h"

namespace mnemo {
namespace {

void check_pool_input(const char* op, const Tensor& input) {
  detail::check_float_input(op, input);
  const bool rank_ok = input.dim() == 3 || input.dim() == 4;
  bool planes_ok = rank_ok;
  for (std::int64_t d = input.dim() - 3; rank_ok && d < input.dim(); ++d) {
    planes_ok = planes_ok && input.size(d) > 0;
  }
  MNEMO_CHECK(rank_ok && planes_ok, op,
              ": expected a 3D (C, H, W) or 4D (N, C, H, W) input with non-zero C, H and W, "
              "got ",
              shape_repr(input.sizes()));
}

// Runs fn(plane, out_plane) on every (H, W) plane of input (3-D or 4-D) into a new
// tensor whose planes are out_h x out_w. fn is a generic lambda over the element type.
template <class Fn>
Tensor map_planes(const Tensor& input, std::int64_t out_h, std::int64_t out_w, Fn fn) {
  const Tensor x = input.contiguous();
  Shape out_shape = x.sizes();
  out_shape[out_shape.size() - 2] = out_h;
  out_shape[out_shape.size() - 1] = out_w;
  Tensor out = empty(out_shape, {.dtype = x.dtype()});
  const std::int64_t height = x.size(-2), width = x.size(-1);
  const std::int64_t planes = height * width == 0 ? 0 : x.numel() / (height * width);
  detail::dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = out.mutable_data<T>();
    for (std::int64_t p = 0; p < planes; ++p) {
      fn(px + p * height * width, po + p * out_h * out_w);
    }
  });
  return out;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// PyTorch's pooling output size. In ceil mode the last window must start inside the
// input or its left padding; one starting in the right padding only is dropped.
std::int64_t pool_output_size(std::int64_t in, std::int64_t kernel, std::int64_t pad,
                              std::int64_t stride, std::int64_t dilation, bool ceil_mode) {
  const std::int64_t span = dilation * (kernel - 1) + 1;
  std::int64_t out = floor_div(in + 2 * pad - span + (ceil_mode ? stride - 1 : 0), stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

struct PoolGeometry {
  std::int64_t height, width, out_h, out_w;
  std::array<std::int64_t, 2> kernel, stride, padding, dilation;
};

PoolGeometry pool_geometry(const char* op, const Tensor& input, const Pool2dOptions& o) {
  check_pool_input(op, input);
  PoolGeometry g{};
  g.kernel = o.kernel_size;
  g.stride = o.stride.value_or(o.kernel_size);
  g.padding = o.padding;
  g.dilation = o.dilation;
  for (int d = 0; d < 2; ++d) {
    MNEMO_CHECK(g.kernel[d] > 0, op, ": kernel_size must be positive, got (", g.kernel[0], ", ",
                g.kernel[1], ")");
    MNEMO_CHECK(g.stride[d] > 0, op, ": stride must be positive, got (", g.stride[0], ", ",
                g.stride[1], ")");
    MNEMO_CHECK(g.dilation[d] > 0, op, ": dilation must be positive, got (", g.dilation[0], ", ",
                g.dilation[1], ")");
    MNEMO_CHECK(g.padding[d] >= 0 && g.padding[d] <= g.kernel[d] / 2, op,
                ": pad should be at most half of kernel size, but got padding (", g.padding[0],
                ", ", g.padding[1], ") and kernel_size (", g.kernel[0], ", ", g.kernel[1], ")");
  }
  g.height = input.size(-2);
  g.width = input.size(-1);
  g.out_h = pool_output_size(g.height, g.kernel[0], g.padding[0], g.stride[0], g.dilation[0],
                             o.ceil_mode);
  g.out_w =
      pool_output_size(g.width, g.kernel[1], g.padding[1], g.stride[1], g.dilation[1], o.ceil_mode);
  MNEMO_CHECK(g.out_h > 0 && g.out_w > 0, op, ": given input size ", shape_repr(input.sizes()),
              ", the calculated output size (", g.out_h, "x", g.out_w, ") is too small");
  return g;
}

// The element each max-pooling output picks, as an index into its (H, W) plane: the
// first maximum in window order (ties keep the earlier one), or the last NaN, which
// PyTorch's CPU kernel picks too; the window's first element when all are -inf.
// max_pool_plane where every window lies inside the input: the window starts at its
// first element, and no tap needs a bounds check.
template <class T>
void max_pool_plane_inside(const T* x, const PoolGeometry& g, T* out, std::int64_t* index) {
  const std::int64_t width = g.width;
  const std::int64_t row_step = g.dilation[0] * width, col_step = g.dilation[1];
  for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
    for (std::int64_t ox = 0; ox < g.out_w; ++ox) {
      const std::int64_t first = oy * g.stride[0] * width + ox * g.stride[1];
      T best = x[first];
      std::int64_t best_at = first;
      for (std::int64_t i = 0; i < g.kernel[0]; ++i) {
        const std::int64_t row = first + i * row_step;
        for (std::int64_t j = 0; j < g.kernel[1]; ++j) {
          const T v = x[row + j * col_step];
          // Selects rather than a branch: which tap wins is data, and unpredictable.
          const bool take = v > best || v != v;  // v != v: NaN propagates, as in PyTorch
          best = take ? v : best;
          best_at = take ? row + j * col_step : best_at;
        }
      }
      out[oy * g.out_w + ox] = best;
      if (index != nullptr) index[oy * g.out_w + ox] = best_at;
    }
  }
}

template <class T>
void max_pool_plane(const T* x, const PoolGeometry& g, T* out, std::int64_t* index) {
  // Without padding, and with every window ending inside the input (no ceil-mode
  // overhang), no tap needs a bounds check.
  const bool inside =
      g.padding == std::array<std::int64_t, 2>{0, 0} &&
      (g.out_h - 1) * g.stride[0] + (g.kernel[0] - 1) * g.dilation[0] < g.height &&
      (g.out_w - 1) * g.stride[1] + (g.kernel[1] - 1) * g.dilation[1] < g.width;
  if (inside) {
    max_pool_plane_inside(x, g, out, index);
    return;
  }
  for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
    for (std::int64_t ox = 0; ox < g.out_w; ++ox) {
      T best = -std::numeric_limits<T>::infinity();
      std::int64_t best_at = -1;
      for (std::int64_t i = 0; i < g.kernel[0]; ++i) {
        const std::int64_t y = oy * g.stride[0] - g.padding[0] + i * g.dilation[0];
        if (y < 0 || y >= g.height) continue;
        for (std::int64_t j = 0; j < g.kernel[1]; ++j) {
          const std::int64_t xx = ox * g.stride[1] - g.padding[1] + j * g.dilation[1];
          if (xx < 0 || xx >= g.width) continue;
          const T v = x[y * g.width + xx];
          if (best_at < 0) best_at = y * g.width + xx;
          if (v > best || std::isnan(v)) {  // NaN propagates, as in PyTorch
            best = v;
            best_at = y * g.width + xx;
          }
        }
      }
      out[oy * g.out_w + ox] = best;
      if (index != nullptr) index[oy * g.out_w + ox] = best_at;
    }
  }
}

// The windows of average pooling: [y0, y1) x [x0, x1) clipped to the input, and the
// count the sum is divided by.
struct AvgWindow {
  std::int64_t y0, y1, x0, x1, count;
  bool empty() const { return y0 >= y1 || x0 >= x1; }
};

AvgWindow avg_window(const PoolGeometry& g, bool include_pad, std::int64_t oy, std::int64_t ox) {
  // The window clipped to the padded input counts padding; clipped to the input it
  // counts only real elements. Ceil mode may leave a window partly outside both.
  AvgWindow w{};
  w.y0 = oy * g.stride[0] - g.padding[0];
  w.x0 = ox * g.stride[1] - g.padding[1];
  w.y1 = std::min(w.y0 + g.kernel[0], g.height + g.padding[0]);
  w.x1 = std::min(w.x0 + g.kernel[1], g.width + g.padding[1]);
  const std::int64_t padded_count = (w.y1 - w.y0) * (w.x1 - w.x0);
  w.y0 = std::max<std::int64_t>(w.y0, 0);
  w.x0 = std::max<std::int64_t>(w.x0, 0);
  w.y1 = std::min(w.y1, g.height);
  w.x1 = std::min(w.x1, g.width);
  w.count = include_pad ? padded_count : (w.y1 - w.y0) * (w.x1 - w.x0);
  return w;
}

// Adaptive window i covers [floor(i * in / out), ceil((i + 1) * in / out)).
std::int64_t adaptive_start(std::int64_t i, std::int64_t in, std::int64_t out) {
  return i * in / out;
}
std::int64_t adaptive_end(std::int64_t i, std::int64_t in, std::int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

// The input's gradient, plane by plane: fn(plane index, the output gradient's plane,
// a zeroed double accumulator of the input plane) adds into the accumulator, which is
// rounded into the result.
template <class Fn>
Tensor backward_planes(const Tensor& grad, const Shape& input_sizes, Fn fn) {
  const Tensor g = grad.contiguous();
  Tensor dx = empty(input_sizes, {.dtype = g.dtype()});
  const std::int64_t height = input_sizes[input_sizes.size() - 2];
  const std::int64_t width = input_sizes[input_sizes.size() - 1];
  const std::int64_t planes = dx.numel() / (height * width);
  const std::int64_t out_plane = planes == 0 ? 0 : g.numel() / planes;
  std::vector<double> acc(static_cast<std::size_t>(height * width));
  detail::dispatch_floating(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for (std::int64_t p = 0; p < planes; ++p) {
      std::fill(acc.begin(), acc.end(), 0.0);
      fn(p, g.data<T>() + p * out_plane, acc.data());
      T* d = dx.mutable_data<T>() + p * height * width;
      for (std::int64_t i = 0; i < height * width; ++i) d[i] = static_cast<T>(acc[i]);
    }
  });
  return dx;
}

class MaxPool2dBackward : public autograd::Node {
 public:
  MaxPool2dBackward(Tensor indices, Shape input_sizes)
      : indices_(std::move(indices)), input_sizes_(std::move(input_sizes)) {}

  std::string name() const override { return "MaxPool2DWithIndicesBackward0"; }
  bool saves_variables() const override { return true; }
  void release_variables() override { indices_ = Tensor(); }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const std::int64_t out_plane = indices_.size(-2) * indices_.size(-1);
    const std::int64_t* index = indices_.data<std::int64_t>();
    return {
        backward_planes(grads.at(0), input_sizes_, [&](std::int64_t p, const auto* g, double* acc) {
          const std::int64_t* at = index + p * out_plane;
          for (std::int64_t o = 0; o < out_plane; ++o) acc[at[o]] += static_cast<double>(g[o]);
        })};
  }

 private:
  Tensor indices_;  // int64, the output's shape: the picked element within its plane
  Shape input_sizes_;
};

class AvgPool2dBackward : public autograd::Node {
 public:
  AvgPool2dBackward(PoolGeometry geometry, bool include_pad, Shape input_sizes)
      : g_(geometry), include_pad_(include_pad), input_sizes_(std::move(input_sizes)) {}

  std::string name() const override { return "AvgPool2DBackward0"; }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    return {
        backward_planes(grads.at(0), input_sizes_, [&](std::int64_t, const auto* g, double* acc) {
          for (std::int64_t oy = 0; oy < g_.out_h; ++oy) {
            for (std::int64_t ox = 0; ox < g_.out_w; ++ox) {
              const AvgWindow w = avg_window(g_, include_pad_, oy, ox);
              if (w.empty()) continue;
              const double share =
                  static_cast<double>(g[oy * g_.out_w + ox]) / static_cast<double>(w.count);
              for (std::int64_t y = w.y0; y < w.y1; ++y) {
                for (std::int64_t xx = w.x0; xx < w.x1; ++xx) acc[y * g_.width + xx] += share;
              }
            }
          }
        })};
  }

 private:
  PoolGeometry g_;
  bool include_pad_;
  Shape input_sizes_;
};

class AdaptiveAvgPool2dBackward : public autograd::Node {
 public:
  AdaptiveAvgPool2dBackward(std::array<std::int64_t, 2> output_size, Shape input_sizes)
      : output_size_(output_size), input_sizes_(std::move(input_sizes)) {}

  std::string name() const override { return "AdaptiveAvgPool2DBackward0"; }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const std::int64_t height = input_sizes_[input_sizes_.size() - 2];
    const std::int64_t width = input_sizes_[input_sizes_.size() - 1];
    // Plain variables, not structured bindings: lambdas capture them (clang 14 cannot).
    const std::int64_t out_h = output_size_[0], out_w = output_size_[1];
    return {
        backward_planes(grads.at(0), input_sizes_, [&](std::int64_t, const auto* g, double* acc) {
          for (std::int64_t oy = 0; oy < out_h; ++oy) {
            const std::int64_t y0 = adaptive_start(oy, height, out_h),
                               y1 = adaptive_end(oy, height, out_h);
            for (std::int64_t ox = 0; ox < out_w; ++ox) {
              const std::int64_t x0 = adaptive_start(ox, width, out_w),
                                 x1 = adaptive_end(ox, width, out_w);
              const double share = static_cast<double>(g[oy * out_w + ox]) /
                                   static_cast<double>((y1 - y0) * (x1 - x0));
              for (std::int64_t y = y0; y < y1; ++y) {
                for (std::int64_t xx = x0; xx < x1; ++xx) acc[y * width + xx] += share;
              }
            }
          }
        })};
  }

 private:
  std::array<std::int64_t, 2> output_size_;
  Shape input_sizes_;
};

}  // namespace

Tensor max_pool2d(const Tensor& input, const Pool2dOptions& options) {
  const PoolGeometry g = pool_geometry("max_pool2d", input, options);
  const bool record = autograd::detail::any_requires_grad(input);
  Tensor indices;
  Tensor out = autograd::detail::without_grad([&] {
    if (record) {
      Shape index_shape = input.sizes();
      index_shape[index_shape.size() - 2] = g.out_h;
      index_shape[index_shape.size() - 1] = g.out_w;
      indices = empty(index_shape, {.dtype = DType::kInt64});
    }
    std::int64_t* index = record ? indices.mutable_data<std::int64_t>() : nullptr;
    const std::int64_t out_plane = g.out_h * g.out_w;
    return map_planes(input, g.out_h, g.out_w, [&g, &index, out_plane](const auto* x, auto* out) {
      max_pool_plane(x, g, out, index);
      if (index != nullptr) index += out_plane;
    });
  });
  if (record) {
    autograd::detail::record(autograd::make_node<MaxPool2dBackward>(indices, input.sizes()), out,
                             input);
  }
  return out;
}

Tensor avg_pool2d(const Tensor& input, const Pool2dOptions& options) {
  MNEMO_CHECK(options.dilation == (std::array<std::int64_t, 2>{1, 1}),
              "avg_pool2d: has no dilation, got dilation (", options.dilation[0], ", ",
              options.dilation[1], ")");
  const PoolGeometry g = pool_geometry("avg_pool2d", input, options);
  const bool include_pad = options.count_include_pad;
  Tensor out = autograd::detail::without_grad([&] {
    return map_planes(input, g.out_h, g.out_w, [&g, include_pad](const auto* x, auto* out) {
      using T = std::remove_cvref_t<decltype(*x)>;
      for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
        for (std::int64_t ox = 0; ox < g.out_w; ++ox) {
          const AvgWindow w = avg_window(g, include_pad, oy, ox);
          if (w.empty()) {
            out[oy * g.out_w + ox] = T{0};
            continue;
          }
          double total = 0.0;
          for (std::int64_t y = w.y0; y < w.y1; ++y) {
            for (std::int64_t xx = w.x0; xx < w.x1; ++xx) {
              total += static_cast<double>(x[y * g.width + xx]);
            }
          }
          out[oy * g.out_w + ox] = static_cast<T>(total / static_cast<double>(w.count));
        }
      }
    });
  });
  if (autograd::detail::any_requires_grad(input)) {
    autograd::detail::record(autograd::make_node<AvgPool2dBackward>(g, include_pad, input.sizes()),
                             out, input);
  }
  return out;
}

Tensor adaptive_avg_pool2d(const Tensor& input, std::array<std::int64_t, 2> output_size) {
  check_pool_input("adaptive_avg_pool2d", input);
  MNEMO_CHECK(output_size[0] > 0 && output_size[1] > 0,
              "adaptive_avg_pool2d: output_size must be positive, got (", output_size[0], ", ",
              output_size[1], ")");
  const std::int64_t height = input.size(-2), width = input.size(-1);
  const std::int64_t out_h = output_size[0], out_w = output_size[1];
  Tensor out = autograd::detail::without_grad([&] {
    return map_planes(input, out_h, out_w, [&](const auto* x, auto* out) {
      using T = std::remove_cvref_t<decltype(*x)>;
      for (std::int64_t oy = 0; oy < out_h; ++oy) {
        const std::int64_t y0 = adaptive_start(oy, height, out_h);
        const std::int64_t y1 = adaptive_end(oy, height, out_h);
        for (std::int64_t ox = 0; ox < out_w; ++ox) {
          const std::int64_t x0 = adaptive_start(ox, width, out_w);
          const std::int64_t x1 = adaptive_end(ox, width, out_w);
          double total = 0.0;
          for (std::int64_t y = y0; y < y1; ++y) {
            for (std::int64_t xx = x0; xx < x1; ++xx) {
              total += static_cast<double>(x[y * width + xx]);
            }
          }
          out[oy * out_w + ox] = static_cast<T>(total / static_cast<double>((y1 - y0) * (x1 - x0)));
        }
      }
    });
  });
  if (autograd::detail::any_requires_grad(input)) {
    autograd::detail::record(
        autograd::make_node<AdaptiveAvgPool2dBackward>(output_size, input.sizes()), out, input);
  }
  return out;
}

}  // namespace mnemo
