#include "mnemo/nn/activation.h"

#include "mnemo/ops/elementwise.h"
#include "mnemo/ops/embedding.h"

namespace mnemo::nn {

Tensor ReLU::forward(const Tensor& input) { return relu(input); }

Tensor GELU::forward(const Tensor& input) { return gelu(input, approximate); }
std::string GELU::extra_repr() const {
  return approximate ? "approximate='tanh'" : "approximate='none'";
}

Tensor Tanh::forward(const Tensor& input) { return mnemo::tanh(input); }

Tensor Sigmoid::forward(const Tensor& input) { return sigmoid(input); }

Dropout::Dropout(double p, Generator* generator) : Module("Dropout"), p(p), generator(generator) {
  MNEMO_CHECK(p >= 0.0 && p <= 1.0, "dropout probability has to be between 0 and 1, but got ", p);
}

Tensor Dropout::forward(const Tensor& input) {
  return dropout(input, p, is_training(), generator);
}

std::string Dropout::extra_repr() const { return "p=" + repr_double(p) + ", inplace=False"; }

Tensor Flatten::forward(const Tensor& input) { return input.flatten(start_dim, end_dim); }

std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_dim) + ", end_dim=" + std::to_string(end_dim);
}

Value GELU::config() const { return Dict{{"approximate", approximate ? "tanh" : "none"}}; }

Value Dropout::config() const { return Dict{{"p", p}}; }

Value Flatten::config() const { return Dict{{"start_dim", start_dim}, {"end_dim", end_dim}}; }

}  // namespace mnemo::nn
