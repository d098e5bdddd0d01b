// Adam and AdamW: PyTorch 1.13's _single_tensor_adam and _single_tensor_adamw, one fused
// loop per parameter. Each line of the loop body is one of PyTorch's tensor operations on
// that element, rounded as its CPU kernel rounds it (reference §8): add(alpha) and
// addcmul are fused multiply-adds, addcdiv is not, scalars are first rounded to the
// parameter's dtype, and the bias corrections are Python doubles.
#include "mnemo/optim/adam.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "optim/fma_dispatch.h"
#include "optim/group_options.h"

#include "optim/strict_fp.h"  // last: see there

namespace mnemo::optim {
namespace {

using detail::fused_multiply_add;
using detail::square_root;

Value betas_value(const Betas& b) { return Tuple{b.beta1.to_value(), b.beta2.to_value()}; }

Dict adam_defaults(const AdamOptions& o) {
  return Dict{{"lr", o.lr.to_value()},   {"betas", betas_value(o.betas)},
              {"eps", o.eps.to_value()}, {"weight_decay", o.weight_decay.to_value()},
              {"amsgrad", o.amsgrad},    {"maximize", o.maximize},
              {"foreach", none},         {"capturable", false},
              {"differentiable", false}, {"fused", false}};
}

// AdamW 1.13 has its own key order and no differentiable/fused.
Dict adamw_defaults(const AdamWOptions& o) {
  return Dict{{"lr", o.lr.to_value()},   {"betas", betas_value(o.betas)},
              {"eps", o.eps.to_value()}, {"weight_decay", o.weight_decay.to_value()},
              {"amsgrad", o.amsgrad},    {"foreach", none},
              {"maximize", o.maximize},  {"capturable", false}};
}

// The checks of PyTorch's constructor, applied to every group too.
void check_adam(const Dict& options, const std::string& where) {
  const Number lr = detail::group_number(options, "lr", where);
  if (!(lr.to_double() >= 0.0)) detail::fail_invalid(where, "learning rate", lr);
  const Number eps = detail::group_number(options, "eps", where);
  if (!(eps.to_double() >= 0.0)) detail::fail_invalid(where, "epsilon value", eps);
  const Betas betas = detail::group_betas(options, "betas", where);
  if (!(betas.beta1.to_double() >= 0.0 && betas.beta1.to_double() < 1.0)) {
    detail::fail_invalid(where, "beta parameter at index 0", betas.beta1);
  }
  if (!(betas.beta2.to_double() >= 0.0 && betas.beta2.to_double() < 1.0)) {
    detail::fail_invalid(where, "beta parameter at index 1", betas.beta2);
  }
  const Number weight_decay = detail::group_number(options, "weight_decay", where);
  if (!(weight_decay.to_double() >= 0.0))
    detail::fail_invalid(where, "weight_decay value", weight_decay);
  detail::group_bool(options, "amsgrad", where);
  detail::group_bool(options, "maximize", where);
}

struct AdamScalars {
  double lr, beta1, beta2, eps, weight_decay;
  bool maximize, decoupled;
  double step_size, bias_correction2_sqrt;
};

// torch.maximum: NaN wins.
template <class T>
MNEMO_OPTIM_INLINE T maximum(T a, T b) {
  return (a != a || b != b) ? std::numeric_limits<T>::quiet_NaN() : (a > b ? a : b);
}

// The options are template arguments so that each combination is a straight loop the
// compiler vectorizes; kFma selects the AVX2+FMA build (fma_dispatch.h). The loop runs in
// blocks of three passes (moments, square roots, update), because a square root is
// vectorized by hand. Each element still sees PyTorch's operations in PyTorch's order.
// `max_exp_avg_sq` is used only with kAmsgrad.
template <class T, bool kFma, bool kMaximize, bool kL2, bool kDecoupled, bool kAmsgrad>
MNEMO_OPTIM_INLINE void adam_loop(T* param, const T* grad, T* exp_avg, T* exp_avg_sq,
                                  T* max_exp_avg_sq, std::int64_t n, const AdamScalars& s) {
  const T weight_decay = static_cast<T>(s.weight_decay);
  const T decay = static_cast<T>(1 - s.lr * s.weight_decay);
  const T beta1 = static_cast<T>(s.beta1);
  const T one_minus_beta1 = static_cast<T>(1 - s.beta1);
  const T beta2 = static_cast<T>(s.beta2);
  const T one_minus_beta2 = static_cast<T>(1 - s.beta2);
  const T bias_correction2_sqrt = static_cast<T>(s.bias_correction2_sqrt);
  const T eps = static_cast<T>(s.eps);
  const T neg_step_size = static_cast<T>(-s.step_size);
  constexpr std::int64_t kBlock = 512;
  T root[kBlock];
  for (std::int64_t start = 0; start < n; start += kBlock) {
    const std::int64_t len = std::min(kBlock, n - start);
    T* p = param + start;
    const T* gr = grad + start;
    T* m = exp_avg + start;
    T* v = exp_avg_sq + start;
    for (std::int64_t i = 0; i < len; ++i) {
      T g = kMaximize ? -gr[i] : gr[i];
      if constexpr (kL2) g = fused_multiply_add(weight_decay, p[i], g);  // g.add(p, alpha=wd)
      if constexpr (kDecoupled) p[i] = p[i] * decay;                     // p.mul_(1 - lr*wd)
      m[i] = fused_multiply_add(one_minus_beta1, g, m[i] * beta1);       // mul_, add_
      v[i] = fused_multiply_add(one_minus_beta2 * g, g, v[i] * beta2);   // mul_, addcmul_
      root[i] = v[i];
      if constexpr (kAmsgrad) {
        T* v_max = max_exp_avg_sq + start;
        root[i] = v_max[i] = maximum(v_max[i], v[i]);  // torch.maximum(..., out=)
      }
    }
#if MNEMO_OPTIM_HAVE_FMA_CLONE
    if constexpr (kFma) {
      detail::sqrt_in_place(root, len);
    } else
#endif
    {
      for (std::int64_t i = 0; i < len; ++i) root[i] = square_root(root[i]);
    }
    for (std::int64_t i = 0; i < len; ++i) {
      const T denom = root[i] / bias_correction2_sqrt + eps;  // (sqrt(v) / bc2_sqrt).add_(eps)
      p[i] = p[i] + (neg_step_size * m[i]) / denom;           // addcdiv_
    }
  }
}

template <class T, bool... kFlags>
MNEMO_OPTIM_FMA_TARGET void adam_loop_fma(T* param, const T* grad, T* exp_avg, T* exp_avg_sq,
                                          T* max_exp_avg_sq, std::int64_t n, const AdamScalars& s) {
  adam_loop<T, true, kFlags...>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, s);
}

// Calls fn(std::bool_constant<flags>...).
template <class Fn>
void with_flags(Fn&& fn, bool a, bool b, bool c, bool d) {
  const auto pick = [](bool flag, auto&& next) {
    if (flag) {
      next(std::true_type{});
    } else {
      next(std::false_type{});
    }
  };
  pick(a, [&](auto A) {
    pick(b, [&](auto B) { pick(c, [&](auto C) { pick(d, [&](auto D) { fn(A, B, C, D); }); }); });
  });
}

template <class T>
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq,
                 std::int64_t n, const AdamScalars& s) {
  const bool l2 = !s.decoupled && s.weight_decay != 0;
  with_flags(
      [&](auto maximize, auto l2_flag, auto decoupled, auto amsgrad) {
        constexpr bool kMaximize = decltype(maximize)::value;
        constexpr bool kL2 = decltype(l2_flag)::value;
        constexpr bool kDecoupled = decltype(decoupled)::value;
        constexpr bool kAmsgrad = decltype(amsgrad)::value;
        if (detail::use_fma_loops()) {
          adam_loop_fma<T, kMaximize, kL2, kDecoupled, kAmsgrad>(param, grad, exp_avg, exp_avg_sq,
                                                                 max_exp_avg_sq, n, s);
        } else {
          adam_loop<T, false, kMaximize, kL2, kDecoupled, kAmsgrad>(
              param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, s);
        }
      },
      s.maximize, l2, s.decoupled, max_exp_avg_sq != nullptr);
}

Tensor state_tensor(const Dict& state, const char* key, const Tensor& param,
                    const std::string& where) {
  const Value* value = state.find(std::string(key));
  if (!value) fail(ErrorCode::kInvalidArgument, where, " has no '", key, "'");
  if (!value->is_tensor()) {
    fail(ErrorCode::kInvalidArgument, where, "['", key, "'] must be a tensor, got ",
         value_type_name(value->type()));
  }
  detail::check_like_param(value->as_tensor(), param, where + "['" + key + "']");
  return value->as_tensor();
}

}  // namespace

Adam::Adam(const std::vector<Tensor>& params, const AdamOptions& options)
    : Adam(params.empty() ? std::vector<ParamGroup>{} : std::vector<ParamGroup>{ParamGroup{params}},
           options) {}

Adam::Adam(const std::vector<ParamGroup>& groups, const AdamOptions& options)
    : Optimizer("Adam", adam_defaults(options), {}) {
  check_adam(adam_defaults(options), "Adam");
  add_initial_groups(groups);
}

Adam::Adam(std::string name, Dict defaults) : Optimizer(std::move(name), std::move(defaults), {}) {}

Dict Adam::setstate_defaults() const {
  return Dict{{"amsgrad", false},    {"maximize", false},       {"foreach", none},
              {"capturable", false}, {"differentiable", false}, {"fused", false}};
}

void Adam::check_group(const Dict& options, const std::string& where) const {
  check_adam(options, name() + ": " + where);
  decoupled(options, name() + ": " + where);
}

bool Adam::decoupled(const Dict& options, const std::string& where) const {
  if (!options.contains(std::string("decoupled_weight_decay"))) return false;
  return detail::group_bool(options, "decoupled_weight_decay", where);
}

void Adam::check_state(Dict& state, const Tensor& param, const Dict& options,
                       const std::string& where) const {
  if (state.empty()) return;  // initialised at the parameter's next step
  Value* step = state.find(std::string("step"));
  if (!step) fail(ErrorCode::kInvalidArgument, where, " has no 'step'");
  if (step->is_int() || step->is_double()) {
    // Files from before PyTorch 1.12 hold a Python number; __setstate__ makes it
    // torch.tensor(float(step)), a float32 tensor.
    *step = scalar_tensor(static_cast<float>(step->to_double()));
  } else if (!step->is_tensor() || step->as_tensor().numel() != 1) {
    fail(ErrorCode::kInvalidArgument, where,
         "['step'] must be a number or a one-element tensor, got ",
         step->is_tensor() ? "a tensor of shape " + shape_repr(step->as_tensor().sizes())
                           : std::string(value_type_name(step->type())));
  }
  state_tensor(state, "exp_avg", param, where);
  state_tensor(state, "exp_avg_sq", param, where);
  if (detail::group_bool(options, "amsgrad", where) ||
      state.contains(std::string("max_exp_avg_sq"))) {
    state_tensor(state, "max_exp_avg_sq", param, where);
  }
}

void Adam::step() {
  std::int64_t index = 0;
  for (std::size_t g = 0; g < param_groups().size(); ++g) {
    const OptimizerParamGroup& group = param_groups()[g];
    const std::string where = name() + ": " + detail::group_where(g);
    const Betas betas = detail::group_betas(group.options, "betas", where);
    AdamScalars s{detail::group_number(group.options, "lr", where).to_double(),
                  betas.beta1.to_double(),
                  betas.beta2.to_double(),
                  detail::group_number(group.options, "eps", where).to_double(),
                  detail::group_number(group.options, "weight_decay", where).to_double(),
                  detail::group_bool(group.options, "maximize", where),
                  decoupled(group.options, where),
                  0.0,
                  0.0};
    const bool amsgrad = detail::group_bool(group.options, "amsgrad", where);
    for (std::size_t i = 0; i < group.params.size(); ++i, ++index) {
      const Tensor& param = group.params[i];
      if (!param.grad().defined()) continue;
      const std::string param_where =
          detail::group_where(g) + "['params'][" + std::to_string(i) + "]";
      const Tensor grad = checked_grad(param, param_where);
      Dict& state = state_for(index);
      if (state.empty()) {
        state.insert_or_assign("step", scalar_tensor(0.0f));
        state.insert_or_assign("exp_avg", zeros(param.sizes(), {.dtype = param.dtype()}));
        state.insert_or_assign("exp_avg_sq", zeros(param.sizes(), {.dtype = param.dtype()}));
        if (amsgrad) {
          state.insert_or_assign("max_exp_avg_sq", zeros(param.sizes(), {.dtype = param.dtype()}));
        }
      }
      const std::string state_where = name() + ": state[" + std::to_string(index) + "]";
      if (amsgrad && !state.contains(std::string("max_exp_avg_sq"))) {
        fail(ErrorCode::kInvalidArgument, state_where,
             " has no 'max_exp_avg_sq': amsgrad was turned on after this parameter's state "
             "was created");
      }
      const Value* step_value = state.find(std::string("step"));
      MNEMO_CHECK(step_value && step_value->is_tensor() && step_value->as_tensor().numel() == 1,
                  state_where, "['step'] must be a one-element tensor");
      const Tensor step_tensor = step_value->as_tensor();
      const Tensor exp_avg = state_tensor(state, "exp_avg", param, state_where);
      const Tensor exp_avg_sq = state_tensor(state, "exp_avg_sq", param, state_where);
      const Tensor max_exp_avg_sq =
          amsgrad ? state_tensor(state, "max_exp_avg_sq", param, state_where) : Tensor();

      // step_t += 1 in the step tensor's own dtype, then step = step_t.item().
      step_tensor.fill_(step_tensor.item<double>() + 1);
      const double step = step_tensor.item<double>();
      const double bias_correction1 = 1 - std::pow(s.beta1, step);
      const double bias_correction2 = 1 - std::pow(s.beta2, step);
      s.step_size = s.lr / bias_correction1;
      s.bias_correction2_sqrt = std::sqrt(bias_correction2);

      const std::int64_t n = param.numel();
      if (param.dtype() == DType::kFloat32) {
        adam_update<float>(param.mutable_data<float>(), grad.data<float>(),
                           exp_avg.mutable_data<float>(), exp_avg_sq.mutable_data<float>(),
                           amsgrad ? max_exp_avg_sq.mutable_data<float>() : nullptr, n, s);
      } else {
        adam_update<double>(param.mutable_data<double>(), grad.data<double>(),
                            exp_avg.mutable_data<double>(), exp_avg_sq.mutable_data<double>(),
                            amsgrad ? max_exp_avg_sq.mutable_data<double>() : nullptr, n, s);
      }
    }
  }
}

// --- AdamW ------------------------------------------------------------------------------------

AdamW::AdamW(const std::vector<Tensor>& params, const AdamWOptions& options)
    : AdamW(
          params.empty() ? std::vector<ParamGroup>{} : std::vector<ParamGroup>{ParamGroup{params}},
          options) {}

AdamW::AdamW(const std::vector<ParamGroup>& groups, const AdamWOptions& options)
    : Adam("AdamW", adamw_defaults(options)) {
  check_adam(adamw_defaults(options), "AdamW");
  add_initial_groups(groups);
}

Dict AdamW::setstate_defaults() const {
  return Dict{{"amsgrad", false}, {"maximize", false}, {"foreach", none}, {"capturable", false}};
}

bool AdamW::decoupled(const Dict& /*options*/, const std::string& /*where*/) const { return true; }

}  // namespace mnemo::optim
