// SGD with momentum, dampening, Nesterov momentum, weight decay and maximize: PyTorch
// 1.13's update (its single-tensor path, the one it takes for CPU tensors), bit for bit.
//
//   mnemo::optim::SGD opt(net.parameters(), {.lr = 0.1, .momentum = 0.9});
//
// For each parameter p with gradient g (-g with maximize), in p's dtype:
//   g = g + weight_decay * p                  (fused multiply-add; only if weight_decay != 0)
//   if momentum != 0:
//     buf = g on the first step, else buf = buf * momentum + (1 - dampening) * g  (fused)
//     g = nesterov ? g + momentum * buf (fused) : buf
//   p = p - lr * g                            (fused)
// Each scalar is rounded to p's dtype first, as PyTorch's kernels do.
//
// State per parameter that had a gradient: {'momentum_buffer': Tensor}, or, with
// momentum 0, {'momentum_buffer': None} — what 1.13 stores (2.x stores nothing; both load).
#pragma once

#include <optional>
#include <vector>

#include "mnemo/optim/optimizer.h"

namespace mnemo::optim {

// The defaults of every group. PyTorch 1.13 has no default lr for SGD: give it here or
// in every group.
struct SGDOptions {
  std::optional<Number> lr = std::nullopt;
  Number momentum = 0;
  Number dampening = 0;
  Number weight_decay = 0;
  bool nesterov = false;
  bool maximize = false;
};

class SGD : public Optimizer {
 public:
  // Throws kInvalidArgument with PyTorch's message for an invalid value ("Invalid
  // learning rate: -1", "Nesterov momentum requires a momentum and zero dampening"),
  // an empty parameter list, or a group without lr when there is no default.
  SGD(const std::vector<Tensor>& params, const SGDOptions& options = {});
  SGD(const std::vector<ParamGroup>& groups, const SGDOptions& options = {});

  void step() override;

 protected:
  Dict setstate_defaults() const override;
  void check_group(const Dict& options, const std::string& where) const override;
  void check_state(Dict& state, const Tensor& param, const Dict& options,
                   const std::string& where) const override;
};

}  // namespace mnemo::optim
