// nn::Embedding: a lookup table "weight" (num_embeddings, embedding_dim), initialised
// N(0, 1) with the padding_idx row (if any) zeroed, as PyTorch does.
#pragma once

#include <optional>

#include "mnemo/nn/module.h"

namespace mnemo::nn {

class Embedding : public Module {
 public:
  // A negative padding_idx counts from the end, as in PyTorch.
  Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim,
            std::optional<std::int64_t> padding_idx = std::nullopt);

  // indices: an integer tensor of any shape -> (*indices.shape, embedding_dim).
  Tensor forward(const Tensor& indices) override;
  std::string extra_repr() const override;
  // {num_embeddings, embedding_dim, padding_idx (None or the non-negative row)}
  Value config() const override;

  std::int64_t num_embeddings;
  std::int64_t embedding_dim;
  std::optional<std::int64_t> padding_idx;
  Tensor weight;
};

}  // namespace mnemo::nn
