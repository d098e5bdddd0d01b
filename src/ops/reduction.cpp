// Sums, means, arg-max and (log-)softmax.
#include "mnemo/ops/reduction.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "autograd/function.h"
#include "core/strided_loop.h"
#include "core/tensor_impl.h"
#include "mnemo/ops/elementwise.h"
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

// sum and mean: every input element receives the gradient of the output element it
// was summed into (divided by the count for a mean).
class ReduceBackward : public autograd::Node {
 public:
  ReduceBackward(const char* name, Shape input_sizes, Shape kept_sizes, std::int64_t divisor)
      : name_(name),
        input_sizes_(std::move(input_sizes)),
        kept_sizes_(std::move(kept_sizes)),
        divisor_(divisor) {}

  std::string name() const override { return name_; }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor g = grads.at(0).reshape(kept_sizes_);  // reduced dimensions back as size 1
    if (divisor_ != 0) g = div(g, static_cast<double>(divisor_));
    return {g.expand(input_sizes_).contiguous()};
  }

 private:
  std::string name_;
  Shape input_sizes_;
  Shape kept_sizes_;
  std::int64_t divisor_;  // 0 for a sum
};

Tensor reduce_op(const char* name, const char* op, const Tensor& x, const Shape& dims, bool keepdim,
                 bool divide) {
  Tensor out =
      autograd::detail::without_grad([&] { return reduce_sum(op, x, dims, keepdim, divide); });
  if (autograd::detail::any_requires_grad(x)) {
    const std::vector<bool> mask = reduced_dims(op, x, dims);
    std::int64_t count = 1;
    for (std::size_t d = 0; d < mask.size(); ++d) {
      if (mask[d]) count *= x.size(static_cast<std::int64_t>(d));
    }
    autograd::detail::record(
        autograd::make_node<ReduceBackward>(
            name, x.sizes(), reduced_shape(x.sizes(), mask, /*keepdim=*/true), divide ? count : 0),
        out, x);
  }
  return out;
}

// softmax: dx = y (g - sum(g y)); log_softmax: dx = g - exp(y) sum(g); the sums run
// along the softmax dimension, in double.
template <class T>
void softmax_backward_kernel(const T* g, const T* y, T* dx, Around a, bool log) {
  std::vector<double> sum(static_cast<std::size_t>(a.inner));
  for (std::int64_t o = 0; o < a.outer; ++o) {
    const std::int64_t base = o * a.length * a.inner;
    std::fill(sum.begin(), sum.end(), 0.0);
    for (std::int64_t k = 0; k < a.length; ++k) {
      for (std::int64_t j = 0; j < a.inner; ++j) {
        const std::int64_t i = base + k * a.inner + j;
        sum[j] +=
            log ? static_cast<double>(g[i]) : static_cast<double>(g[i]) * static_cast<double>(y[i]);
      }
    }
    for (std::int64_t k = 0; k < a.length; ++k) {
      for (std::int64_t j = 0; j < a.inner; ++j) {
        const std::int64_t i = base + k * a.inner + j;
        const double gi = static_cast<double>(g[i]), yi = static_cast<double>(y[i]);
        dx[i] = static_cast<T>(log ? gi - std::exp(yi) * sum[j] : yi * (gi - sum[j]));
      }
    }
  }
}

class SoftmaxBackward : public autograd::Node {
 public:
  SoftmaxBackward(Tensor output, std::int64_t dim, bool log)
      : output_(std::move(output)), dim_(dim), log_(log) {}

  std::string name() const override { return log_ ? "LogSoftmaxBackward0" : "SoftmaxBackward0"; }
  bool saves_variables() const override { return true; }
  void release_variables() override { output_ = Tensor(); }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor g = grads.at(0).contiguous();
    Tensor dx = empty(output_.sizes(), {.dtype = output_.dtype()});
    if (dx.numel() == 0) return {dx};
    const Shape sizes = output_.dim() == 0 ? Shape{1} : output_.sizes();
    detail::dispatch_floating(dx.dtype(), [&](auto tag) {
      using T = decltype(tag);
      softmax_backward_kernel<T>(g.data<T>(), output_.data<T>(), dx.mutable_data<T>(),
                                 split_around(sizes, dim_), log_);
    });
    return {dx};
  }

 private:
  Tensor output_;  // detached and contiguous
  std::int64_t dim_;
  bool log_;
};

Tensor softmax_op(const char* op, const Tensor& x, std::int64_t dim, bool log) {
  Tensor out = autograd::detail::without_grad([&] { return softmax_impl(op, x, dim, log); });
  if (autograd::detail::any_requires_grad(x)) {
    const std::int64_t d = wrap_dim(dim, std::max<std::int64_t>(x.dim(), 1));
    autograd::detail::record(autograd::make_node<SoftmaxBackward>(out.detach(), d, log), out, x);
  }
  return out;
}

}  // namespace

Tensor sum(const Tensor& x) { return reduce_op("SumBackward0", "sum", x, {}, false, false); }
Tensor mean(const Tensor& x) { return reduce_op("MeanBackward0", "mean", x, {}, false, true); }
Tensor sum(const Tensor& x, const Shape& dims, bool keepdim) {
  return reduce_op("SumBackward1", "sum", x, dims, keepdim, false);
}
Tensor mean(const Tensor& x, const Shape& dims, bool keepdim) {
  return reduce_op("MeanBackward1", "mean", x, dims, keepdim, true);
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

Tensor softmax(const Tensor& x, std::int64_t dim) { return softmax_op("softmax", x, dim, false); }
Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  return softmax_op("log_softmax", x, dim, true);
}

}  // namespace mnemo
