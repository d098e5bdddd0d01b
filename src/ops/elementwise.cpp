// Broadcasting binary arithmetic with PyTorch's type promotion, and negation.
#include "mnemo/ops/elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "core/strided_loop.h"
#include "ops/checks.h"
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
  }
  return 0;
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
  return binary(BinaryKind::kAdd, a, b, alpha);
}
Tensor sub(const Tensor& a, const Tensor& b, double alpha) {
  return binary(BinaryKind::kSub, a, b, alpha);
}
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryKind::kMul, a, b, 1.0); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryKind::kDiv, a, b, 1.0); }

Tensor add(const Tensor& a, double b) {
  return binary(BinaryKind::kAdd, a, scalar_operand(a, b, BinaryKind::kAdd), 1.0);
}
Tensor mul(const Tensor& a, double b) {
  return binary(BinaryKind::kMul, a, scalar_operand(a, b, BinaryKind::kMul), 1.0);
}
Tensor div(const Tensor& a, double b) {
  return binary(BinaryKind::kDiv, a, scalar_operand(a, b, BinaryKind::kDiv), 1.0);
}

Tensor neg(const Tensor& a) {
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

}  // namespace mnemo
