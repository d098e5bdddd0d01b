// 2-D pooling layers (no state), PyTorch's options.
#pragma once

#include <array>
#include <optional>

#include "mnemo/nn/module.h"
#include "mnemo/ops/pooling.h"

namespace mnemo::nn {

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(std::int64_t kernel_size, std::optional<std::int64_t> stride = std::nullopt,
                     std::int64_t padding = 0, std::int64_t dilation = 1, bool ceil_mode = false);
  explicit MaxPool2d(Pool2dOptions options) : Module("MaxPool2d"), options(options) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  Value config() const override;  // {kernel_size, stride, padding, dilation, ceil_mode}
  Pool2dOptions options;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(std::int64_t kernel_size, std::optional<std::int64_t> stride = std::nullopt,
                     std::int64_t padding = 0, bool ceil_mode = false,
                     bool count_include_pad = true);
  explicit AvgPool2d(Pool2dOptions options) : Module("AvgPool2d"), options(options) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  Value config() const override;  // {kernel_size, stride, padding, ceil_mode, count_include_pad}
  Pool2dOptions options;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(std::array<std::int64_t, 2> output_size)
      : Module("AdaptiveAvgPool2d"), output_size(output_size) {}
  explicit AdaptiveAvgPool2d(std::int64_t output_size)
      : AdaptiveAvgPool2d(std::array<std::int64_t, 2>{output_size, output_size}) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  Value config() const override;  // {output_size}
  std::array<std::int64_t, 2> output_size;
};

}  // namespace mnemo::nn
