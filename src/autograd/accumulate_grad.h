// The node at a leaf: adds the gradient that reaches it into the leaf's grad(). Private
// to the library.
#pragma once

#include "mnemo/autograd/node.h"

namespace mnemo::autograd::detail {

class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(Tensor variable);

  std::string name() const override { return "AccumulateGrad"; }
  // The first gradient becomes the leaf's grad, as a tensor of its own (stolen when
  // nothing else holds it, copied otherwise); later ones are added into it in place,
  // so handles to grad() see the sum, as in PyTorch.
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;

  const Tensor& variable() const { return variable_; }

 private:
  Tensor variable_;  // held strongly; the leaf holds this node weakly
};

}  // namespace mnemo::autograd::detail
