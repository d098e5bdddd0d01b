// Loss functions on CPU tensors, with torch.nn.functional's semantics and autograd.
#pragma once

#include "mnemo/core/tensor.h"

namespace mnemo {

// How a loss reduces its per-element values: PyTorch's reduction='none' | 'mean' | 'sum'.
enum class Reduction { kNone, kMean, kSum };

// Negative log-likelihood of class indices: input (N, C) log-probabilities, target (N)
// integer classes in [0, C) (or input (C) with a 0-dim target). loss_i = -input[i, t_i];
// kMean divides the sum by N. Class weights and ignore_index are not supported.
Tensor nll_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::kMean);

// log_softmax over the classes, then nll_loss, for logits (N, C) or (C). With
// label_smoothing e in [0, 1] the target mixes in the uniform distribution, as PyTorch:
// (1 - e) * nll + e / C * (sum over classes of -log p), each term reduced the same way.
// Targets must be class indices (class probabilities are not supported).
Tensor cross_entropy(const Tensor& input, const Tensor& target,
                     Reduction reduction = Reduction::kMean, double label_smoothing = 0.0);

// (input - target)^2 elementwise, reduced; the shapes broadcast (PyTorch also warns).
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::kMean);

}  // namespace mnemo
