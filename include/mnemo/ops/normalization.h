// Normalisation on CPU tensors: batch_norm (training and evaluation) and layer_norm.
#pragma once

#include "mnemo/core/tensor.h"

namespace mnemo {

// input (N, C, ...). In training, normalises with the batch's statistics (biased
// variance) and, when running_mean / running_var are defined, updates them in place:
// running = (1 - momentum) * running + momentum * batch, with the unbiased variance,
// exactly as PyTorch does. In evaluation, normalises with the running statistics.
// weight and bias (C) are optional (undefined tensors).
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps);

// Normalises over the trailing dimensions `normalized_shape`, then applies the optional
// elementwise weight and bias (of that shape).
Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps);

}  // namespace mnemo
