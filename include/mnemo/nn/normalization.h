// nn::LayerNorm over the trailing `normalized_shape` dimensions; parameters "weight"
// (ones) and "bias" (zeros) of that shape when elementwise_affine.
#pragma once

#include "mnemo/nn/module.h"

namespace mnemo::nn {

class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);

  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  Value config() const override;  // {normalized_shape, eps, elementwise_affine}

  Shape normalized_shape;
  double eps;
  bool elementwise_affine;
  Tensor weight;
  Tensor bias;
};

}  // namespace mnemo::nn
