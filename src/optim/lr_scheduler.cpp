// LRScheduler (PyTorch's _LRScheduler) and SequentialLR: construction, step, and the
// state_dict plumbing. The schedules themselves are in schedulers.cpp.
#include "mnemo/optim/lr_scheduler.h"

#include <utility>

#include "optim/lr_scheduler_state.h"

namespace mnemo::optim {

namespace {

constexpr const char* kInitialLr = "initial_lr";

// Python's bisect.bisect_right, which also defines the result for an unsorted list.
std::size_t bisect_right(const std::vector<std::int64_t>& values, std::int64_t x) {
  std::size_t lo = 0;
  std::size_t hi = values.size();
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (x < values[mid]) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

}  // namespace

// --- LRScheduler ------------------------------------------------------------------------------

LRScheduler::LRScheduler(Optimizer& optimizer, std::int64_t last_epoch)
    : optimizer_(&optimizer), last_epoch_(last_epoch) {
  auto& groups = optimizer.param_groups();
  // Check every group before changing any: the base lr is 'initial_lr', which a new
  // scheduler sets from 'lr' (Python's group.setdefault('initial_lr', group['lr'])).
  std::vector<Value> initial_lrs;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const std::string where = "param_groups[" + std::to_string(i) + "]";
    const Value* initial = groups[i].options.find(std::string(kInitialLr));
    if (!initial && last_epoch != -1) {
      fail(ErrorCode::kInvalidArgument, "param 'initial_lr' is not specified in ", where,
           " when resuming an optimizer");
    }
    const Value& value = initial ? *initial : detail::group_value(groups[i].options, "lr", where);
    base_lrs_.push_back(Number::from_value(value, where + (initial ? "['initial_lr']" : "['lr']")));
    initial_lrs.push_back(value);
  }
  for (std::size_t i = 0; i < groups.size(); ++i) {
    if (!groups[i].options.contains(std::string(kInitialLr))) {
      groups[i].options.insert_or_assign(kInitialLr, initial_lrs[i]);
    }
  }
}

LRScheduler::LRScheduler(Optimizer& optimizer, std::int64_t last_epoch, NoInit)
    : optimizer_(&optimizer), last_epoch_(last_epoch) {}

LRScheduler::~LRScheduler() = default;

void LRScheduler::initial_step() {
  step_count_ = 0;
  step();
}

std::vector<Number> LRScheduler::group_lrs() const {
  std::vector<Number> lrs;
  const auto& groups = optimizer_->param_groups();
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const std::string where = "param_groups[" + std::to_string(i) + "]";
    lrs.push_back(
        Number::from_value(detail::group_value(groups[i].options, "lr", where), where + "['lr']"));
  }
  return lrs;
}

void LRScheduler::apply_lrs(const std::vector<Number>& lrs) {
  auto& groups = optimizer_->param_groups();
  for (std::size_t i = 0; i < groups.size() && i < lrs.size(); ++i) groups[i].set_lr(lrs[i]);
  last_lr_ = group_lrs();
}

void LRScheduler::step() {
  ++step_count_;
  ++last_epoch_;
  std::vector<Number> lrs;
  try {
    lrs = get_lr();
  } catch (...) {
    --step_count_;
    --last_epoch_;
    throw;
  }
  apply_lrs(lrs);
}

void LRScheduler::step(std::int64_t epoch) {
  const std::int64_t previous = last_epoch_;
  last_epoch_ = epoch;
  std::vector<Number> lrs;
  try {
    lrs = closed_form_lr();
  } catch (...) {
    last_epoch_ = previous;
    throw;
  }
  ++step_count_;
  apply_lrs(lrs);
}

std::vector<double> LRScheduler::get_last_lr() const {
  std::vector<double> out;
  for (const Number& lr : last_lr_) out.push_back(lr.to_double());
  return out;
}

Value LRScheduler::state_dict() const {
  Dict out = own_state();
  out.insert_or_assign("base_lrs", detail::number_list(base_lrs_));
  out.insert_or_assign("last_epoch", last_epoch_);
  out.insert_or_assign("verbose", verbose_);
  out.insert_or_assign("_step_count", step_count_);
  out.insert_or_assign("_get_lr_called_within_step", get_lr_called_within_step_);
  out.insert_or_assign("_last_lr", detail::number_list(last_lr_));
  for (const auto& [key, value] : extra_) out.insert_or_assign(key, value);
  return out;
}

void LRScheduler::load_state_dict(const Value& state_dict) {
  Commit commit;
  prepare_load(state_dict, commit);
  for (const auto& apply : commit) apply();
}

void LRScheduler::prepare_load(const Value& state_dict, Commit& commit) {
  const Dict& state = detail::scheduler_dict(state_dict);
  const Dict own = own_state();
  for (const auto& [key, value] : state) {
    const std::string* name = std::get_if<std::string>(&key);
    const std::string where = "state_dict[" + key_repr(key) + "]";
    if (name && own.contains(*name)) continue;  // load_own_state's
    if (name && *name == "base_lrs") {
      commit.push_back([this, v = detail::read_number_list(value, where)] { base_lrs_ = v; });
    } else if (name && *name == "last_epoch") {
      commit.push_back([this, v = detail::read_int(value, where)] { last_epoch_ = v; });
    } else if (name && *name == "verbose") {
      commit.push_back([this, v = detail::read_bool(value, where)] { verbose_ = v; });
    } else if (name && *name == "_step_count") {
      commit.push_back([this, v = detail::read_int(value, where)] { step_count_ = v; });
    } else if (name && *name == "_get_lr_called_within_step") {
      commit.push_back(
          [this, v = detail::read_bool(value, where)] { get_lr_called_within_step_ = v; });
    } else if (name && *name == "_last_lr") {
      commit.push_back([this, v = detail::read_number_list(value, where)] { last_lr_ = v; });
    } else {
      commit.push_back([this, key = key, value = value] { extra_.insert_or_assign(key, value); });
    }
  }
  load_own_state(state, commit);
}

// --- SequentialLR -----------------------------------------------------------------------------

namespace {

std::int64_t checked_sequence(Optimizer& optimizer,
                              const std::vector<std::shared_ptr<LRScheduler>>& schedulers,
                              const std::vector<std::int64_t>& milestones,
                              std::int64_t last_epoch) {
  for (std::size_t i = 0; i < schedulers.size(); ++i) {
    MNEMO_CHECK(schedulers[i] != nullptr, "SequentialLR: scheduler ", i, " is null");
    if (&schedulers[i]->optimizer() != &optimizer) {
      fail(ErrorCode::kInvalidArgument,
           "Sequential Schedulers expects all schedulers to belong to the same optimizer, but "
           "got schedulers at index ",
           i, " to be different than the optimizer passed in.");
    }
  }
  if (milestones.size() + 1 != schedulers.size()) {
    fail(ErrorCode::kInvalidArgument,
         "Sequential Schedulers expects number of schedulers provided to be one more than the "
         "number of milestone points, but got number of schedulers ",
         schedulers.size(), " and the number of milestones to be equal to ", milestones.size());
  }
  for (std::size_t i = 0; i < optimizer.param_groups().size(); ++i) {
    if (!optimizer.param_groups()[i].options.contains(std::string(kInitialLr))) {
      fail(ErrorCode::kInvalidArgument, "SequentialLR: param_groups[", i, "] has no 'initial_lr'");
    }
  }
  return last_epoch + 1;
}

}  // namespace

SequentialLR::SequentialLR(Optimizer& optimizer,
                           std::vector<std::shared_ptr<LRScheduler>> schedulers,
                           std::vector<std::int64_t> milestones, std::int64_t last_epoch)
    : LRScheduler(optimizer, checked_sequence(optimizer, schedulers, milestones, last_epoch),
                  NoInit{}),
      schedulers_(std::move(schedulers)),
      milestones_(std::move(milestones)) {
  // Reset the lrs, undo the step each scheduler made when built, and restart the first.
  for (OptimizerParamGroup& group : optimizer.param_groups()) {
    group.options.insert_or_assign("lr", group.options.at(std::string(kInitialLr)));
  }
  for (const auto& scheduler : schedulers_) --scheduler->last_epoch_;
  schedulers_[0]->initial_step();
  last_lr_ = schedulers_[0]->last_lr_;
}

void SequentialLR::step() {
  ++last_epoch_;
  const std::size_t index = bisect_right(milestones_, last_epoch_);
  LRScheduler& scheduler = *schedulers_[index];
  if (index > 0 && milestones_[index - 1] == last_epoch_) {
    scheduler.step(0);
  } else {
    scheduler.step();
  }
  last_lr_ = scheduler.last_lr_;
}

std::vector<Number> SequentialLR::get_lr() const {
  fail(ErrorCode::kInvalidArgument, "SequentialLR computes no lr itself; call step()");
}

std::vector<Number> SequentialLR::closed_form_lr() const {
  fail(ErrorCode::kInvalidArgument,
       "SequentialLR has no closed form; call step() without an epoch");
}

Dict SequentialLR::own_state() const {
  List milestones;
  for (std::int64_t m : milestones_) milestones.push_back(m);
  return Dict{{"_milestones", std::move(milestones)}};
}

Value SequentialLR::state_dict() const {
  Dict out = own_state();
  out.insert_or_assign("last_epoch", last_epoch_);
  out.insert_or_assign("_last_lr", detail::number_list(last_lr_));
  for (const auto& [key, value] : extra_) out.insert_or_assign(key, value);
  List schedulers;
  for (const auto& scheduler : schedulers_) schedulers.push_back(scheduler->state_dict());
  out.insert_or_assign("_schedulers", std::move(schedulers));
  return out;
}

void SequentialLR::prepare_load(const Value& state_dict, Commit& commit) {
  const Dict& state = detail::scheduler_dict(state_dict);
  const Value* schedulers = state.find(std::string("_schedulers"));
  if (!schedulers || !schedulers->is_list()) {
    fail(ErrorCode::kInvalidArgument,
         "SequentialLR.load_state_dict: expected '_schedulers', a list ",
         "of the state_dicts of its schedulers");
  }
  if (schedulers->as_list().size() != schedulers_.size()) {
    fail(ErrorCode::kMismatch, "SequentialLR.load_state_dict: the state_dict has ",
         schedulers->as_list().size(), " schedulers, this SequentialLR ", schedulers_.size());
  }
  for (const auto& [key, value] : state) {
    const std::string* name = std::get_if<std::string>(&key);
    const std::string where = "state_dict[" + key_repr(key) + "]";
    if (name && (*name == "_schedulers" || *name == "_milestones")) continue;
    if (name && *name == "last_epoch") {
      commit.push_back([this, v = detail::read_int(value, where)] { last_epoch_ = v; });
    } else if (name && *name == "_last_lr") {
      commit.push_back([this, v = detail::read_number_list(value, where)] { last_lr_ = v; });
    } else {
      commit.push_back([this, key = key, value = value] { extra_.insert_or_assign(key, value); });
    }
  }
  load_own_state(state, commit);
  for (std::size_t i = 0; i < schedulers_.size(); ++i) {
    schedulers_[i]->prepare_load(schedulers->as_list()[i], commit);
  }
}

void SequentialLR::load_own_state(const Dict& state, Commit& commit) {
  if (const Value* value = state.find(std::string("_milestones"))) {
    std::vector<std::int64_t> milestones;
    for (const Number& m : detail::read_number_list(*value, "state_dict['_milestones']")) {
      if (!m.is_int())
        fail(ErrorCode::kInvalidArgument, "state_dict['_milestones'] must hold ints");
      milestones.push_back(m.as_int());
    }
    if (milestones.size() + 1 != schedulers_.size()) {
      fail(ErrorCode::kMismatch, "state_dict['_milestones'] has ", milestones.size(),
           " milestones for ", schedulers_.size(), " schedulers");
    }
    commit.push_back([this, milestones] { milestones_ = milestones; });
  }
}

}  // namespace mnemo::optim
