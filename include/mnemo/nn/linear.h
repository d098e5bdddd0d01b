// nn::Linear: y = x W^T + b. Parameters "weight" (out_features, in_features) and "bias"
// (out_features), initialised as PyTorch does: U(-1/sqrt(in), 1/sqrt(in)) for both.
#pragma once

#include "mnemo/nn/module.h"

namespace mnemo::nn {

class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias = true);

  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  Value config() const override;  // {in_features, out_features, bias}
  void reset_parameters();

  std::int64_t in_features;
  std::int64_t out_features;
  Tensor weight;
  Tensor bias;  // undefined without bias
};

}  // namespace mnemo::nn
