// 2-D convolution on CPU tensors: im2col + GEMM (OpenBLAS), PyTorch's conv2d semantics.
#pragma once

#include <array>

#include "mnemo/core/tensor.h"

namespace mnemo {

struct Conv2dOptions {
  std::array<std::int64_t, 2> stride = {1, 1};
  std::array<std::int64_t, 2> padding = {0, 0};  // zeros on each side
  std::array<std::int64_t, 2> dilation = {1, 1};
  std::int64_t groups = 1;
};

// input (N, C_in, H, W) or (C_in, H, W); weight (C_out, C_in / groups, kH, kW); an
// optional bias (C_out). Throws kInvalidArgument with PyTorch-like messages when the
// shapes do not agree or the kernel does not fit the padded input.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dOptions& options = {});

}  // namespace mnemo
