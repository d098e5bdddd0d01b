#include "mnemo/nn/pooling.h"

#include "nn/repr_util.h"

namespace mnemo::nn {
namespace {

std::array<std::int64_t, 2> both(std::int64_t v) { return {v, v}; }
List pair(const std::array<std::int64_t, 2>& v) { return List{v[0], v[1]}; }

}  // namespace

MaxPool2d::MaxPool2d(std::int64_t kernel_size, std::optional<std::int64_t> stride,
                     std::int64_t padding, std::int64_t dilation, bool ceil_mode)
    : MaxPool2d(Pool2dOptions{.kernel_size = both(kernel_size),
                              .stride = both(stride.value_or(kernel_size)),
                              .padding = both(padding),
                              .dilation = both(dilation),
                              .ceil_mode = ceil_mode}) {}

Tensor MaxPool2d::forward(const Tensor& input) { return max_pool2d(input, options); }

std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + detail::py_int_or_pair(options.kernel_size) +
         ", stride=" + detail::py_int_or_pair(options.stride.value_or(options.kernel_size)) +
         ", padding=" + detail::py_int_or_pair(options.padding) +
         ", dilation=" + detail::py_int_or_pair(options.dilation) +
         ", ceil_mode=" + detail::py_bool(options.ceil_mode);
}

AvgPool2d::AvgPool2d(std::int64_t kernel_size, std::optional<std::int64_t> stride,
                     std::int64_t padding, bool ceil_mode, bool count_include_pad)
    : AvgPool2d(Pool2dOptions{.kernel_size = both(kernel_size),
                              .stride = both(stride.value_or(kernel_size)),
                              .padding = both(padding),
                              .ceil_mode = ceil_mode,
                              .count_include_pad = count_include_pad}) {}

Tensor AvgPool2d::forward(const Tensor& input) { return avg_pool2d(input, options); }

std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + detail::py_int_or_pair(options.kernel_size) +
         ", stride=" + detail::py_int_or_pair(options.stride.value_or(options.kernel_size)) +
         ", padding=" + detail::py_int_or_pair(options.padding);
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& input) {
  return adaptive_avg_pool2d(input, output_size);
}

std::string AdaptiveAvgPool2d::extra_repr() const {
  return "output_size=" + detail::py_int_or_pair(output_size);
}

Value MaxPool2d::config() const {
  return Dict{{"kernel_size", pair(options.kernel_size)},
              {"stride", pair(options.stride.value_or(options.kernel_size))},
              {"padding", pair(options.padding)},
              {"dilation", pair(options.dilation)},
              {"ceil_mode", options.ceil_mode}};
}

Value AvgPool2d::config() const {
  return Dict{{"kernel_size", pair(options.kernel_size)},
              {"stride", pair(options.stride.value_or(options.kernel_size))},
              {"padding", pair(options.padding)},
              {"ceil_mode", options.ceil_mode},
              {"count_include_pad", options.count_include_pad}};
}

Value AdaptiveAvgPool2d::config() const { return Dict{{"output_size", pair(output_size)}}; }

}  // namespace mnemo::nn
