// Adam and AdamW: PyTorch 1.13's updates (the single-tensor path it takes for CPU
// tensors), bit for bit.
//
//   mnemo::optim::Adam opt(net.parameters(), {.lr = 1e-3});
//   mnemo::optim::AdamW optw(net.parameters(), {.lr = 1e-3, .weight_decay = 0.05});
//
// For each parameter p with gradient g (-g with maximize), in p's dtype, scalars rounded
// to it; fma is one rounding, every other operation rounds on its own:
//   step += 1                                   (a float32 tensor; t = its value)
//   Adam:  g = fma(weight_decay, p, g)          (only if weight_decay != 0)
//   AdamW: p = p * (1 - lr * weight_decay)      (always)
//   m = fma(1 - beta1, g, m * beta1)
//   v = fma((1 - beta2) * g, g, v * beta2)
//   bias_correction1 = 1 - beta1^t, bias_correction2 = 1 - beta2^t  (in double)
//   amsgrad: v_max = max(v_max, v), used instead of v below
//   denom = sqrt(v) / sqrt(bias_correction2) + eps
//   p = p + (-(lr / bias_correction1) * m) / denom
//
// State per parameter, created at its first step: {'step': 0-dim float32 tensor,
// 'exp_avg', 'exp_avg_sq', and 'max_exp_avg_sq' with amsgrad}. A group loaded from
// PyTorch 2.x with decoupled_weight_decay=True (2.x's AdamW is Adam with it) makes Adam
// take AdamW's update.
#pragma once

#include <vector>

#include "mnemo/optim/optimizer.h"

namespace mnemo::optim {

struct AdamOptions {
  Number lr = 1e-3;
  Betas betas = {};
  Number eps = 1e-8;
  Number weight_decay = 0;
  bool amsgrad = false;
  bool maximize = false;
};

struct AdamWOptions {
  Number lr = 1e-3;
  Betas betas = {};
  Number eps = 1e-8;
  Number weight_decay = 1e-2;
  bool amsgrad = false;
  bool maximize = false;
};

class Adam : public Optimizer {
 public:
  // Throws kInvalidArgument with PyTorch's message for an invalid value ("Invalid
  // learning rate: -1", "Invalid beta parameter at index 0: 1.0", ...) or no parameters.
  Adam(const std::vector<Tensor>& params, const AdamOptions& options = {});
  Adam(const std::vector<ParamGroup>& groups, const AdamOptions& options = {});

  void step() override;

 protected:
  // AdamW's constructors.
  Adam(std::string name, Dict defaults);
  Dict setstate_defaults() const override;
  void check_group(const Dict& options, const std::string& where) const override;
  void check_state(Dict& state, const Tensor& param, const Dict& options,
                   const std::string& where) const override;
  // Whether a group decays weights as AdamW does.
  virtual bool decoupled(const Dict& options, const std::string& where) const;
};

class AdamW : public Adam {
 public:
  AdamW(const std::vector<Tensor>& params, const AdamWOptions& options = {});
  AdamW(const std::vector<ParamGroup>& groups, const AdamWOptions& options = {});

 protected:
  Dict setstate_defaults() const override;
  bool decoupled(const Dict& options, const std::string& where) const override;
};

}  // namespace mnemo::optim
