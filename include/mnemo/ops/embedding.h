// Embedding lookup and dropout.
#pragma once

#include <cstdint>
#include <optional>

#include "mnemo/core/generator.h"
#include "mnemo/core/tensor.h"

namespace mnemo {

// Rows of `weight` (num_embeddings, dim) picked by integer `indices` of any shape; the
// result has shape indices.shape + (dim). An index out of range throws kInvalidArgument
// naming it. The row `padding_idx` (negative counts from the end) gets no gradient, as
// in PyTorch's F.embedding; the lookup itself is the same.
Tensor embedding(const Tensor& weight, const Tensor& indices,
                 std::optional<std::int64_t> padding_idx = std::nullopt);

// In training, zeroes each element with probability p and scales the rest by 1/(1-p),
// drawing from `generator` (the default one when null); otherwise returns the input.
// The gradient goes through the same mask, scaled the same way.
Tensor dropout(const Tensor& input, double p, bool training, Generator* generator = nullptr);

}  // namespace mnemo
