// batch_norm and layer_norm. Statistics accumulate in double whatever the dtype, and
// the per-channel parameters are read as doubles, so any floating dtypes may be mixed.
#include "mnemo/ops/normalization.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "ops/checks.h"

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

}  // namespace

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
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
          double s = 0.0;
          for (std::int64_t i = 0; i < spatial; ++i) s += static_cast<double>(row[i]);
          batch_mean[c] += s;
        }
      }
      for (double& m : batch_mean) m /= static_cast<double>(count);
      for (std::int64_t n = 0; n < batch; ++n) {
        for (std::int64_t c = 0; c < channels; ++c) {
          const T* row = px + (n * channels + c) * spatial;
          double s = 0.0;
          for (std::int64_t i = 0; i < spatial; ++i) {
            const double d = static_cast<double>(row[i]) - batch_mean[c];
            s += d * d;
          }
          batch_var[c] += s;
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
    for (std::size_t c = 0; c < c_count; ++c) {
      scale[c] = w[c] / std::sqrt(var[c] + eps);
      shift[c] = b[c] - mean[c] * scale[c];
    }
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

Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
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
      for (std::int64_t i = 0; i < features; ++i) {
        dst[i] = static_cast<T>((static_cast<double>(row[i]) - mean) * rstd * w[i] + b[i]);
      }
    }
  });
  return out;
}

}  // namespace mnemo
