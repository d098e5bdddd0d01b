// The little arithmetic the engine itself needs on gradients, kept here so that
// autograd does not depend on the ops layer above it. Private to the library.
#pragma once

#include "mnemo/core/tensor.h"

namespace mnemo::autograd::detail {

// a + b as a new contiguous tensor. REQUIRES: same sizes and dtype (a floating one).
Tensor add_gradients(const Tensor& a, const Tensor& b);

// dst += src in place, for any strides of either. REQUIRES: same sizes; dst floating.
void add_into(const Tensor& dst, const Tensor& src);

}  // namespace mnemo::autograd::detail
