// Optimizer: the base of SGD, Adam and AdamW — parameter groups, per-parameter state,
// zero_grad, and state_dict()/load_state_dict() in PyTorch's exact layout.
//
//   mnemo::optim::Adam opt(net.parameters(), {.lr = 1e-3});
//   for (...) { /* set gradients */ opt.step(); opt.zero_grad(); }
//   mnemo::save(opt.state_dict(), "opt.pt");       // torch.load + load_state_dict read it
//   opt.load_state_dict(mnemo::load("opt.pt"));    // and mnemo reads what torch.save wrote
//
// Parameter groups, each overriding some of the optimizer's defaults:
//
//   mnemo::optim::SGD opt({{net.fc1->parameters(), {.lr = 0.1}},
//                          {net.fc2->parameters()}},
//                         {.lr = 0.01, .momentum = 0.9});
//
// A group holds its hyperparameters as PyTorch's group dict does: the keys in PyTorch's
// order (the ones a group overrides first, then the defaults — as Python's setdefault
// leaves them), and each value as the Python object it would be. An int stays an int:
// SGD's default momentum is the int 0, written to a checkpoint as an int, and 0.0 would
// be a float. `Number` carries that difference from the options structs.
//
// state_dict() is PyTorch 1.13's: {'state': {id: {...}}, 'param_groups': [{..., 'params':
// [ids]}]}, ids 0, 1, 2, ... over the groups in order, state in the order parameters first
// got it. Its tensors are the optimizer's own (not copies), as in PyTorch.
// load_state_dict() accepts what PyTorch 1.13 and 2.x write; see its comment.
//
// Parameters must be contiguous float32 or float64 CPU tensors: the update writes into
// them in place, so a model holding the same tensors sees it. Gradients are read from
// Tensor::grad(); a parameter without one is skipped, as in PyTorch.
//
// Optimizers are not copyable or movable (LR schedulers refer to them). Not thread-safe.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/core/error.h"
#include "mnemo/core/tensor.h"
#include "mnemo/core/value.h"

namespace mnemo::optim {

// A hyperparameter as Python holds it: an int or a float.
class Number {
 public:
  template <std::integral T>
  requires(!std::same_as<T, bool>) Number(T value)
      : is_int_(true), int_(static_cast<std::int64_t>(value)) {  // NOLINT
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
      MNEMO_CHECK(value <= static_cast<T>(INT64_MAX), "a hyperparameter of ", value,
                  " does not fit in 64 bits");
    }
  }
  template <std::floating_point T>
  Number(T value) : double_(static_cast<double>(value)) {}  // NOLINT
  Number(bool) = delete;                                    // a flag is not a number

  bool is_int() const { return is_int_; }
  std::int64_t as_int() const;  // REQUIRES: is_int()
  double to_double() const { return is_int_ ? static_cast<double>(int_) : double_; }
  Value to_value() const { return is_int_ ? Value(int_) : Value(double_); }
  // Python's repr: "0", "0.1", "1e-08".
  std::string repr() const;

  // An int or a float from a checkpoint; throws kInvalidArgument naming `where` for
  // anything else (a bool too, although Python would take True as 1).
  static Number from_value(const Value& value, std::string_view where);

  // The same type and the same value (1 and 1.0 differ, as they do in a checkpoint).
  friend bool operator==(const Number& a, const Number& b) {
    return a.is_int_ == b.is_int_ && (a.is_int_ ? a.int_ == b.int_ : a.double_ == b.double_);
  }

 private:
  bool is_int_ = false;
  std::int64_t int_ = 0;
  double double_ = 0.0;
};

// Adam's (beta1, beta2), a tuple in the state_dict.
struct Betas {
  Number beta1 = 0.9;
  Number beta2 = 0.999;
};

// What a parameter group sets instead of its optimizer's defaults; unset fields take the
// default. The fields are every optimizer's hyperparameters, in an order that agrees with
// each one's key order; setting one that the optimizer lacks (betas for SGD) throws.
struct GroupOptions {
  std::optional<Number> lr = std::nullopt;
  std::optional<Number> momentum = std::nullopt;   // SGD
  std::optional<Number> dampening = std::nullopt;  // SGD
  std::optional<Betas> betas = std::nullopt;       // Adam, AdamW: .betas = Betas{0.8, 0.9}
  std::optional<Number> eps = std::nullopt;        // Adam, AdamW
  std::optional<Number> weight_decay = std::nullopt;
  std::optional<bool> nesterov = std::nullopt;  // SGD
  std::optional<bool> amsgrad = std::nullopt;   // Adam, AdamW
  std::optional<bool> maximize = std::nullopt;
};

// A group of parameters to add to an optimizer.
struct ParamGroup {
  std::vector<Tensor> params;
  GroupOptions options = {};
};

// A parameter group as an optimizer holds it: PyTorch's group dict, 'params' apart.
struct OptimizerParamGroup {
  std::vector<Tensor> params;
  // Hyperparameters in state_dict order ('lr', 'momentum', ...), plus keys others added:
  // 'initial_lr' from an LR scheduler, unknown keys from a loaded state_dict. step()
  // reads them each time, so they may be changed here.
  Dict options;

  double lr() const;
  void set_lr(Number lr);
};

class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // PyTorch's class name: "SGD", "Adam", "AdamW".
  const std::string& name() const { return name_; }

  // One update of every parameter that has a gradient.
  virtual void step() = 0;

  // Drops every parameter's gradient, or zeroes it in place.
  void zero_grad(bool set_to_none = true);

  // Throws kInvalidArgument for an invalid group (a parameter already optimized, one that
  // is not a contiguous float32/float64 CPU tensor, an invalid hyperparameter), adding
  // nothing.
  void add_param_group(const ParamGroup& group);

  std::vector<OptimizerParamGroup>& param_groups() { return groups_; }
  const std::vector<OptimizerParamGroup>& param_groups() const { return groups_; }

  // Per-parameter state, keyed by the parameter's index over all groups (its id in
  // state_dict()), in the order parameters first got state.
  const Dict& state() const { return state_; }

  // PyTorch 1.13's layout; see the header comment.
  Value state_dict() const;

  // Loads a state_dict written by PyTorch 1.13 or 2.x (or by state_dict()). Like PyTorch:
  //  - groups must match in number and size ("loaded state dict has a different number of
  //    parameter groups", "loaded state dict contains a parameter group that doesn't
  //    match the size of optimizer's group"), and ids map to parameters in order;
  //  - each group's hyperparameters become the loaded group's (keys PyTorch's
  //    __setstate__ adds when missing are added; unknown keys are kept and written back);
  //  - state tensors are copied, floating-point ones cast to their parameter's dtype,
  //    except 'step'; a number 'step' (old files) becomes a float32 tensor.
  // Safer than PyTorch: hyperparameters and state are checked (types, shapes) before
  // anything changes; a failed load throws (kMismatch, kInvalidArgument) and changes
  // nothing.
  void load_state_dict(const Value& state_dict);

 protected:
  // `defaults`: the hyperparameters in PyTorch's key order, as the group dict holds them
  // (e.g. foreach None). A required one without a default (SGD's lr) is absent, with its
  // name in `required`.
  Optimizer(std::string name, Dict defaults, std::vector<std::string> required);

  // Adds the groups; called by each optimizer's constructor, which must have set what
  // its checks need. Throws "optimizer got an empty parameter list" for none.
  void add_initial_groups(const std::vector<ParamGroup>& groups);

  // The keys PyTorch's __setstate__ adds to a loaded group that lacks them, with values.
  virtual Dict setstate_defaults() const = 0;
  // Checks a group's hyperparameters (types, ranges); `where` names the group.
  virtual void check_group(const Dict& options, const std::string& where) const = 0;
  // Checks (and may normalise) one parameter's loaded state, already cast.
  virtual void check_state(Dict& state, const Tensor& param, const Dict& options,
                           const std::string& where) const = 0;

  // The state of parameter `index` (flat over the groups), created empty when absent.
  Dict& state_for(std::int64_t index);
  // The flat index of the first parameter of group `group`.
  std::int64_t first_index(std::size_t group) const;
  // Checks that a parameter's gradient can be used, and returns it contiguous.
  Tensor checked_grad(const Tensor& param, const std::string& where) const;

 private:
  OptimizerParamGroup make_group(const ParamGroup& group, const std::string& where) const;

  std::string name_;
  Dict defaults_;
  std::vector<std::string> required_;
  std::vector<OptimizerParamGroup> groups_;
  Dict state_;  // flat parameter index -> Dict
};

}  // namespace mnemo::optim
