// The floating elementwise functions of elementwise.h: exp, log, sqrt and the
// activations, with their backward.
#include <cmath>
#include <numbers>
#include <type_traits>

#include "autograd/function.h"
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

enum class Unary { kExp, kLog, kSqrt, kRelu, kGelu, kGeluTanh, kTanh, kSigmoid };

// Whether the derivative is written with the output (y) rather than the input (x).
bool uses_output(Unary kind) {
  return kind != Unary::kLog && kind != Unary::kGelu && kind != Unary::kGeluTanh;
}

// d(f(x))/dx times the incoming gradient g, from the saved value s (x or y).
template <class T>
T unary_grad(Unary kind, T g, T s) {
  switch (kind) {
    case Unary::kExp:
      return g * s;
    case Unary::kLog:
      return g / s;
    case Unary::kSqrt:
      return g / (T{2} * s);
    case Unary::kRelu:
      return s <= T{0} ? T{0} : g;  // from the output, as PyTorch's threshold_backward
    case Unary::kGelu: {
      // d/dx x Phi(x) = Phi(x) + x phi(x), in double.
      const double x = static_cast<double>(s);
      const double cdf = 0.5 * std::erfc(-x * (std::numbers::sqrt2 / 2));
      const double pdf = std::exp(-0.5 * x * x) * (std::numbers::inv_sqrtpi / std::numbers::sqrt2);
      return static_cast<T>(static_cast<double>(g) * (cdf + x * pdf));
    }
    case Unary::kGeluTanh: {
      // y = x/2 (1 + tanh(u)), u = k (x + c x^3): y' = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3c x^2).
      const double x = static_cast<double>(s);
      const double k = std::numbers::sqrt2 * std::numbers::inv_sqrtpi;  // sqrt(2 / pi)
      const double c = 0.044715;
      const double t = std::tanh(k * (x + c * x * x * x));
      const double d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * c * x * x);
      return static_cast<T>(static_cast<double>(g) * d);
    }
    case Unary::kTanh:
      return g * (T{1} - s * s);
    case Unary::kSigmoid:
      return g * (T{1} - s) * s;
  }
  return T{0};
}

// Calls fn(std::integral_constant<Unary, kind>{}).
template <class Fn>
decltype(auto) with_constant_kind(Unary kind, Fn fn) {
  switch (kind) {
    case Unary::kExp:
      return fn(std::integral_constant<Unary, Unary::kExp>{});
    case Unary::kLog:
      return fn(std::integral_constant<Unary, Unary::kLog>{});
    case Unary::kSqrt:
      return fn(std::integral_constant<Unary, Unary::kSqrt>{});
    case Unary::kRelu:
      return fn(std::integral_constant<Unary, Unary::kRelu>{});
    case Unary::kGelu:
      return fn(std::integral_constant<Unary, Unary::kGelu>{});
    case Unary::kGeluTanh:
      return fn(std::integral_constant<Unary, Unary::kGeluTanh>{});
    case Unary::kTanh:
      return fn(std::integral_constant<Unary, Unary::kTanh>{});
    case Unary::kSigmoid:
      break;
  }
  return fn(std::integral_constant<Unary, Unary::kSigmoid>{});
}

class UnaryBackward : public autograd::Node {
 public:
  UnaryBackward(Unary kind, Tensor saved) : kind_(kind), saved_(std::move(saved)) {}

  std::string name() const override {
    switch (kind_) {
      case Unary::kExp:
        return "ExpBackward0";
      case Unary::kLog:
        return "LogBackward0";
      case Unary::kSqrt:
        return "SqrtBackward0";
      case Unary::kRelu:
        return "ReluBackward0";
      case Unary::kGelu:
      case Unary::kGeluTanh:
        return "GeluBackward0";
      case Unary::kTanh:
        return "TanhBackward0";
      case Unary::kSigmoid:
        return "SigmoidBackward0";
    }
    return "?";
  }
  bool saves_variables() const override { return true; }
  void release_variables() override { saved_ = Tensor(); }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads.at(0);
    const Unary kind = kind_;
    return {detail::dispatch_floating(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      // The kind as a constant, so the element loop carries no switch.
      return with_constant_kind(kind, [&](auto constant) {
        return detail::map_binary<T>(
            g, saved_, [](T u, T s) { return unary_grad(decltype(constant)::value, u, s); });
      });
    })};
  }

 private:
  Unary kind_;
  Tensor saved_;  // the input or the output (detached: a node never owns its outputs)
};

// Runs the forward and records its node when x requires grad.
template <class Fn>
Tensor unary_op(Unary kind, const char* op, const Tensor& x, Fn fn) {
  Tensor out = float_unary(op, x, fn);
  if (autograd::detail::any_requires_grad(x)) {
    autograd::detail::record(
        autograd::make_node<UnaryBackward>(kind, uses_output(kind) ? out.detach() : x), out, x);
  }
  return out;
}

}  // namespace

Tensor exp(const Tensor& x) {
  return unary_op(Unary::kExp, "exp", x, [](auto v) { return std::exp(v); });
}

Tensor log(const Tensor& x) {
  return unary_op(Unary::kLog, "log", x, [](auto v) { return std::log(v); });
}

Tensor sqrt(const Tensor& x) {
  return unary_op(Unary::kSqrt, "sqrt", x, [](auto v) { return std::sqrt(v); });
}

Tensor relu(const Tensor& x) {
  // `v < 0 ? 0 : v` rather than `v > 0 ? v : 0`, so that NaN propagates as in PyTorch.
  return unary_op(Unary::kRelu, "relu", x, [](auto v) { return v < 0 ? decltype(v){0} : v; });
}

Tensor gelu(const Tensor& x, bool approximate) {
  if (approximate) {
    return unary_op(Unary::kGeluTanh, "gelu", x, [](auto v) {
      using T = decltype(v);
      const T k = static_cast<T>(std::numbers::sqrt2 * std::numbers::inv_sqrtpi);  // sqrt(2/pi)
      const T inner = k * (v + static_cast<T>(0.044715) * v * v * v);
      return static_cast<T>(0.5) * v * (T{1} + std::tanh(inner));
    });
  }
  // x * Phi(x) = x/2 * (1 + erf(x / sqrt 2)) = x/2 * erfc(-x / sqrt 2); erfc avoids the
  // cancellation 1 + erf suffers for negative x.
  return unary_op(Unary::kGelu, "gelu", x, [](auto v) {
    using T = decltype(v);
    const T inv_sqrt2 = static_cast<T>(std::numbers::sqrt2 / 2);
    return static_cast<T>(0.5) * v * std::erfc(-v * inv_sqrt2);
  });
}

Tensor tanh(const Tensor& x) {
  return unary_op(Unary::kTanh, "tanh", x, [](auto v) { return std::tanh(v); });
}

Tensor sigmoid(const Tensor& x) {
  return unary_op(Unary::kSigmoid, "sigmoid", x, [](auto v) {
    using T = decltype(v);
    return T{1} / (T{1} + std::exp(-v));
  });
}

}  // namespace mnemo
