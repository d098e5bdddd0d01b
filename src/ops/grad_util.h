// Helpers the backward formulas of several ops share. Private to the library.
#pragma once

#include <vector>

#include "mnemo/core/tensor.h"

namespace mnemo::detail {

// `grad` summed over the dimensions that broadcasting expanded, so that it has `shape`
// again: the leading dimensions `shape` lacks, and those where `shape` has size 1.
// Returns `grad` itself when nothing was broadcast. Sums accumulate in double.
Tensor sum_to(const Tensor& grad, const Shape& shape);

// The elements of a floating tensor as doubles, row-major (`fill` repeated `count`
// times when it is undefined).
std::vector<double> to_doubles(const Tensor& t, std::int64_t count = 0, double fill = 0.0);

// A new contiguous tensor of `sizes` and `dtype` holding `values` (row-major).
Tensor from_doubles(const std::vector<double>& values, const Shape& sizes, DType dtype);

}  // namespace mnemo::detail
