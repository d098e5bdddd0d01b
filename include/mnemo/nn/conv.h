// nn::Conv2d with PyTorch's parameters ("weight" (out, in / groups, kH, kW), "bias"
// (out)), options and initialisation (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both,
// fan_in = in / groups * kH * kW). Zero padding only.
#pragma once

#include <array>

#include "mnemo/nn/module.h"

namespace mnemo::nn {

struct Conv2dOptions {
  std::array<std::int64_t, 2> stride = {1, 1};
  std::array<std::int64_t, 2> padding = {0, 0};
  std::array<std::int64_t, 2> dilation = {1, 1};
  std::int64_t groups = 1;
  bool bias = true;
};

class Conv2d : public Module {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels,
         std::array<std::int64_t, 2> kernel_size, Conv2dOptions options = {});
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size,
         Conv2dOptions options = {})
      : Conv2d(in_channels, out_channels, {kernel_size, kernel_size}, options) {}

  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  // {in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias}
  Value config() const override;
  void reset_parameters();

  std::int64_t in_channels;
  std::int64_t out_channels;
  std::array<std::int64_t, 2> kernel_size;
  Conv2dOptions options;
  Tensor weight;
  Tensor bias;  // undefined without bias
};

}  // namespace mnemo::nn
