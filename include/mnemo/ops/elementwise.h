// Elementwise arithmetic and activations on CPU tensors, with PyTorch's broadcasting.
//
// Binary operations broadcast their operands (numpy rules) and compute in the promoted
// dtype (promote_types). Kernels exist for float32, float64 and the integer dtypes;
// integer arithmetic wraps around like PyTorch's. bool operands count as integers
// below every other type, except that bool + bool and bool * bool stay bool (logical
// or / and) and bool - bool is refused, as in PyTorch. float16, bfloat16 and complex
// operands are refused: convert them with .to() first. Activations need float32 or
// float64. A tensor tagged with a CUDA device is refused with a message telling the
// user to load with map_location = cpu: this build computes on the CPU only.
#pragma once

#include "mnemo/core/tensor.h"

namespace mnemo {

// The broadcast of two shapes; throws kInvalidArgument naming both when impossible.
Shape broadcast_shapes(const Shape& a, const Shape& b);

// PyTorch's torch.promote_types: the same dtype stays; bool gives way to anything; a
// floating type wins over an integer one; otherwise the wider type (uint8 with int8
// gives int16; float16 with bfloat16 gives float32).
DType promote_types(DType a, DType b);

Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a + alpha * b
Tensor sub(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a - alpha * b
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);  // true division: integers give float32
// With a scalar, a floating tensor keeps its dtype. An integer tensor keeps its dtype
// when the scalar is a whole number (x + 1 stays int64) and gives float32 otherwise,
// which is what PyTorch does with a Python int or float; a bool tensor gives int64 or
// float32 by the same rule.
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);  // integers give float32
Tensor neg(const Tensor& a);            // refuses bool, as PyTorch does

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, double b) { return add(a, -b); }
inline Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
inline Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
inline Tensor operator/(const Tensor& a, double b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

// The activations below need float32 or float64 and keep the dtype.
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor relu(const Tensor& x);
// approximate = false: x * Phi(x) with erf (PyTorch's default); true: the tanh form.
Tensor gelu(const Tensor& x, bool approximate = false);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);

}  // namespace mnemo
