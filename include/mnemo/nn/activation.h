// Parameter-free layers: activations, Dropout and Flatten.
#pragma once

#include "mnemo/nn/module.h"

namespace mnemo::nn {

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& input) override;
};

class GELU : public Module {
 public:
  // approximate = true is PyTorch's approximate='tanh'.
  explicit GELU(bool approximate = false) : Module("GELU"), approximate(approximate) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  Value config() const override;  // {approximate: "none" or "tanh"}, PyTorch's strings
  bool approximate;
};

class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& input) override;
};

class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& input) override;
};

// Zeroes elements with probability p in training mode (from the default generator, or
// the one given), scaling the rest by 1 / (1 - p); the identity in evaluation mode.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* generator = nullptr);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  // {p}. The generator is not part of it: a rebuilt Dropout draws from the default one.
  Value config() const override;
  double p;
  Generator* generator;
};

class Flatten : public Module {
 public:
  explicit Flatten(std::int64_t start_dim = 1, std::int64_t end_dim = -1)
      : Module("Flatten"), start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  Value config() const override;  // {start_dim, end_dim}
  std::int64_t start_dim;
  std::int64_t end_dim;
};

}  // namespace mnemo::nn
