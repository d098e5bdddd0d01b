// Sums, means, arg-max and (log-)softmax.
#include "mnemo/ops/reduction.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/strided_loop.h"
#include "core/tensor_impl.h"
#include "ops/checks.h"

namespace mnemo {
namespace {

// Which dimensions a reduction removes. An empty list means all of them, as in
// PyTorch's sum(x, dim=[]).
std::vector<bool> reduced_dims(const char* op, const Tensor& x, const Shape& dims) {
  const std::int64_t rank = x.dim();
  std::vector<bool> mask(static_cast<std::size_t>(rank), dims.empty());
  for (std::int64_t d : dims) {
    // A 0-dim tensor accepts dim 0 and -1, like PyTorch's.
    const std::int64_t w = wrap_dim(d, std::max<std::int64_t>(rank, 1));
    if (rank == 0) continue;
    MNEMO_CHECK(!mask[static_cast<std::size_t>(w)], op, ": dim ", w,
                " appears multiple times in the list of dims");
    mask[static_cast<std::size_t>(w)] = true;
  }
  return mask;
}

// `sizes` with the reduced dimensions set to 1 (keepdim) or removed.
Shape reduced_shape(const Shape& sizes, const std::vector<bool>& mask, bool keepdim) {
  Shape out;
  for (std::size_t d = 0; d < sizes.size(); ++d) {
    if (!mask[d]) {
      out.push_back(sizes[d]);
    } else if (keepdim) {
      out.push_back(1);
    }
  }
  return out;
}

// Adds every element of x into acc, laid out contiguously in x's shape with the
// reduced dimensions of size 1. One pass over x in its own memory order, any strides.
template <class T, class Acc>
void accumulate(const Tensor& x, const std::vector<bool>& mask, Acc* acc) {
  const Shape kept = reduced_shape(x.sizes(), mask, /*keepdim=*/true);
  Shape acc_strides = contiguous_strides(kept);
  for (std::size_t d = 0; d < mask.size(); ++d) {
    if (mask[d]) acc_strides[d] = 0;
  }
  const T* px = x.data<T>();
  detail::for_each_run<2>(x.sizes(), {&acc_strides, &x.strides()}, {0, 0},
                          [&](const std::array<std::int64_t, 2>& at, std::int64_t n,
                              const std::array<std::int64_t, 2>& step) {
                            const T* u = px + at[1];
                            if (step[0] == 0) {
                              Acc s{0};
                              for (std::int64_t i = 0; i < n; ++i) {
                                s += static_cast<Acc>(u[i * step[1]]);
                              }
                              acc[at[0]] += s;
                            } else {
                              for (std::int64_t i = 0; i < n; ++i) {
                                acc[at[0] + i * step[0]] += static_cast<Acc>(u[i * step[1]]);
                              }
                            }
                          });
}

Tensor reduce_sum(const char* op, const Tensor& x, const Shape& dims, bool keepdim, bool divide) {
  detail::check_defined(op, x, "input");
  detail::check_cpu(op, x);
  if (divide) {
    MNEMO_CHECK(detail::is_kernel_floating(x.dtype()), op,
                ": needs a floating input (float32 or float64) to compute a mean, got ",
                dtype_name(x.dtype()));
  } else {
    MNEMO_CHECK(detail::is_kernel_arithmetic(x.dtype()) || x.dtype() == DType::kBool, op,
                ": needs a float32, float64, integer or bool input, got ", dtype_name(x.dtype()));
  }
  const std::vector<bool> mask = reduced_dims(op, x, dims);
  const Shape out_shape = reduced_shape(x.sizes(), mask, keepdim);
  std::int64_t count = 1;
  for (std::size_t d = 0; d < mask.size(); ++d) {
    if (mask[d]) count *= x.size(static_cast<std::int64_t>(d));
  }
  const auto out_numel = static_cast<std::size_t>(shape_numel(out_shape));

  if (detail::is_kernel_floating(x.dtype())) {
    std::vector<double> acc(out_numel, 0.0);
    Tensor out = empty(out_shape, {.dtype = x.dtype()});
    detail::dispatch_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      accumulate<T, double>(x, mask, acc.data());
      T* o = out.mutable_data<T>();
      for (std::size_t i = 0; i < out_numel; ++i) {
        // 0 / 0 gives NaN for the mean of nothing, as in PyTorch.
        o[i] = static_cast<T>(divide ? acc[i] / static_cast<double>(count) : acc[i]);
      }
    });
    return out;
  }
  // Integers sum to int64, wrapping around like PyTorch's; uint64 keeps the wrap
  // defined. bool counts its true elements.
  const Tensor xi = x.dtype() == DType::kBool ? x.to(DType::kUInt8) : x;
  std::vector<std::uint64_t> acc(out_numel, 0);
  detail::dispatch_arithmetic(xi.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) accumulate<T, std::uint64_t>(xi, mask, acc.data());
  });
  Tensor out = empty(out_shape, {.dtype = DType::kInt64});
  auto* o = out.mutable_data<std::int64_t>();
  for (std::size_t i = 0; i < out_numel; ++i) o[i] = static_cast<std::int64_t>(acc[i]);
  return out;
}

// A contiguous tensor seen as (outer, length, inner) around dimension `dim`.
struct Around {
  std::int64_t outer = 1;
  std::int64_t length = 1;
  std::int64_t inner = 1;
};

Around split_around(const Shape& sizes, std::int64_t dim) {
  Around a;
  for (std::int64_t d = 0; d < static_cast<std::int64_t>(sizes.size()); ++d) {
    const std::int64_t s = sizes[static_cast<std::size_t>(d)];
    if (d < dim) a.outer *= s;
    if (d == dim) a.length = s;
    if (d > dim) a.inner *= s;
  }
  return a;
}

template <class T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

template <class T>
void softmax_kernel(const T* x, T* y, Around a, bool log) {
  std::vector<T> max(static_cast<std::size_t>(a.inner));
  std::vector<double> sum(static_cast<std::size_t>(a.inner));
  for (std::int64_t o = 0; o < a.outer; ++o) {
    const T* xo = x + o * a.length * a.inner;
    T* yo = y + o * a.length * a.inner;
    std::fill(max.begin(), max.end(), -std::numeric_limits<T>::infinity());
    std::fill(sum.begin(), sum.end(), 0.0);
    for (std::int64_t k = 0; k < a.length; ++k) {
      for (std::int64_t j = 0; j < a.inner; ++j) max[j] = std::max(max[j], xo[k * a.inner + j]);
    }
    for (std::int64_t k = 0; k < a.length; ++k) {
      for (std::int64_t j = 0; j < a.inner; ++j) {
        const T e = std::exp(xo[k * a.inner + j] - max[j]);
        if (!log) yo[k * a.inner + j] = e;
        sum[j] += static_cast<double>(e);
      }
    }
    for (std::int64_t k = 0; k < a.length; ++k) {
      for (std::int64_t j = 0; j < a.inner; ++j) {
        const std::int64_t i = k * a.inner + j;
        yo[i] = log ? static_cast<T>(static_cast<double>(xo[i]) - max[j] - std::log(sum[j]))
                    : static_cast<T>(static_cast<double>(yo[i]) / sum[j]);
      }
    }
  }
}

Tensor softmax_impl(const char* op, const Tensor& x, std::int64_t dim, bool log) {
  detail::check_float_input(op, x);
  const std::int64_t d = wrap_dim(dim, std::max<std::int64_t>(x.dim(), 1));
  const Tensor xc = (x.dim() == 0 ? x.reshape({1}) : x).contiguous();
  Tensor out = empty(xc.sizes(), {.dtype = x.dtype()});
  if (out.numel() > 0) {
    detail::dispatch_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      softmax_kernel<T>(xc.data<T>(), out.mutable_data<T>(), split_around(xc.sizes(), d), log);
    });
  }
  return x.dim() == 0 ? out.reshape({}) : out;
}

}  // namespace

Tensor sum(const Tensor& x) { return reduce_sum("sum", x, {}, false, false); }
Tensor mean(const Tensor& x) { return reduce_sum("mean", x, {}, false, true); }
Tensor sum(const Tensor& x, const Shape& dims, bool keepdim) {
  return reduce_sum("sum", x, dims, keepdim, false);
}
Tensor mean(const Tensor& x, const Shape& dims, bool keepdim) {
  return reduce_sum("mean", x, dims, keepdim, true);
}

Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim) {
  detail::check_defined("argmax", x, "input");
  detail::check_cpu("argmax", x);
  detail::check_arithmetic("argmax", x);
  const std::int64_t d = wrap_dim(dim, std::max<std::int64_t>(x.dim(), 1));
  if (x.dim() == 0) return zeros({}, {.dtype = DType::kInt64});
  MNEMO_CHECK(x.size(d) > 0, "argmax: expected reduction dim ", d,
              " to have non-zero size, got shape ", shape_repr(x.sizes()));
  Shape out_shape = x.sizes();
  if (keepdim) {
    out_shape[static_cast<std::size_t>(d)] = 1;
  } else {
    out_shape.erase(out_shape.begin() + d);
  }
  Tensor out = empty(out_shape, {.dtype = DType::kInt64});
  if (out.numel() == 0) return out;
  const Tensor xc = x.contiguous();
  const Around a = split_around(xc.sizes(), d);
  auto* index = out.mutable_data<std::int64_t>();
  detail::dispatch_arithmetic(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = xc.data<T>();
    std::vector<T> best(static_cast<std::size_t>(a.inner));
    for (std::int64_t o = 0; o < a.outer; ++o) {
      const T* xo = px + o * a.length * a.inner;
      std::int64_t* io = index + o * a.inner;
      for (std::int64_t j = 0; j < a.inner; ++j) {
        best[j] = xo[j];
        io[j] = 0;
      }
      for (std::int64_t k = 1; k < a.length; ++k) {
        for (std::int64_t j = 0; j < a.inner; ++j) {
          const T v = xo[k * a.inner + j];
          // A NaN is the largest value, as in PyTorch; the first one wins.
          if (v > best[j] || (is_nan(v) && !is_nan(best[j]))) {
            best[j] = v;
            io[j] = k;
          }
        }
      }
    }
  });
  return out;
}

Tensor softmax(const Tensor& x, std::int64_t dim) { return softmax_impl("softmax", x, dim, false); }
Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  return softmax_impl("log_softmax", x, dim, true);
}

}  // namespace mnemo
