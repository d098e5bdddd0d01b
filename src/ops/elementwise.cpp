// Broadcasting binary arithmetic with PyTorch's type promotion, and negation.
#include "mnemo/ops/elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "autograd/function.h"
#include "core/strided_loop.h"
#include "ops/checks.h"
#include "ops/grad_util.h"
#include "ops/unary_kernel.h"

namespace mnemo {
namespace {

using detail::dispatch_arithmetic;

enum class BinaryKind { kAdd, kSub, kMul, kDiv };

const char* binary_name(BinaryKind kind) {
  switch (kind) {
    case BinaryKind::kAdd:
      return "add";
    case BinaryKind::kSub:
      return "sub";
    case BinaryKind::kMul:
      return "mul";
    case BinaryKind::kDiv:
      return "div";
  }
  return "?";
}

// Integer arithmetic wraps around in two's complement like PyTorch's; going through
// uint64 keeps C++ free of signed-overflow undefined behaviour.
template <class T>
T wrapping_add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
  } else {
    return a + b;
  }
}

template <class T>
T wrapping_sub(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b));
  } else {
    return a - b;
  }
}

template <class T>
T wrapping_mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(static_cast<std::uint64_t>(a) * static_cast<std::uint64_t>(b));
  } else {
    return a * b;
  }
}

// out = f(x, y) elementwise; x and y are already expanded to out's shape, so their
// strides may be 0. The common layouts (all contiguous, one operand a broadcast
// scalar along the run) get loops the compiler can vectorise.
template <class T, class F>
void binary_kernel(const Tensor& x, const Tensor& y, const Tensor& out, F f) {
  const T* px = x.data<T>();
  const T* py = y.data<T>();
  T* po = out.mutable_data<T>();
  detail::for_each_run<3>(out.sizes(), {&out.strides(), &x.strides(), &y.strides()}, {0, 0, 0},
                          [&](const std::array<std::int64_t, 3>& at, std::int64_t n,
                              const std::array<std::int64_t, 3>& step) {
                            T* o = po + at[0];
                            const T* u = px + at[1];
                            const T* v = py + at[2];
                            if (step[0] == 1 && step[1] == 1 && step[2] == 1) {
                              for (std::int64_t i = 0; i < n; ++i) o[i] = f(u[i], v[i]);
                            } else if (step[0] == 1 && step[1] == 1 && step[2] == 0) {
                              const T c = *v;
                              for (std::int64_t i = 0; i < n; ++i) o[i] = f(u[i], c);
                            } else if (step[0] == 1 && step[1] == 0 && step[2] == 1) {
                              const T c = *u;
                              for (std::int64_t i = 0; i < n; ++i) o[i] = f(c, v[i]);
                            } else {
                              for (std::int64_t i = 0; i < n; ++i) {
                                o[i * step[0]] = f(u[i * step[1]], v[i * step[2]]);
                              }
                            }
                          });
}

bool is_whole(double value) { return std::isfinite(value) && value == std::trunc(value); }

Tensor binary(BinaryKind kind, const Tensor& a, const Tensor& b, double alpha) {
  const char* op = binary_name(kind);
  detail::check_defined(op, a, "input");
  detail::check_defined(op, b, "other");
  detail::check_cpu(op, a, "input");
  detail::check_cpu(op, b, "other");
  const bool a_bool = a.dtype() == DType::kBool;
  const bool b_bool = b.dtype() == DType::kBool;
  MNEMO_CHECK(kind != BinaryKind::kSub || (!a_bool && !b_bool),
              "sub: subtraction, the `-` operator, with a bool tensor is not supported; "
              "to invert a mask use logical_not");

  DType result = promote_types(a.dtype(), b.dtype());
  MNEMO_CHECK(result == DType::kBool || detail::is_kernel_arithmetic(result), op, ": ",
              dtype_name(result), " arithmetic is not supported (operands ", dtype_name(a.dtype()),
              " and ", dtype_name(b.dtype()), "); convert them with .to(float32) first");
  if (kind == BinaryKind::kDiv && !is_floating_point(result)) result = DType::kFloat32;
  // bool + bool and bool * bool are logical or / and: compute on integers, then test
  // for non-zero.
  const bool both_bool = result == DType::kBool;
  const DType compute = both_bool ? DType::kInt64 : result;
  MNEMO_CHECK(is_floating_point(compute) || is_whole(alpha), op,
              ": for integral input tensors, alpha must be a whole number, got ", alpha);

  const Shape shape = broadcast_shapes(a.sizes(), b.sizes());
  const Tensor x = a.to(compute).expand(shape);
  const Tensor y = b.to(compute).expand(shape);
  Tensor out = empty(shape, {.dtype = compute});
  if (out.numel() == 0) return both_bool ? out.to(DType::kBool) : out;

  dispatch_arithmetic(compute, [&](auto tag) {
    using T = decltype(tag);
    const T scale = static_cast<T>(alpha);
    switch (kind) {
      case BinaryKind::kAdd:
        if (alpha == 1.0) {
          binary_kernel<T>(x, y, out, [](T u, T v) { return wrapping_add(u, v); });
        } else {
          binary_kernel<T>(x, y, out,
                           [scale](T u, T v) { return wrapping_add(u, wrapping_mul(scale, v)); });
        }
        break;
      case BinaryKind::kSub:
        if (alpha == 1.0) {
          binary_kernel<T>(x, y, out, [](T u, T v) { return wrapping_sub(u, v); });
        } else {
          binary_kernel<T>(x, y, out,
                           [scale](T u, T v) { return wrapping_sub(u, wrapping_mul(scale, v)); });
        }
        break;
      case BinaryKind::kMul:
        binary_kernel<T>(x, y, out, [](T u, T v) { return wrapping_mul(u, v); });
        break;
      case BinaryKind::kDiv:
        if constexpr (std::is_floating_point_v<T>) {
          binary_kernel<T>(x, y, out, [](T u, T v) { return u / v; });
        }
        break;
    }
  });
  return both_bool ? out.to(DType::kBool) : out;
}

Tensor neg_kernel(const Tensor& a) {
  detail::check_defined("neg", a, "input");
  detail::check_cpu("neg", a);
  MNEMO_CHECK(a.dtype() != DType::kBool,
              "neg: negation, the `-` operator, on a bool tensor is not supported; "
              "to invert a mask use logical_not");
  detail::check_arithmetic("neg", a);
  return dispatch_arithmetic(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    // The most negative integer stays itself, as in two's complement.
    return detail::map_unary<T>(a, [](T v) -> T {
      if constexpr (std::is_integral_v<T>) {
        return wrapping_sub(T{0}, v);
      } else {
        return -v;  // -0.0 for 0.0, which 0 - v would not give
      }
    });
  });
}

// The gradients of a op b: each is summed back over the dimensions broadcasting
// expanded for that operand (the engine casts it back to the operand's dtype).
class BinaryBackward : public autograd::Node {
 public:
  BinaryBackward(BinaryKind kind, double alpha, const Tensor& a, const Tensor& b)
      : kind_(kind), alpha_(alpha), a_shape_(a.sizes()), b_shape_(b.sizes()) {
    const bool a_grad = autograd::detail::requires_grad(a);
    const bool b_grad = autograd::detail::requires_grad(b);
    // Only what the formulas below read: mul needs the other operand, div needs b for
    // both gradients and a for b's.
    if (kind == BinaryKind::kMul) {
      if (a_grad) b_ = b;
      if (b_grad) a_ = a;
    } else if (kind == BinaryKind::kDiv) {
      b_ = b;
      if (b_grad) a_ = a;
    }
  }

  std::string name() const override {
    switch (kind_) {
      case BinaryKind::kAdd:
        return "AddBackward0";
      case BinaryKind::kSub:
        return "SubBackward0";
      case BinaryKind::kMul:
        return "MulBackward0";
      case BinaryKind::kDiv:
        return "DivBackward0";
    }
    return "?";
  }
  bool saves_variables() const override {
    return kind_ == BinaryKind::kMul || kind_ == BinaryKind::kDiv;
  }
  void release_variables() override {
    a_ = Tensor();
    b_ = Tensor();
  }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads.at(0);
    Tensor ga, gb;
    switch (kind_) {
      case BinaryKind::kAdd:
        if (needs_input_grad(0)) ga = g;
        if (needs_input_grad(1)) gb = alpha_ == 1.0 ? g : mul(g, alpha_);
        break;
      case BinaryKind::kSub:
        if (needs_input_grad(0)) ga = g;
        if (needs_input_grad(1)) gb = alpha_ == 1.0 ? neg(g) : mul(g, -alpha_);
        break;
      case BinaryKind::kMul:
        if (needs_input_grad(0)) ga = mul(g, b_);
        if (needs_input_grad(1)) gb = mul(g, a_);
        break;
      case BinaryKind::kDiv:
        if (needs_input_grad(0)) ga = div(g, b_);
        if (needs_input_grad(1)) gb = mul(neg(g), div(div(a_, b_), b_));  // -g * a / b / b
        break;
    }
    if (ga.defined()) ga = detail::sum_to(ga, a_shape_);
    if (gb.defined()) gb = detail::sum_to(gb, b_shape_);
    return {ga, gb};
  }

 private:
  BinaryKind kind_;
  double alpha_;
  Shape a_shape_, b_shape_;
  Tensor a_, b_;
};

Tensor binary_op(BinaryKind kind, const Tensor& a, const Tensor& b, double alpha) {
  const bool record = autograd::detail::any_requires_grad(a, b);
  Tensor out = autograd::detail::without_grad([&] { return binary(kind, a, b, alpha); });
  if (record) {
    autograd::detail::record(autograd::make_node<BinaryBackward>(kind, alpha, a, b), out, a, b);
  }
  return out;
}

class NegBackward : public autograd::Node {
 public:
  std::string name() const override { return "NegBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override { return {neg(grads.at(0))}; }
};

// The 0-dim operand a Python scalar becomes, with the dtype PyTorch would give the
// result (see the header): a scalar never widens a tensor within its category.
Tensor scalar_operand(const Tensor& a, double value, BinaryKind kind) {
  detail::check_defined(binary_name(kind), a, "input");
  DType dtype = a.dtype();
  if (!is_floating_point(dtype) && !is_complex(dtype)) {
    if (kind == BinaryKind::kDiv || !is_whole(value)) {
      dtype = DType::kFloat32;
    } else if (dtype == DType::kBool) {
      dtype = DType::kInt64;
    }
  }
  return full({}, value, {.dtype = dtype});
}

int promotion_rank(DType dtype) {  // the wider type within a category ranks higher
  switch (dtype) {
    case DType::kBool:
      return 0;
    case DType::kUInt8:
      return 1;
    case DType::kInt8:
      return 1;
    case DType::kInt16:
      return 2;
    case DType::kInt32:
      return 3;
    case DType::kInt64:
      return 4;
    case DType::kFloat16:
      return 5;
    case DType::kBFloat16:
      return 5;
    case DType::kFloat32:
      return 6;
    case DType::kFloat64:
      return 7;
    case DType::kComplex64:
      return 8;
    case DType::kComplex128:
      return 9;
    case DType::kUInt16:
    case DType::kUInt32:
    case DType::kUInt64:
    case DType::kFloat8E4M3FN:
    case DType::kFloat8E5M2:
      return -1;  // refused by promote_types before ranks are compared
  }
  return 0;
}

// PyTorch 2.x defines no promotion for its storage-only dtypes.
bool is_storage_only(DType dtype) {
  return dtype == DType::kUInt16 || dtype == DType::kUInt32 || dtype == DType::kUInt64 ||
         dtype == DType::kFloat8E4M3FN || dtype == DType::kFloat8E5M2;
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape result(rank);
  for (std::size_t i = 0; i < rank; ++i) {  // i counts from the last dimension
    const std::int64_t sa = i < a.size() ? a[a.size() - 1 - i] : 1;
    const std::int64_t sb = i < b.size() ? b[b.size() - 1 - i] : 1;
    MNEMO_CHECK(sa == sb || sa == 1 || sb == 1, "the size of tensor a (", sa,
                ") must match the size of tensor b (", sb, ") at non-singleton dimension ",
                rank - 1 - i, " (shapes ", shape_repr(a), " and ", shape_repr(b), ")");
    result[rank - 1 - i] = sa == 1 ? sb : sa;
  }
  return result;
}

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  MNEMO_CHECK(!is_storage_only(a) && !is_storage_only(b), "promotion of ", dtype_name(a), " and ",
              dtype_name(b),
              " is not supported (uint16/32/64 and float8 are storage "
              "dtypes); convert with .to(float32) first");
  if (a == DType::kBool) return b;
  if (b == DType::kBool) return a;
  if (is_complex(a) || is_complex(b)) {
    // complex64 widens to complex128 next to a float64.
    const bool wide = a == DType::kComplex128 || b == DType::kComplex128 || a == DType::kFloat64 ||
                      b == DType::kFloat64;
    return wide ? DType::kComplex128 : DType::kComplex64;
  }
  const bool a_float = is_floating_point(a);
  const bool b_float = is_floating_point(b);
  if (a_float != b_float) return a_float ? a : b;
  if (promotion_rank(a) == promotion_rank(b)) {
    // uint8 with int8, float16 with bfloat16: neither holds the other.
    return a_float ? DType::kFloat32 : DType::kInt16;
  }
  return promotion_rank(a) > promotion_rank(b) ? a : b;
}

Tensor add(const Tensor& a, const Tensor& b, double alpha) {
  return binary_op(BinaryKind::kAdd, a, b, alpha);
}
Tensor sub(const Tensor& a, const Tensor& b, double alpha) {
  return binary_op(BinaryKind::kSub, a, b, alpha);
}
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op(BinaryKind::kMul, a, b, 1.0); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_op(BinaryKind::kDiv, a, b, 1.0); }

Tensor add(const Tensor& a, double b) {
  return binary_op(BinaryKind::kAdd, a, scalar_operand(a, b, BinaryKind::kAdd), 1.0);
}
Tensor mul(const Tensor& a, double b) {
  return binary_op(BinaryKind::kMul, a, scalar_operand(a, b, BinaryKind::kMul), 1.0);
}
Tensor div(const Tensor& a, double b) {
  return binary_op(BinaryKind::kDiv, a, scalar_operand(a, b, BinaryKind::kDiv), 1.0);
}

Tensor neg(const Tensor& a) {
  Tensor out = neg_kernel(a);
  if (autograd::detail::any_requires_grad(a)) {
    autograd::detail::record(autograd::make_node<NegBackward>(), out, a);
  }
  return out;
}

}  // namespace mnemo
