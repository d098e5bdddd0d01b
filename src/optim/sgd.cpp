// SGD: PyTorch 1.13's _single_tensor_sgd, one fused loop per parameter. Each step of the
// loop body is one of PyTorch's tensor operations on that element, rounded as its CPU
// kernel rounds it (reference §8): add(alpha) is a fused multiply-add, mul is a product,
// scalars are first rounded to the parameter's dtype.
#include "mnemo/optim/sgd.h"

#include <cmath>

#include "optim/fma_dispatch.h"
#include "optim/group_options.h"

#include "optim/strict_fp.h"  // last: see there

namespace mnemo::optim {
namespace {

using detail::fused_multiply_add;

Dict sgd_defaults(const SGDOptions& o) {
  Dict d;
  if (o.lr) d.insert_or_assign("lr", o.lr->to_value());
  d.insert_or_assign("momentum", o.momentum.to_value());
  d.insert_or_assign("dampening", o.dampening.to_value());
  d.insert_or_assign("weight_decay", o.weight_decay.to_value());
  d.insert_or_assign("nesterov", o.nesterov);
  d.insert_or_assign("maximize", o.maximize);
  d.insert_or_assign("foreach", none);
  d.insert_or_assign("differentiable", false);
  return d;
}

std::vector<std::string> sgd_required(const SGDOptions& o) {
  if (o.lr) return {};
  return {"lr"};
}

struct SGDScalars {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
};

// `buffer` is null without momentum; `first` when the buffer was just created.
template <class T>
MNEMO_OPTIM_INLINE void sgd_loop(T* param, const T* grad, T* buffer, bool first, std::int64_t n,
                                 const SGDScalars& s) {
  const T weight_decay = static_cast<T>(s.weight_decay);
  const T momentum = static_cast<T>(s.momentum);
  const T one_minus_dampening = static_cast<T>(1 - s.dampening);
  const T neg_lr = static_cast<T>(-s.lr);
  const bool decay = s.weight_decay != 0;
  for (std::int64_t i = 0; i < n; ++i) {
    T g = s.maximize ? -grad[i] : grad[i];
    if (decay) g = fused_multiply_add(weight_decay, param[i], g);  // g.add(p, alpha=wd)
    if (buffer) {
      if (first) {
        buffer[i] = g;  // clone(g)
      } else {
        buffer[i] = fused_multiply_add(one_minus_dampening, g, buffer[i] * momentum);  // mul_, add_
      }
      g = s.nesterov ? fused_multiply_add(momentum, buffer[i], g)
                     : buffer[i];  // g.add(buf, alpha=m)
    }
    param[i] = fused_multiply_add(neg_lr, g, param[i]);  // p.add_(g, alpha=-lr)
  }
}

template <class T>
MNEMO_OPTIM_FMA_TARGET void sgd_loop_fma(T* param, const T* grad, T* buffer, bool first,
                                         std::int64_t n, const SGDScalars& s) {
  sgd_loop<T>(param, grad, buffer, first, n, s);
}

template <class T>
void sgd_update(T* param, const T* grad, T* buffer, bool first, std::int64_t n,
                const SGDScalars& s) {
  if (detail::use_fma_loops()) {
    sgd_loop_fma<T>(param, grad, buffer, first, n, s);
  } else {
    sgd_loop<T>(param, grad, buffer, first, n, s);
  }
}

// The checks of PyTorch's constructor, applied to every group too (PyTorch checks only
// the constructor's values; a negative lr in a group is as wrong as in the defaults).
void check_sgd(const Dict& options, const std::string& where, bool has_lr) {
  if (has_lr) {
    const Number lr = detail::group_number(options, "lr", where);
    if (lr.to_double() < 0.0) detail::fail_invalid(where, "learning rate", lr);
  }
  const Number momentum = detail::group_number(options, "momentum", where);
  if (momentum.to_double() < 0.0) detail::fail_invalid(where, "momentum value", momentum);
  const Number weight_decay = detail::group_number(options, "weight_decay", where);
  if (weight_decay.to_double() < 0.0)
    detail::fail_invalid(where, "weight_decay value", weight_decay);
  const Number dampening = detail::group_number(options, "dampening", where);
  const bool nesterov = detail::group_bool(options, "nesterov", where);
  detail::group_bool(options, "maximize", where);
  if (nesterov && (momentum.to_double() <= 0 || dampening.to_double() != 0)) {
    fail(ErrorCode::kInvalidArgument, where,
         ": Nesterov momentum requires a momentum and zero dampening");
  }
}

}  // namespace

SGD::SGD(const std::vector<Tensor>& params, const SGDOptions& options)
    : SGD(params.empty() ? std::vector<ParamGroup>{} : std::vector<ParamGroup>{ParamGroup{params}},
          options) {}

SGD::SGD(const std::vector<ParamGroup>& groups, const SGDOptions& options)
    : Optimizer("SGD", sgd_defaults(options), sgd_required(options)) {
  check_sgd(sgd_defaults(options), "SGD", options.lr.has_value());
  add_initial_groups(groups);
}

Dict SGD::setstate_defaults() const {
  return Dict{
      {"nesterov", false}, {"maximize", false}, {"foreach", none}, {"differentiable", false}};
}

void SGD::check_group(const Dict& options, const std::string& where) const {
  check_sgd(options, "SGD: " + where, true);
}

void SGD::check_state(Dict& state, const Tensor& param, const Dict& /*options*/,
                      const std::string& where) const {
  if (const Value* buffer = state.find(std::string("momentum_buffer"))) {
    if (buffer->is_none()) return;
    if (!buffer->is_tensor()) {
      fail(ErrorCode::kInvalidArgument, where, "['momentum_buffer'] must be a tensor or None, got ",
           value_type_name(buffer->type()));
    }
    detail::check_like_param(buffer->as_tensor(), param, where + "['momentum_buffer']");
  }
}

void SGD::step() {
  std::int64_t index = 0;
  for (std::size_t g = 0; g < param_groups().size(); ++g) {
    const OptimizerParamGroup& group = param_groups()[g];
    const std::string where = "SGD: " + detail::group_where(g);
    const SGDScalars s{detail::group_number(group.options, "lr", where).to_double(),
                       detail::group_number(group.options, "momentum", where).to_double(),
                       detail::group_number(group.options, "dampening", where).to_double(),
                       detail::group_number(group.options, "weight_decay", where).to_double(),
                       detail::group_bool(group.options, "nesterov", where),
                       detail::group_bool(group.options, "maximize", where)};
    for (std::size_t i = 0; i < group.params.size(); ++i, ++index) {
      const Tensor& param = group.params[i];
      if (!param.grad().defined()) continue;
      const std::string param_where =
          detail::group_where(g) + "['params'][" + std::to_string(i) + "]";
      const Tensor grad = checked_grad(param, param_where);
      Dict& state = state_for(index);

      // PyTorch keeps whatever the state holds when momentum is 0 (None at first).
      const Value* stored = state.find(std::string("momentum_buffer"));
      Tensor buffer = stored && stored->is_tensor() ? stored->as_tensor() : Tensor();
      bool first = false;
      if (s.momentum != 0) {
        if (buffer.defined()) {
          detail::check_like_param(buffer, param,
                                   "SGD: state[" + std::to_string(index) + "]['momentum_buffer']");
        } else {
          buffer = empty(param.sizes(), {.dtype = param.dtype()});
          first = true;
        }
      }
      const bool momentum = s.momentum != 0;
      const std::int64_t n = param.numel();
      if (param.dtype() == DType::kFloat32) {
        sgd_update<float>(param.mutable_data<float>(), grad.data<float>(),
                          momentum ? buffer.mutable_data<float>() : nullptr, first, n, s);
      } else {
        sgd_update<double>(param.mutable_data<double>(), grad.data<double>(),
                           momentum ? buffer.mutable_data<double>() : nullptr, first, n, s);
      }
      if (momentum) {
        state.insert_or_assign("momentum_buffer", buffer);
      } else if (!stored) {
        state.insert_or_assign("momentum_buffer", none);
      }
    }
  }
}

}  // namespace mnemo::optim
