#include "mnemo/nn/embedding.h"

#include "mnemo/autograd/grad_mode.h"
#include "mnemo/nn/init.h"
#include "mnemo/ops/embedding.h"

namespace mnemo::nn {

Embedding::Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim,
                     std::optional<std::int64_t> padding_idx)
    : Module("Embedding"), num_embeddings(num_embeddings), embedding_dim(embedding_dim) {
  MNEMO_CHECK(num_embeddings >= 0 && embedding_dim >= 0, "Embedding(", num_embeddings, ", ",
              embedding_dim, "): sizes must be >= 0");
  if (padding_idx) {
    MNEMO_CHECK(*padding_idx < num_embeddings && *padding_idx >= -num_embeddings,
                "Padding_idx must be within num_embeddings (got ", *padding_idx, " for ",
                num_embeddings, ")");
    this->padding_idx = *padding_idx < 0 ? *padding_idx + num_embeddings : *padding_idx;
  }
  weight = register_parameter("weight", empty({num_embeddings, embedding_dim}));
  init::normal_(weight, 0.0, 1.0);
  if (this->padding_idx) {
    NoGradGuard no_grad;  // initialisation, outside any graph
    weight.select(0, *this->padding_idx).zero_();
  }
}

Tensor Embedding::forward(const Tensor& indices) { return embedding(weight, indices, padding_idx); }

std::string Embedding::extra_repr() const {
  std::string text = std::to_string(num_embeddings) + ", " + std::to_string(embedding_dim);
  if (padding_idx) text += ", padding_idx=" + std::to_string(*padding_idx);
  return text;
}

Value Embedding::config() const {
  Value padding;  // None: no padding row
  if (padding_idx) padding = *padding_idx;
  return Dict{{"num_embeddings", num_embeddings},
              {"embedding_dim", embedding_dim},
              {"padding_idx", std::move(padding)}};
}

}  // namespace mnemo::nn
