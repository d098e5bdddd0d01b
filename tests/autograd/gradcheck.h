// Checks the gradients backward() computes against central finite differences, in
// float64, for the autograd tests.
//
// For f mapping inputs to an output y, a fixed random weighting r of y's elements
// turns y into the scalar L = sum(y * r); y.backward(r) gives dL/dx for every input
// that requires grad, and (L(x + h e_k) - L(x - h e_k)) / 2h estimates each element of
// it. A random r checks the whole Jacobian, not one row of it.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "mnemo/autograd.h"
#include "mnemo/core/generator.h"
#include "mnemo/core/tensor.h"

namespace mnemo::testing {

using Function = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradcheckOptions {
  double step = 1e-6;
  double atol = 1e-7;
  double rtol = 1e-6;
};

// A float64 leaf of standard normal values that requires grad.
inline Tensor leaf(const Shape& sizes, std::uint64_t seed, bool requires_grad = true) {
  Generator gen(seed);
  Tensor t = randn(sizes, {.dtype = DType::kFloat64}, &gen);
  t.set_requires_grad(requires_grad);
  return t;
}

// L = sum(f(inputs) * weights), in double, without recording.
inline double weighted_sum(const Function& f, const std::vector<Tensor>& inputs,
                           const Tensor& weights) {
  NoGradGuard no_grad;
  const Tensor y = f(inputs).to(DType::kFloat64).contiguous();
  const Tensor w = weights.contiguous();
  double total = 0.0;
  for (std::int64_t i = 0; i < y.numel(); ++i) total += y.data<double>()[i] * w.data<double>()[i];
  return total;
}

// REQUIRES: inputs are contiguous float64 leaves; those that require grad are checked.
inline ::testing::AssertionResult gradcheck(const Function& f, const std::vector<Tensor>& inputs,
                                            GradcheckOptions options = {}) {
  for (const Tensor& x : inputs) {
    if (x.requires_grad()) x.set_grad(Tensor());
  }
  const Tensor y = f(inputs);
  if (!y.requires_grad())
    return ::testing::AssertionFailure() << "the output does not require grad";
  Generator gen(1234);
  const Tensor weights = randn(y.sizes(), {.dtype = DType::kFloat64}, &gen);
  y.backward(weights.to(y.dtype()));

  std::ostringstream failures;
  int failed = 0;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    const Tensor analytic = x.grad();
    if (!analytic.defined()) {
      failures << "input " << k << " received no gradient\n";
      ++failed;
      continue;
    }
    const Tensor a = analytic.to(DType::kFloat64).contiguous();
    double* data = x.mutable_data<double>();  // raw writes: no graph is alive here
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      const double saved = data[i];
      data[i] = saved + options.step;
      const double plus = weighted_sum(f, inputs, weights);
      data[i] = saved - options.step;
      const double minus = weighted_sum(f, inputs, weights);
      data[i] = saved;
      const double numeric = (plus - minus) / (2 * options.step);
      const double got = a.data<double>()[i];
      if (!(std::abs(got - numeric) <= options.atol + options.rtol * std::abs(numeric))) {
        if (failed < 8) {
          failures << "input " << k << " element " << i << ": backward " << got
                   << ", finite difference " << numeric << "\n";
        }
        ++failed;
      }
    }
  }
  if (failed > 0)
    return ::testing::AssertionFailure() << failed << " mismatches\n" << failures.str();
  return ::testing::AssertionSuccess();
}

}  // namespace mnemo::testing
