#include "mnemo/nn/conv.h"

#include <cmath>

#include "mnemo/nn/init.h"
#include "mnemo/ops/conv.h"
#include "nn/repr_util.h"

namespace mnemo::nn {

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels,
               std::array<std::int64_t, 2> kernel_size, Conv2dOptions options)
    : Module("Conv2d"),
      in_channels(in_channels),
      out_channels(out_channels),
      kernel_size(kernel_size),
      options(options) {
  MNEMO_CHECK(options.groups > 0, "groups must be a positive integer, got ", options.groups);
  MNEMO_CHECK(in_channels % options.groups == 0, "in_channels must be divisible by groups (",
              in_channels, " and ", options.groups, ")");
  MNEMO_CHECK(out_channels % options.groups == 0, "out_channels must be divisible by groups (",
              out_channels, " and ", options.groups, ")");
  MNEMO_CHECK(kernel_size[0] > 0 && kernel_size[1] > 0, "kernel_size must be positive, got ",
              detail::py_pair(kernel_size));
  weight = register_parameter(
      "weight", empty({out_channels, in_channels / options.groups, kernel_size[0], kernel_size[1]}));
  bias = register_parameter("bias", options.bias ? empty({out_channels}) : Tensor());
  reset_parameters();
}

void Conv2d::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const auto fan_in = init::fan_in_and_fan_out(weight).first;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Conv2d::forward(const Tensor& input) {
  return conv2d(input, weight, bias,
                mnemo::Conv2dOptions{.stride = options.stride,
                                     .padding = options.padding,
                                     .dilation = options.dilation,
                                     .groups = options.groups});
}

std::string Conv2d::extra_repr() const {
  std::string text = std::to_string(in_channels) + ", " + std::to_string(out_channels) +
                     ", kernel_size=" + detail::py_pair(kernel_size) +
                     ", stride=" + detail::py_pair(options.stride);
  if (options.padding != std::array<std::int64_t, 2>{0, 0}) {
    text += ", padding=" + detail::py_pair(options.padding);
  }
  if (options.dilation != std::array<std::int64_t, 2>{1, 1}) {
    text += ", dilation=" + detail::py_pair(options.dilation);
  }
  if (options.groups != 1) text += ", groups=" + std::to_string(options.groups);
  if (!bias.defined()) text += ", bias=False";
  return text;
}

Value Conv2d::config() const {
  auto pair = [](const std::array<std::int64_t, 2>& v) { return List{v[0], v[1]}; };
  return Dict{{"in_channels", in_channels},
              {"out_channels", out_channels},
              {"kernel_size", pair(kernel_size)},
              {"stride", pair(options.stride)},
              {"padding", pair(options.padding)},
              {"dilation", pair(options.dilation)},
              {"groups", options.groups},
              {"bias", options.bias}};
}

}  // namespace mnemo::nn
