// max_pool2d, avg_pool2d and adaptive_avg_pool2d, plane by plane.
#include "mnemo/ops/pooling.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

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

}  // namespace

Tensor max_pool2d(const Tensor& input, const Pool2dOptions& options) {
  const PoolGeometry g = pool_geometry("max_pool2d", input, options);
  return map_planes(input, g.out_h, g.out_w, [&g](const auto* x, auto* out) {
    using T = std::remove_cvref_t<decltype(*x)>;
    for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
      for (std::int64_t ox = 0; ox < g.out_w; ++ox) {
        T best = -std::numeric_limits<T>::infinity();
        for (std::int64_t i = 0; i < g.kernel[0]; ++i) {
          const std::int64_t y = oy * g.stride[0] - g.padding[0] + i * g.dilation[0];
          if (y < 0 || y >= g.height) continue;
          for (std::int64_t j = 0; j < g.kernel[1]; ++j) {
            const std::int64_t xx = ox * g.stride[1] - g.padding[1] + j * g.dilation[1];
            if (xx < 0 || xx >= g.width) continue;
            const T v = x[y * g.width + xx];
            if (v > best || std::isnan(v)) best = v;  // NaN propagates, as in PyTorch
          }
        }
        out[oy * g.out_w + ox] = best;
      }
    }
  });
}

Tensor avg_pool2d(const Tensor& input, const Pool2dOptions& options) {
  MNEMO_CHECK(options.dilation == (std::array<std::int64_t, 2>{1, 1}),
              "avg_pool2d: has no dilation, got dilation (", options.dilation[0], ", ",
              options.dilation[1], ")");
  const PoolGeometry g = pool_geometry("avg_pool2d", input, options);
  const bool include_pad = options.count_include_pad;
  return map_planes(input, g.out_h, g.out_w, [&g, include_pad](const auto* x, auto* out) {
    using T = std::remove_cvref_t<decltype(*x)>;
    for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
      for (std::int64_t ox = 0; ox < g.out_w; ++ox) {
        // The window clipped to the padded input counts padding; clipped to the input
        // it counts only real elements. Ceil mode may leave a window partly outside both.
        std::int64_t y0 = oy * g.stride[0] - g.padding[0];
        std::int64_t x0 = ox * g.stride[1] - g.padding[1];
        std::int64_t y1 = std::min(y0 + g.kernel[0], g.height + g.padding[0]);
        std::int64_t x1 = std::min(x0 + g.kernel[1], g.width + g.padding[1]);
        const std::int64_t padded_count = (y1 - y0) * (x1 - x0);
        y0 = std::max<std::int64_t>(y0, 0);
        x0 = std::max<std::int64_t>(x0, 0);
        y1 = std::min(y1, g.height);
        x1 = std::min(x1, g.width);
        if (y0 >= y1 || x0 >= x1) {
          out[oy * g.out_w + ox] = T{0};
          continue;
        }
        double total = 0.0;
        for (std::int64_t y = y0; y < y1; ++y) {
          for (std::int64_t xx = x0; xx < x1; ++xx)
            total += static_cast<double>(x[y * g.width + xx]);
        }
        const std::int64_t count = include_pad ? padded_count : (y1 - y0) * (x1 - x0);
        out[oy * g.out_w + ox] = static_cast<T>(total / static_cast<double>(count));
      }
    }
  });
}

Tensor adaptive_avg_pool2d(const Tensor& input, std::array<std::int64_t, 2> output_size) {
  check_pool_input("adaptive_avg_pool2d", input);
  MNEMO_CHECK(output_size[0] > 0 && output_size[1] > 0,
              "adaptive_avg_pool2d: output_size must be positive, got (", output_size[0], ", ",
              output_size[1], ")");
  const std::int64_t height = input.size(-2), width = input.size(-1);
  const std::int64_t out_h = output_size[0], out_w = output_size[1];
  // Window i covers [floor(i * in / out), ceil((i + 1) * in / out)).
  auto start = [](std::int64_t i, std::int64_t in, std::int64_t out) { return i * in / out; };
  auto end = [](std::int64_t i, std::int64_t in, std::int64_t out) {
    return ((i + 1) * in + out - 1) / out;
  };
  return map_planes(input, out_h, out_w, [&](const auto* x, auto* out) {
    using T = std::remove_cvref_t<decltype(*x)>;
    for (std::int64_t oy = 0; oy < out_h; ++oy) {
      const std::int64_t y0 = start(oy, height, out_h), y1 = end(oy, height, out_h);
      for (std::int64_t ox = 0; ox < out_w; ++ox) {
        const std::int64_t x0 = start(ox, width, out_w), x1 = end(ox, width, out_w);
        double total = 0.0;
        for (std::int64_t y = y0; y < y1; ++y) {
          for (std::int64_t xx = x0; xx < x1; ++xx) total += static_cast<double>(x[y * width + xx]);
        }
        out[oy * out_w + ox] = static_cast<T>(total / static_cast<double>((y1 - y0) * (x1 - x0)));
      }
    }
  });
}

}  // namespace mnemo
