// 2-D pooling on CPU tensors of shape (N, C, H, W) or (C, H, W), PyTorch's semantics
// (output sizes, ceil_mode, padding, count_include_pad).
#pragma once

#include <array>
#include <optional>

#include "mnemo/core/tensor.h"

namespace mnemo {

struct Pool2dOptions {
  std::array<std::int64_t, 2> kernel_size = {2, 2};
  // Default: kernel_size. (Initialised explicitly so that designated initialisers that
  // omit it do not trigger -Wmissing-field-initializers.)
  std::optional<std::array<std::int64_t, 2>> stride = std::nullopt;
  std::array<std::int64_t, 2> padding = {0, 0};
  std::array<std::int64_t, 2> dilation = {1, 1};  // max pooling only
  bool ceil_mode = false;
  bool count_include_pad = true;  // average pooling only
};

Tensor max_pool2d(const Tensor& input, const Pool2dOptions& options);
Tensor avg_pool2d(const Tensor& input, const Pool2dOptions& options);
// Averages over adaptive windows so that the output is (..., out_h, out_w).
Tensor adaptive_avg_pool2d(const Tensor& input, std::array<std::int64_t, 2> output_size);

}  // namespace mnemo
