// The floating elementwise functions of elementwise.h: exp, log, sqrt and the
// activations.
#include <cmath>
#include <numbers>

#include "mnemo/ops/elementwise.h"
#include "ops/checks.h"
#include "ops/unary_kernel.h"

namespace mnemo {
namespace {

// Applies fn (a generic lambda, called with float or double) to every element.
template <class Fn>
Tensor float_unary(const char* op, const Tensor& x, Fn fn) {
  detail::check_float_input(op, x);
  return detail::dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return detail::map_unary<T>(x, [&fn](T v) { return static_cast<T>(fn(v)); });
  });
}

}  // namespace

Tensor exp(const Tensor& x) {
  return float_unary("exp", x, [](auto v) { return std::exp(v); });
}

Tensor log(const Tensor& x) {
  return float_unary("log", x, [](auto v) { return std::log(v); });
}

Tensor sqrt(const Tensor& x) {
  return float_unary("sqrt", x, [](auto v) { return std::sqrt(v); });
}

Tensor relu(const Tensor& x) {
  // `v < 0 ? 0 : v` rather than `v > 0 ? v : 0`, so that NaN propagates as in PyTorch.
  return float_unary("relu", x, [](auto v) { return v < 0 ? decltype(v){0} : v; });
}

Tensor gelu(const Tensor& x, bool approximate) {
  if (approximate) {
    return float_unary("gelu", x, [](auto v) {
      using T = decltype(v);
      const T k = static_cast<T>(std::numbers::sqrt2 * std::numbers::inv_sqrtpi);  // sqrt(2/pi)
      const T inner = k * (v + static_cast<T>(0.044715) * v * v * v);
      return static_cast<T>(0.5) * v * (T{1} + std::tanh(inner));
    });
  }
  // x * Phi(x) = x/2 * (1 + erf(x / sqrt 2)) = x/2 * erfc(-x / sqrt 2); erfc avoids the
  // cancellation 1 + erf suffers for negative x.
  return float_unary("gelu", x, [](auto v) {
    using T = decltype(v);
    const T inv_sqrt2 = static_cast<T>(std::numbers::sqrt2 / 2);
    return static_cast<T>(0.5) * v * std::erfc(-v * inv_sqrt2);
  });
}

Tensor tanh(const Tensor& x) {
  return float_unary("tanh", x, [](auto v) { return std::tanh(v); });
}

Tensor sigmoid(const Tensor& x) {
  return float_unary("sigmoid", x, [](auto v) {
    using T = decltype(v);
    return T{1} / (T{1} + std::exp(-v));
  });
}

}  // namespace mnemo
