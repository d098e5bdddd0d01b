// nll_loss (its own node), and cross_entropy and mse_loss composed from recorded ops,
// so that their gradients follow from those ops' backward.
#include "mnemo/ops/loss.h"

#include <cstdint>
#include <string>
#include <vector>

#include "autograd/function.h"
#include "mnemo/ops/elementwise.h"
#include "mnemo/ops/reduction.h"
#include "ops/checks.h"

namespace mnemo {
namespace {

// The (N, C) view of an nll_loss input and its checked int64 targets.
struct NllProblem {
  std::int64_t batch = 1;
  std::int64_t classes = 0;
  Tensor target;  // int64, contiguous, every value in [0, classes)
};

NllProblem nll_problem(const char* op, const Tensor& input, const Tensor& target) {
  detail::check_float_input(op, input);
  detail::check_defined(op, target, "target");
  detail::check_cpu(op, target, "target");
  MNEMO_CHECK(is_integral(target.dtype(), /*include_bool=*/false), op,
              ": target must hold class indices (an integer dtype), got ",
              dtype_name(target.dtype()), "; class probabilities are not supported");
  MNEMO_CHECK(input.dim() == 1 || input.dim() == 2, op,
              ": expected input of shape (N, C) or (C), got ", shape_repr(input.sizes()));
  NllProblem p;
  p.classes = input.size(-1);
  if (input.dim() == 2) {
    p.batch = input.size(0);
    MNEMO_CHECK(target.dim() == 1, op, ": expected a 1-D target for input of shape ",
                shape_repr(input.sizes()), ", got ", shape_repr(target.sizes()));
    MNEMO_CHECK(target.size(0) == p.batch, "Expected input batch_size (", p.batch,
                ") to match target batch_size (", target.size(0), ").");
  } else {
    MNEMO_CHECK(target.dim() == 0, op, ": expected a 0-dim target for input of shape ",
                shape_repr(input.sizes()), ", got ", shape_repr(target.sizes()));
  }
  p.target = target.to(DType::kInt64).contiguous();
  if (p.target.is_same(target)) p.target = p.target.clone();  // backward keeps its own
  const std::int64_t* t = p.target.data<std::int64_t>();
  for (std::int64_t i = 0; i < p.batch; ++i) {
    MNEMO_CHECK(t[i] >= 0 && t[i] < p.classes, "Target ", t[i], " is out of bounds.");
  }
  return p;
}

// dx[i, t_i] = -g_i (kNone), -g (kSum) or -g / N (kMean); zero elsewhere.
class NllLossBackward : public autograd::Node {
 public:
  NllLossBackward(NllProblem problem, Shape input_sizes, Reduction reduction)
      : p_(std::move(problem)), input_sizes_(std::move(input_sizes)), reduction_(reduction) {}

  std::string name() const override { return "NllLossBackward0"; }
  bool saves_variables() const override { return true; }
  void release_variables() override { p_.target = Tensor(); }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor g = grads.at(0).contiguous();
    Tensor dx = zeros(input_sizes_, {.dtype = g.dtype()});
    const std::int64_t* t = p_.target.data<std::int64_t>();
    detail::dispatch_floating(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* pg = g.data<T>();
      T* d = dx.mutable_data<T>();
      for (std::int64_t i = 0; i < p_.batch; ++i) {
        T value = reduction_ == Reduction::kNone ? pg[i] : pg[0];
        if (reduction_ == Reduction::kMean) value /= static_cast<T>(p_.batch);
        d[i * p_.classes + t[i]] = -value;
      }
    });
    return {dx, Tensor()};
  }

 private:
  NllProblem p_;
  Shape input_sizes_;
  Reduction reduction_;
};

Tensor nll_forward(const Tensor& input, const NllProblem& p, Reduction reduction) {
  const Tensor x = input.contiguous();
  const std::int64_t* t = p.target.data<std::int64_t>();
  return detail::dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    if (reduction == Reduction::kNone) {
      Tensor out = empty(input.dim() == 2 ? Shape{p.batch} : Shape{}, {.dtype = x.dtype()});
      T* o = out.mutable_data<T>();
      for (std::int64_t i = 0; i < p.batch; ++i) o[i] = -px[i * p.classes + t[i]];
      return out;
    }
    double total = 0.0;
    for (std::int64_t i = 0; i < p.batch; ++i)
      total -= static_cast<double>(px[i * p.classes + t[i]]);
    // The mean of an empty batch is NaN (0 / 0), as in PyTorch.
    if (reduction == Reduction::kMean) total /= static_cast<double>(p.batch);
    Tensor out = empty({}, {.dtype = x.dtype()});
    *out.mutable_data<T>() = static_cast<T>(total);
    return out;
  });
}

Tensor reduce(const Tensor& values, Reduction reduction) {
  switch (reduction) {
    case Reduction::kNone:
      return values;
    case Reduction::kMean:
      return mean(values);
    case Reduction::kSum:
      return sum(values);
  }
  return values;
}

}  // namespace

Tensor nll_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  const bool record = autograd::detail::any_requires_grad(input);
  NllProblem problem;
  Tensor out = autograd::detail::without_grad([&] {
    problem = nll_problem("nll_loss", input, target);
    return nll_forward(input, problem, reduction);
  });
  if (record) {
    autograd::detail::record(
        autograd::make_node<NllLossBackward>(std::move(problem), input.sizes(), reduction), out,
        input, target);
  }
  return out;
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction,
                     double label_smoothing) {
  MNEMO_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0,
              "label_smoothing must be between 0.0 and 1.0. Got: ", label_smoothing);
  detail::check_float_input("cross_entropy", input);
  MNEMO_CHECK(input.dim() == 1 || input.dim() == 2,
              "cross_entropy: expected input of shape (N, C) or (C), got ",
              shape_repr(input.sizes()));
  const std::int64_t class_dim = input.dim() == 1 ? 0 : 1;
  const Tensor log_probs = log_softmax(input, class_dim);
  Tensor loss = nll_loss(log_probs, target, reduction);
  if (label_smoothing > 0.0) {
    const Tensor smooth = reduce(neg(sum(log_probs, {class_dim})), reduction);
    const auto classes = static_cast<double>(input.size(class_dim));
    loss = add(mul(loss, 1.0 - label_smoothing), mul(smooth, label_smoothing / classes));
  }
  return loss;
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  detail::check_float_input("mse_loss", input, "input");
  detail::check_float_input("mse_loss", target, "target");
  const Tensor diff = sub(input, target);
  return reduce(mul(diff, diff), reduction);
}

}  // namespace mnemo
