// Python's arithmetic on Numbers, so that the schedulers' formulas read as PyTorch's
// Python does and give its results: int op int stays an int (+, -, *, //, %, ** with a
// non-negative exponent), anything with a float is a float computed in double, / is
// always a float, % and // round toward negative infinity, and ** calls the C library's
// pow as CPython does. Evaluation order is C++'s, which for + - * / is Python's (left to
// right, * and / before + and -), so keep each formula's parentheses as PyTorch writes
// them. Include optim/strict_fp.h after this: it keeps the compiler from fusing a
// product into a following sum.
#pragma once

#include <cmath>
#include <cstdint>

#include "mnemo/core/error.h"
#include "mnemo/optim/optimizer.h"

namespace mnemo::optim {

namespace python {

inline void check_overflow(bool overflow) {
  if (overflow)
    fail(ErrorCode::kInvalidArgument, "integer overflow in an LR scheduler's arithmetic");
}

// Python's float % float: the result takes the divisor's sign.
inline double float_mod(double x, double y) {
  double mod = std::fmod(x, y);
  if (mod != 0) {
    if ((y < 0) != (mod < 0)) mod += y;
  } else {
    mod = std::copysign(0.0, y);
  }
  return mod;
}

}  // namespace python

inline Number operator+(const Number& a, const Number& b) {
  if (a.is_int() && b.is_int()) {
    std::int64_t r = 0;
    python::check_overflow(__builtin_add_overflow(a.as_int(), b.as_int(), &r));
    return r;
  }
  return a.to_double() + b.to_double();
}

inline Number operator-(const Number& a, const Number& b) {
  if (a.is_int() && b.is_int()) {
    std::int64_t r = 0;
    python::check_overflow(__builtin_sub_overflow(a.as_int(), b.as_int(), &r));
    return r;
  }
  return a.to_double() - b.to_double();
}

inline Number operator*(const Number& a, const Number& b) {
  if (a.is_int() && b.is_int()) {
    std::int64_t r = 0;
    python::check_overflow(__builtin_mul_overflow(a.as_int(), b.as_int(), &r));
    return r;
  }
  return a.to_double() * b.to_double();
}

// Python's true division (exact for ints below 2**53, which is what lrs use).
inline Number operator/(const Number& a, const Number& b) {
  if (b.to_double() == 0) fail(ErrorCode::kInvalidArgument, "division by zero in an LR scheduler");
  return a.to_double() / b.to_double();
}

// Python's %, for ints and floats.
inline Number operator%(const Number& a, const Number& b) {
  if (b.to_double() == 0) fail(ErrorCode::kInvalidArgument, "modulo by zero in an LR scheduler");
  if (a.is_int() && b.is_int()) {
    const std::int64_t r = a.as_int() % b.as_int();
    return (r != 0 && ((r < 0) != (b.as_int() < 0))) ? r + b.as_int() : r;
  }
  return python::float_mod(a.to_double(), b.to_double());
}

// Python's // for ints.
inline std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  if (b == 0) fail(ErrorCode::kInvalidArgument, "division by zero in an LR scheduler");
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Python's **: int ** non-negative int is an int; otherwise float_pow, which for finite
// operands is the C library's pow.
inline Number pow(const Number& base, const Number& exponent) {
  if (base.is_int() && exponent.is_int() && exponent.as_int() >= 0) {
    std::int64_t result = 1;
    for (std::int64_t i = 0; i < exponent.as_int(); ++i) {
      python::check_overflow(__builtin_mul_overflow(result, base.as_int(), &result));
    }
    return result;
  }
  if (exponent.to_double() == 0) return 1.0;  // CPython: x ** 0 is 1.0, even for nan
  return std::pow(base.to_double(), exponent.to_double());
}

inline bool operator<(const Number& a, const Number& b) {
  if (a.is_int() && b.is_int()) return a.as_int() < b.as_int();
  return a.to_double() < b.to_double();
}
inline bool operator>(const Number& a, const Number& b) { return b < a; }
// Python's == across types (1 == 1.0), unlike Number's own ==, which compares types too.
inline bool equals(const Number& a, const Number& b) {
  if (a.is_int() && b.is_int()) return a.as_int() == b.as_int();
  return a.to_double() == b.to_double();
}

}  // namespace mnemo::optim
