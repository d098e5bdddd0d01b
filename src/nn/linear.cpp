#include "mnemo/nn/linear.h"

#include <cmath>

#include "mnemo/nn/init.h"
#include "mnemo/ops/linalg.h"
#include "nn/repr_util.h"

namespace mnemo::nn {

Linear::Linear(std::int64_t in_features, std::int64_t out_features, bool bias)
    : Module("Linear"), in_features(in_features), out_features(out_features) {
  MNEMO_CHECK(in_features >= 0 && out_features >= 0, "Linear(", in_features, ", ", out_features,
              "): feature counts must be >= 0");
  weight = register_parameter("weight", empty({out_features, in_features}));
  this->bias = register_parameter("bias", bias ? empty({out_features}) : Tensor());
  reset_parameters();
}

void Linear::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const auto fan_in = init::fan_in_and_fan_out(weight).first;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& input) { return linear(input, weight, bias); }

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features) +
         ", out_features=" + std::to_string(out_features) +
         ", bias=" + detail::py_bool(bias.defined());
}

Value Linear::config() const {
  return Dict{{"in_features", in_features},
              {"out_features", out_features},
              {"bias", bias.defined()}};
}

}  // namespace mnemo::nn
