// batch_norm and layer_norm, and their backward. Statistics accumulate in double
// whatever the dtype, and the per-channel parameters are read as doubles, so any
// floating dtypes may be mixed; the backward sums in double too.
#include "mnemo/ops/normalization.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "autograd/function.h"
#include "ops/checks.h"
#include "ops/grad_util.h"

namespace mnemo {
namespace {

// The elements of an optional floating tensor of `count` elements, as doubles; `fill`
// when it is undefined.
std::vector<double> read_doubles(const char* op, const Tensor& t, const char* name,
                                 std::int64_t count, double fill) {
  if (!t.defined()) return std::vector<double>(static_cast<std::size_t>(count), fill);
  detail::check_cpu(op, t, name);
  detail::check_floating(op, t, name);
  MNEMO_CHECK(t.numel() == count, op, ": ", name, " should contain ", count, " elements not ",
              t.numel(), " (shape ", shape_repr(t.sizes()), ")");
  const Tensor d = t.to(DType::kFloat64).contiguous();
  const double* p = d.data<double>();
  return std::vector<double>(p, p + count);
}

// Writes `values` into `t` in place, whatever its dtype and strides.
void write_doubles(const Tensor& t, const std::vector<double>& values) {
  Tensor source = empty({static_cast<std::int64_t>(values.size())}, {.dtype = DType::kFloat64});
  std::copy(values.begin(), values.end(), source.mutable_data<double>());
  t.copy_(source.view(t.sizes()));
}

// What normalised the input, per channel (batch_norm) or row (layer_norm): backward
// reads the same statistics.
struct Statistics {
  std::vector<double> mean;
  std::vector<double> invstd;  // 1 / sqrt(var + eps)
};

// The sum of term(i) for i in [0, n), in double, over four interleaved partial sums:
// independent chains the compiler can keep in vector registers, which one running
// sum (a strict order of additions) would forbid.
template <class Term>
double sum_in_lanes(std::int64_t n, Term term) {
  double lane[4] = {0.0, 0.0, 0.0, 0.0};
  std::int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    lane[0] += term(i);
    lane[1] += term(i + 1);
    lane[2] += term(i + 2);
    lane[3] += term(i + 3);
  }
  for (; i < n; ++i) lane[0] += term(i);
  return (lane[0] + lane[1]) + (lane[2] + lane[3]);
}

Tensor batch_norm_forward(const Tensor& input, const Tensor& running_mean,
                          const Tensor& running_var, const Tensor& weight, const Tensor& bias,
                          bool training, double momentum, double eps, Statistics& used) {
  const char* op = "batch_norm";
  detail::check_float_input(op, input);
  MNEMO_CHECK(input.dim() >= 2, "batch_norm: expected input of shape (N, C, ...), got ",
              shape_repr(input.sizes()));
  MNEMO_CHECK(running_mean.defined() == running_var.defined(),
              "batch_norm: running_mean and running_var must both be defined or both undefined");
  MNEMO_CHECK(training || running_mean.defined(),
              "batch_norm: running_mean and running_var are needed in evaluation mode");
  const std::int64_t batch = input.size(0), channels = input.size(1);
  const std::int64_t spatial = channels == 0 || batch == 0 ? 0 : input.numel() / (batch * channels);
  const std::int64_t count = batch * spatial;  // values per channel
  MNEMO_CHECK(!training || count > 1,
              "batch_norm: expected more than 1 value per channel when training, got input size ",
              shape_repr(input.sizes()));
  const std::vector<double> w = read_doubles(op, weight, "weight", channels, 1.0);
  const std::vector<double> b = read_doubles(op, bias, "bias", channels, 0.0);
  std::vector<double> mean = read_doubles(op, running_mean, "running_mean", channels, 0.0);
  std::vector<double> var = read_doubles(op, running_var, "running_var", channels, 1.0);

  const Tensor x = input.contiguous();
  Tensor out = empty(x.sizes(), {.dtype = x.dtype()});
  const auto c_count = static_cast<std::size_t>(channels);
  detail::dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = out.mutable_data<T>();
    if (training) {
      std::vector<double> batch_mean(c_count, 0.0), batch_var(c_count, 0.0);
      // Two passes (mean, then squared deviations) keep the variance accurate when the
      // mean is large against the spread.
      for (std::int64_t n = 0; n < batch; ++n) {
        for (std::int64_t c = 0; c < channels; ++c) {
          const T* row = px + (n * channels + c) * spatial;
          batch_mean[c] += sum_in_lanes(spatial, [row](std::int64_t i) {
            return static_cast<double>(row[i]);
          });
        }
      }
      for (double& m : batch_mean) m /= static_cast<double>(count);
      for (std::int64_t n = 0; n < batch; ++n) {
        for (std::int64_t c = 0; c < channels; ++c) {
          const T* row = px + (n * channels + c) * spatial;
          const double m = batch_mean[c];
          batch_var[c] += sum_in_lanes(spatial, [row, m](std::int64_t i) {
            const double d = static_cast<double>(row[i]) - m;
            return d * d;
          });
        }
      }
      for (double& v : batch_var) v /= static_cast<double>(count);  // biased, to normalise
      if (running_mean.defined()) {
        const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
        for (std::size_t c = 0; c < c_count; ++c) {
          mean[c] = (1.0 - momentum) * mean[c] + momentum * batch_mean[c];
          var[c] = (1.0 - momentum) * var[c] + momentum * batch_var[c] * unbias;
        }
        write_doubles(running_mean, mean);
        write_doubles(running_var, var);
      }
      mean = std::move(batch_mean);
      var = std::move(batch_var);
    }
    // y = (x - mean) / sqrt(var + eps) * w + b, folded into y = x * scale + shift.
    std::vector<double> scale(c_count), shift(c_count);
    used.invstd.resize(c_count);
    for (std::size_t c = 0; c < c_count; ++c) {
      scale[c] = w[c] / std::sqrt(var[c] + eps);
      shift[c] = b[c] - mean[c] * scale[c];
      used.invstd[c] = 1.0 / std::sqrt(var[c] + eps);
    }
    used.mean = mean;
    for (std::int64_t n = 0; n < batch; ++n) {
      for (std::int64_t c = 0; c < channels; ++c) {
        const T* row = px + (n * channels + c) * spatial;
        T* dst = po + (n * channels + c) * spatial;
        for (std::int64_t i = 0; i < spatial; ++i) {
          dst[i] = static_cast<T>(static_cast<double>(row[i]) * scale[c] + shift[c]);
        }
      }
    }
  });
  return out;
}

Tensor layer_norm_forward(const Tensor& input, const Shape& normalized_shape, const Tensor& weight,
                          const Tensor& bias, double eps, Statistics& used) {
  const char* op = "layer_norm";
  detail::check_float_input(op, input);
  const auto k_dims = static_cast<std::int64_t>(normalized_shape.size());
  bool matches = k_dims >= 1 && input.dim() >= k_dims;
  for (std::int64_t d = 0; matches && d < k_dims; ++d) {
    matches = input.size(input.dim() - k_dims + d) == normalized_shape[static_cast<std::size_t>(d)];
  }
  MNEMO_CHECK(matches, "layer_norm: given normalized_shape=", shape_repr(normalized_shape),
              ", expected input with shape [*, ...normalized_shape], but got input of size ",
              shape_repr(input.sizes()));
  for (const auto& [t, name] : {std::pair{&weight, "weight"}, std::pair{&bias, "bias"}}) {
    MNEMO_CHECK(!t->defined() || t->sizes() == normalized_shape, "layer_norm: expected ", name,
                " of shape ", shape_repr(normalized_shape), ", got ", shape_repr(t->sizes()));
  }
  const std::int64_t features = shape_numel(normalized_shape);
  const std::vector<double> w = read_doubles(op, weight, "weight", features, 1.0);
  const std::vector<double> b = read_doubles(op, bias, "bias", features, 0.0);

  const Tensor x = input.contiguous();
  Tensor out = empty(x.sizes(), {.dtype = x.dtype()});
  const std::int64_t rows = features == 0 ? 0 : x.numel() / features;
  used.mean.resize(static_cast<std::size_t>(rows));
  used.invstd.resize(static_cast<std::size_t>(rows));
  detail::dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* row = x.data<T>() + r * features;
      T* dst = out.mutable_data<T>() + r * features;
      double mean = 0.0;
      for (std::int64_t i = 0; i < features; ++i) mean += static_cast<double>(row[i]);
      mean /= static_cast<double>(features);
      double var = 0.0;  // biased, as PyTorch's layer_norm
      for (std::int64_t i = 0; i < features; ++i) {
        const double d = static_cast<double>(row[i]) - mean;
        var += d * d;
      }
      var /= static_cast<double>(features);
      const double rstd = 1.0 / std::sqrt(var + eps);
      used.mean[static_cast<std::size_t>(r)] = mean;
      used.invstd[static_cast<std::size_t>(r)] = rstd;
      for (std::int64_t i = 0; i < features; ++i) {
        dst[i] = static_cast<T>((static_cast<double>(row[i]) - mean) * rstd * w[i] + b[i]);
      }
    }
  });
  return out;
}

// Per channel c over its M values, with xh = (x - mean) * invstd:
//   training (batch statistics, which depend on x):
//     dx = w invstd (g - sum(g) / M - xh sum(g xh) / M)
//   evaluation (running statistics, constants): dx = w invstd g
//   dw = sum(g xh), db = sum(g)
class BatchNormBackward : public autograd::Node {
 public:
  BatchNormBackward(Tensor input, std::vector<double> weight, Statistics stats, bool training)
      : input_(std::move(input)),
        weight_(std::move(weight)),
        stats_(std::move(stats)),
        training_(training) {}

  std::string name() const override { return "NativeBatchNormBackward0"; }
  bool saves_variables() const override { return true; }
  void release_variables() override {
    input_ = Tensor();
    stats_ = Statistics();
  }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const std::int64_t batch = input_.size(0), channels = input_.size(1);
    const std::int64_t spatial =
        channels == 0 || batch == 0 ? 0 : input_.numel() / (batch * channels);
    const auto c_count = static_cast<std::size_t>(channels);
    const Tensor g = grads.at(0).to(input_.dtype()).contiguous();
    std::vector<double> sum_g(c_count, 0.0), sum_gx(c_count, 0.0);
    Tensor dx;
    if (needs_input_grad(0)) dx = empty(input_.sizes(), {.dtype = input_.dtype()});
    detail::dispatch_floating(input_.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* px = input_.data<T>();
      const T* pg = g.data<T>();
      for (std::int64_t n = 0; n < batch; ++n) {
        for (std::size_t c = 0; c < c_count; ++c) {
          const std::int64_t at = (n * channels + static_cast<std::int64_t>(c)) * spatial;
          const T* xr = px + at;
          const T* gr = pg + at;
          const double mean = stats_.mean[c];
          sum_g[c] += sum_in_lanes(spatial, [gr](std::int64_t i) { return static_cast<double>(gr[i]); });
          sum_gx[c] += sum_in_lanes(spatial, [xr, gr, mean](std::int64_t i) {
            return static_cast<double>(gr[i]) * (static_cast<double>(xr[i]) - mean);
          });
        }
      }
      for (std::size_t c = 0; c < c_count; ++c) sum_gx[c] *= stats_.invstd[c];
      if (!dx.defined()) return;
      // dx = a g - b (x - mean) - k per channel, with a = w invstd and, when training,
      // b = a invstd sum(g xh) / M and k = a sum(g) / M.
      const double count = static_cast<double>(batch * spatial);
      T* pd = dx.mutable_data<T>();
      for (std::int64_t n = 0; n < batch; ++n) {
        for (std::size_t c = 0; c < c_count; ++c) {
          const std::int64_t at = (n * channels + static_cast<std::int64_t>(c)) * spatial;
          const double a = weight_[c] * stats_.invstd[c];
          const double b = training_ ? a * stats_.invstd[c] * sum_gx[c] / count : 0.0;
          const double k = training_ ? a * sum_g[c] / count : 0.0;
          const double mean = stats_.mean[c];
          const T* xr = px + at;
          const T* gr = pg + at;
          T* dr = pd + at;
          for (std::int64_t i = 0; i < spatial; ++i) {
            dr[i] = static_cast<T>(a * static_cast<double>(gr[i]) -
                                   b * (static_cast<double>(xr[i]) - mean) - k);
          }
        }
      }
    });
    Tensor dw, db;
    if (needs_input_grad(1)) dw = detail::from_doubles(sum_gx, {channels}, DType::kFloat64);
    if (needs_input_grad(2)) db = detail::from_doubles(sum_g, {channels}, DType::kFloat64);
    return {dx, dw, db};
  }

 private:
  Tensor input_;
  std::vector<double> weight_;  // 1 where there is no weight
  Statistics stats_;
  bool training_;
};

// Per row of F features, with xh = (x - mean) * rstd and gw = g w:
//   dx = rstd (gw - mean(gw) - xh mean(gw xh)), dw = sum over rows of g xh, db = of g.
class LayerNormBackward : public autograd::Node {
 public:
  LayerNormBackward(Tensor input, Shape normalized_shape, std::vector<double> weight,
                    Statistics stats)
      : input_(std::move(input)),
        normalized_shape_(std::move(normalized_shape)),
        weight_(std::move(weight)),
        stats_(std::move(stats)) {}

  std::string name() const override { return "NativeLayerNormBackward0"; }
  bool saves_variables() const override { return true; }
  void release_variables() override {
    input_ = Tensor();
    stats_ = Statistics();
  }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const auto features = static_cast<std::size_t>(shape_numel(normalized_shape_));
    const std::size_t rows = stats_.mean.size();
    const std::vector<double> x = detail::to_doubles(input_);
    const std::vector<double> g = detail::to_doubles(grads.at(0));
    std::vector<double> d(x.size()), dw(features, 0.0), db(features, 0.0);
    std::vector<double> xh(features);
    for (std::size_t r = 0; r < rows; ++r) {
      const double* xr = x.data() + r * features;
      const double* gr = g.data() + r * features;
      double mean_gw = 0.0, mean_gwxh = 0.0;
      for (std::size_t i = 0; i < features; ++i) {
        xh[i] = (xr[i] - stats_.mean[r]) * stats_.invstd[r];
        const double gw = gr[i] * weight_[i];
        mean_gw += gw;
        mean_gwxh += gw * xh[i];
        dw[i] += gr[i] * xh[i];
        db[i] += gr[i];
      }
      mean_gw /= static_cast<double>(features);
      mean_gwxh /= static_cast<double>(features);
      double* dr = d.data() + r * features;
      for (std::size_t i = 0; i < features; ++i) {
        dr[i] = stats_.invstd[r] * (gr[i] * weight_[i] - mean_gw - xh[i] * mean_gwxh);
      }
    }
    Tensor dx_t, dw_t, db_t;
    if (needs_input_grad(0)) dx_t = detail::from_doubles(d, input_.sizes(), input_.dtype());
    if (needs_input_grad(1)) dw_t = detail::from_doubles(dw, normalized_shape_, DType::kFloat64);
    if (needs_input_grad(2)) db_t = detail::from_doubles(db, normalized_shape_, DType::kFloat64);
    return {dx_t, dw_t, db_t};
  }

 private:
  Tensor input_;
  Shape normalized_shape_;
  std::vector<double> weight_;  // 1 where there is no weight
  Statistics stats_;
};

}  // namespace

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  const bool record = autograd::detail::any_requires_grad(input, weight, bias);
  Statistics used;
  // The running statistics are updated in place, outside any graph.
  Tensor out = autograd::detail::without_grad([&] {
    return batch_norm_forward(input, running_mean, running_var, weight, bias, training, momentum,
                              eps, used);
  });
  if (record) {
    std::vector<double> w = autograd::detail::without_grad(
        [&] { return detail::to_doubles(weight, input.size(1), 1.0); });
    autograd::detail::record(autograd::make_node<BatchNormBackward>(
                                 autograd::detail::without_grad([&] { return input.contiguous(); }),
                                 std::move(w), std::move(used), training),
                             out, input, weight, bias);
  }
  return out;
}

Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  const bool record = autograd::detail::any_requires_grad(input, weight, bias);
  Statistics used;
  Tensor out = autograd::detail::without_grad(
      [&] { return layer_norm_forward(input, normalized_shape, weight, bias, eps, used); });
  if (record) {
    std::vector<double> w = autograd::detail::without_grad(
        [&] { return detail::to_doubles(weight, shape_numel(normalized_shape), 1.0); });
    autograd::detail::record(autograd::make_node<LayerNormBackward>(
                                 autograd::detail::without_grad([&] { return input.contiguous(); }),
                                 normalized_shape, std::move(w), std::move(used)),
                             out, input, weight, bias);
  }
  return out;
}

}  // namespace mnemo
