// The schedules: StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR and LinearLR, each
// with PyTorch 1.13's recursive get_lr() (used by step()) and closed form (used by
// step(epoch)), written with Python's arithmetic (python_number.h) in PyTorch's order of
// operations, so that every lr is the double PyTorch computes.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "mnemo/optim/lr_scheduler.h"
#include "optim/lr_scheduler_state.h"
#include "optim/python_number.h"

#include "optim/strict_fp.h"  // last: see there

namespace mnemo::optim {

// --- state_dict values ------------------------------------------------------------------------

namespace detail {

const Dict& scheduler_dict(const Value& state_dict) {
  if (!state_dict.is_dict()) {
    fail(ErrorCode::kInvalidArgument, "a scheduler's state_dict must be a dict, got ",
         value_type_name(state_dict.type()));
  }
  return state_dict.as_dict();
}

List number_list(const std::vector<Number>& numbers) {
  List out;
  for (const Number& n : numbers) out.push_back(n.to_value());
  return out;
}

Number read_number(const Value& value, const std::string& where) {
  return Number::from_value(value, where);
}

std::vector<Number> read_number_list(const Value& value, const std::string& where) {
  const std::vector<Value>* items = nullptr;
  if (value.is_list()) items = &value.as_list();
  if (value.is_tuple()) items = &value.as_tuple();
  if (!items) {
    fail(ErrorCode::kInvalidArgument, where, " must be a list of numbers, got ",
         value_type_name(value.type()));
  }
  std::vector<Number> out;
  for (std::size_t i = 0; i < items->size(); ++i) {
    out.push_back(Number::from_value((*items)[i], where + "[" + std::to_string(i) + "]"));
  }
  return out;
}

std::int64_t read_int(const Value& value, const std::string& where) {
  if (!value.is_int()) {
    fail(ErrorCode::kInvalidArgument, where, " must be an int, got ",
         value_type_name(value.type()));
  }
  return value.as_int();
}

bool read_bool(const Value& value, const std::string& where) {
  if (!value.is_bool()) {
    fail(ErrorCode::kInvalidArgument, where, " must be a bool, got ",
         value_type_name(value.type()));
  }
  return value.as_bool();
}

}  // namespace detail

namespace {

const Number kPi = std::numbers::pi;  // math.pi

Number cos(const Number& x) { return std::cos(x.to_double()); }

// Queues `field = read(state[key])` when the key is present.
template <class T, class Read>
void load_field(const Dict& state, const char* key, T& field, Read read,
                std::vector<std::function<void()>>& commit) {
  if (const Value* value = state.find(std::string(key))) {
    commit.push_back(
        [&field, v = read(*value, std::string("state_dict['") + key + "']")] { field = v; });
  }
}

void check_factor(const Number& factor, const char* which) {
  if (factor.to_double() > 1.0 || factor.to_double() < 0) {
    fail(ErrorCode::kInvalidArgument, which,
         " multiplicative factor expected to be between 0 and 1.");
  }
}

}  // namespace

// --- StepLR -----------------------------------------------------------------------------------

StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, const StepLROptions& options)
    : LRScheduler(optimizer, options.last_epoch), step_size_(step_size), gamma_(options.gamma) {
  initial_step();
}

std::vector<Number> StepLR::get_lr() const {
  std::vector<Number> lrs = group_lrs();
  if (last_epoch_ == 0 || !equals(Number(last_epoch_) % step_size_, 0)) return lrs;
  for (Number& lr : lrs) lr = lr * gamma_;
  return lrs;
}

std::vector<Number> StepLR::closed_form_lr() const {
  std::vector<Number> lrs;
  for (const Number& base_lr : base_lrs_) {
    lrs.push_back(base_lr * pow(gamma_, floor_div(last_epoch_, step_size_)));
  }
  return lrs;
}

Dict StepLR::own_state() const {
  return Dict{{"step_size", step_size_}, {"gamma", gamma_.to_value()}};
}

void StepLR::load_own_state(const Dict& state, Commit& commit) {
  load_field(state, "step_size", step_size_, detail::read_int, commit);
  load_field(state, "gamma", gamma_, detail::read_number, commit);
}

// --- MultiStepLR ------------------------------------------------------------------------------

namespace {

// collections.Counter(milestones): counts, in order of first appearance.
std::vector<std::pair<std::int64_t, std::int64_t>> count(const std::vector<std::int64_t>& values) {
  std::vector<std::pair<std::int64_t, std::int64_t>> counts;
  for (std::int64_t v : values) {
    auto it =
        std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == v; });
    if (it == counts.end()) {
      counts.emplace_back(v, 1);
    } else {
      ++it->second;
    }
  }
  return counts;
}

std::vector<std::pair<std::int64_t, std::int64_t>> read_counter(const Value& value,
                                                                const std::string& where) {
  if (!value.is_dict()) {
    fail(ErrorCode::kInvalidArgument, where, " must be a dict {milestone: count} (a Counter), got ",
         value_type_name(value.type()));
  }
  std::vector<std::pair<std::int64_t, std::int64_t>> counts;
  for (const auto& [key, count] : value.as_dict()) {
    const std::int64_t* milestone = std::get_if<std::int64_t>(&key);
    if (!milestone || !count.is_int()) {
      fail(ErrorCode::kInvalidArgument, where, " must map int milestones to int counts, got ",
           key_repr(key), ": ", count.repr(40));
    }
    counts.emplace_back(*milestone, count.as_int());
  }
  return counts;
}

}  // namespace

MultiStepLR::MultiStepLR(Optimizer& optimizer, const std::vector<std::int64_t>& milestones,
                         const MultiStepLROptions& options)
    : LRScheduler(optimizer, options.last_epoch),
      milestones_(count(milestones)),
      gamma_(options.gamma) {
  initial_step();
}

std::vector<Number> MultiStepLR::get_lr() const {
  std::vector<Number> lrs = group_lrs();
  const auto it = std::find_if(milestones_.begin(), milestones_.end(),
                               [&](const auto& c) { return c.first == last_epoch_; });
  if (it == milestones_.end()) return lrs;
  for (Number& lr : lrs) lr = lr * pow(gamma_, it->second);
  return lrs;
}

std::vector<Number> MultiStepLR::closed_form_lr() const {
  // bisect_right(sorted(milestones.elements()), last_epoch): milestones passed so far.
  std::int64_t passed = 0;
  for (const auto& [milestone, times] : milestones_) {
    if (milestone <= last_epoch_ && times > 0) passed += times;
  }
  std::vector<Number> lrs;
  for (const Number& base_lr : base_lrs_) lrs.push_back(base_lr * pow(gamma_, passed));
  return lrs;
}

Dict MultiStepLR::own_state() const {
  Dict milestones;
  for (const auto& [milestone, times] : milestones_) milestones.insert_or_assign(milestone, times);
  return Dict{{"milestones", std::move(milestones)}, {"gamma", gamma_.to_value()}};
}

void MultiStepLR::load_own_state(const Dict& state, Commit& commit) {
  load_field(state, "milestones", milestones_, read_counter, commit);
  load_field(state, "gamma", gamma_, detail::read_number, commit);
}

// --- ExponentialLR ----------------------------------------------------------------------------

ExponentialLR::ExponentialLR(Optimizer& optimizer, Number gamma,
                             const ExponentialLROptions& options)
    : LRScheduler(optimizer, options.last_epoch), gamma_(gamma) {
  initial_step();
}

std::vector<Number> ExponentialLR::get_lr() const {
  std::vector<Number> lrs = group_lrs();
  if (last_epoch_ == 0) return lrs;
  for (Number& lr : lrs) lr = lr * gamma_;
  return lrs;
}

std::vector<Number> ExponentialLR::closed_form_lr() const {
  std::vector<Number> lrs;
  for (const Number& base_lr : base_lrs_) lrs.push_back(base_lr * pow(gamma_, last_epoch_));
  return lrs;
}

Dict ExponentialLR::own_state() const { return Dict{{"gamma", gamma_.to_value()}}; }

void ExponentialLR::load_own_state(const Dict& state, Commit& commit) {
  load_field(state, "gamma", gamma_, detail::read_number, commit);
}

// --- CosineAnnealingLR ------------------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, Number T_max,
                                     const CosineAnnealingLROptions& options)
    : LRScheduler(optimizer, options.last_epoch), t_max_(T_max), eta_min_(options.eta_min) {
  initial_step();
}

std::vector<Number> CosineAnnealingLR::get_lr() const {
  std::vector<Number> lrs = group_lrs();
  const Number epoch = last_epoch_;
  const Number& eta_min = eta_min_;
  const Number& t_max = t_max_;
  if (last_epoch_ == 0) return lrs;
  const std::size_t n = std::min(lrs.size(), base_lrs_.size());  // Python's zip
  if (step_count_ == 1 && last_epoch_ > 0) {
    std::vector<Number> out;
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(eta_min + (base_lrs_[i] - eta_min) * (1 + cos(epoch * kPi / t_max)) / 2);
    }
    return out;
  }
  if (equals((epoch - 1 - t_max) % (2 * t_max), 0)) {
    std::vector<Number> out;
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(lrs[i] + (base_lrs_[i] - eta_min) * (1 - cos(kPi / t_max)) / 2);
    }
    return out;
  }
  for (Number& lr : lrs) {
    lr = (1 + cos(kPi * epoch / t_max)) / (1 + cos(kPi * (epoch - 1) / t_max)) * (lr - eta_min) +
         eta_min;
  }
  return lrs;
}

std::vector<Number> CosineAnnealingLR::closed_form_lr() const {
  std::vector<Number> lrs;
  for (const Number& base_lr : base_lrs_) {
    lrs.push_back(eta_min_ + (base_lr - eta_min_) * (1 + cos(kPi * last_epoch_ / t_max_)) / 2);
  }
  return lrs;
}

Dict CosineAnnealingLR::own_state() const {
  return Dict{{"T_max", t_max_.to_value()}, {"eta_min", eta_min_.to_value()}};
}

void CosineAnnealingLR::load_own_state(const Dict& state, Commit& commit) {
  load_field(state, "T_max", t_max_, detail::read_number, commit);
  load_field(state, "eta_min", eta_min_, detail::read_number, commit);
}

// --- LinearLR ---------------------------------------------------------------------------------

namespace {

std::int64_t checked_linear(const LinearLROptions& options) {
  check_factor(options.start_factor, "Starting");
  check_factor(options.end_factor, "Ending");
  return options.last_epoch;
}

}  // namespace

LinearLR::LinearLR(Optimizer& optimizer, const LinearLROptions& options)
    : LRScheduler(optimizer, checked_linear(options)),
      start_factor_(options.start_factor),
      end_factor_(options.end_factor),
      total_iters_(options.total_iters) {
  initial_step();
}

std::vector<Number> LinearLR::get_lr() const {
  std::vector<Number> lrs = group_lrs();
  const Number& start = start_factor_;
  const Number& end = end_factor_;
  if (last_epoch_ == 0) {
    for (Number& lr : lrs) lr = lr * start;
    return lrs;
  }
  if (last_epoch_ > total_iters_) return lrs;
  for (Number& lr : lrs) {
    lr = lr * (Number(1.0) + (end - start) / (Number(total_iters_) * start +
                                              (Number(last_epoch_) - 1) * (end - start)));
  }
  return lrs;
}

std::vector<Number> LinearLR::closed_form_lr() const {
  std::vector<Number> lrs;
  const Number& start = start_factor_;
  const Number& end = end_factor_;
  for (const Number& base_lr : base_lrs_) {
    lrs.push_back(base_lr * (start + (end - start) * std::min(total_iters_, last_epoch_) /
                                         Number(total_iters_)));
  }
  return lrs;
}

Dict LinearLR::own_state() const {
  return Dict{{"start_factor", start_factor_.to_value()},
              {"end_factor", end_factor_.to_value()},
              {"total_iters", total_iters_}};
}

void LinearLR::load_own_state(const Dict& state, Commit& commit) {
  load_field(state, "start_factor", start_factor_, detail::read_number, commit);
  load_field(state, "end_factor", end_factor_, detail::read_number, commit);
  load_field(state, "total_iters", total_iters_, detail::read_int, commit);
}

}  // namespace mnemo::optim
