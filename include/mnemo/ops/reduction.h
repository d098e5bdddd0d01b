// Reductions over CPU tensors: sums, means, arg-max and (log-)softmax.
// Floating sums accumulate in float64 and round once to the input dtype, so results
// hardly depend on the summation order.
#pragma once

#include "mnemo/core/tensor.h"

namespace mnemo {

// Sum / mean of all elements: a 0-dim tensor (int64 for integer and bool inputs to sum).
Tensor sum(const Tensor& x);
Tensor mean(const Tensor& x);  // REQUIRES: a floating dtype
// Over the dimensions `dims` (negative allowed), keeping them as size 1 when `keepdim`.
Tensor sum(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor mean(const Tensor& x, const Shape& dims, bool keepdim = false);
// Index of the largest value along `dim` (the first one on ties), as int64.
Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim = false);
// Numerically stable softmax / log_softmax along `dim`.
Tensor softmax(const Tensor& x, std::int64_t dim);
Tensor log_softmax(const Tensor& x, std::int64_t dim);

}  // namespace mnemo
