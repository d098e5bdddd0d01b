// Matrix products on CPU tensors through OpenBLAS (float32 and float64).
#pragma once

#include "mnemo/core/tensor.h"

namespace mnemo {

// torch.matmul for 1-D and 2-D operands, and batched when either has more dimensions
// (the batch dimensions broadcast). Any strides are accepted.
Tensor matmul(const Tensor& a, const Tensor& b);

// y = x W^T + b, for x of shape (..., in_features), weight (out_features, in_features)
// and an optional bias (out_features); an undefined bias means none.
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace mnemo
