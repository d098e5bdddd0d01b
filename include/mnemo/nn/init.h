// Parameter initialisation, with PyTorch's distributions (torch.nn.init) drawn from
// mnemo's generator: the default one, or the one given.
#pragma once

#include <utility>

#include "mnemo/core/generator.h"
#include "mnemo/core/tensor.h"

namespace mnemo::nn::init {

// (fan_in, fan_out) of a weight: (size(1), size(0)) times the receptive field size.
// REQUIRES: at least 2 dimensions.
std::pair<std::int64_t, std::int64_t> fan_in_and_fan_out(const Tensor& weight);

// Each writes every element of `tensor` in place (a floating tensor) and returns it.
const Tensor& uniform_(const Tensor& tensor, double low, double high,
                       Generator* generator = nullptr);
const Tensor& normal_(const Tensor& tensor, double mean, double std,
                      Generator* generator = nullptr);
const Tensor& constant_(const Tensor& tensor, double value);
const Tensor& zeros_(const Tensor& tensor);
const Tensor& ones_(const Tensor& tensor);

// U(-bound, bound) with bound = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2))
// (leaky_relu with slope a). Linear and Conv2d use a = sqrt(5), i.e. bound = 1/sqrt(fan_in).
const Tensor& kaiming_uniform_(const Tensor& tensor, double a = 0.0,
                               Generator* generator = nullptr);

}  // namespace mnemo::nn::init
