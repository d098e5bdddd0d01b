#include "mnemo/nn/normalization.h"

#include "mnemo/ops/normalization.h"
#include "nn/repr_util.h"

namespace mnemo::nn {

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool elementwise_affine)
    : Module("LayerNorm"),
      normalized_shape(std::move(normalized_shape)),
      eps(eps),
      elementwise_affine(elementwise_affine) {
  weight = register_parameter("weight", elementwise_affine ? ones(this->normalized_shape) : Tensor());
  bias = register_parameter("bias", elementwise_affine ? zeros(this->normalized_shape) : Tensor());
}

Tensor LayerNorm::forward(const Tensor& input) {
  return layer_norm(input, normalized_shape, weight, bias, eps);
}

std::string LayerNorm::extra_repr() const {
  return detail::py_tuple(normalized_shape) + ", eps=" + repr_double(eps) +
         ", elementwise_affine=" + detail::py_bool(elementwise_affine);
}

Value LayerNorm::config() const {
  List shape;
  for (std::int64_t size : normalized_shape) shape.emplace_back(size);
  return Dict{{"normalized_shape", std::move(shape)},
              {"eps", eps},
              {"elementwise_affine", elementwise_affine}};
}

}  // namespace mnemo::nn
