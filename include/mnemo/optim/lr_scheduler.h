// Learning-rate schedulers with PyTorch 1.13's arithmetic and state_dicts.
//
//   mnemo::optim::SGD opt(net.parameters(), {.lr = 0.1});
//   mnemo::optim::StepLR sched(opt, 30, {.gamma = 0.1});
//   for (int epoch = 0; epoch < 100; ++epoch) { train(); opt.step(); sched.step(); }
//
// As in PyTorch, constructing a scheduler performs its first step, setting each group's
// 'lr'; a new scheduler (last_epoch -1) first adds 'initial_lr' to every group that lacks
// it (so it appears in the optimizer's state_dict, as PyTorch's does). step() uses the
// recursive ("chainable") formulas PyTorch's step() uses, each computed in double in
// Python's order of operations, so the lrs are PyTorch's to the bit; step(epoch) uses the
// closed forms, as PyTorch's deprecated step(epoch) does (SequentialLR needs it).
//
// Numbers keep Python's types: an lr given as an int stays an int until a formula makes
// it a float, as in Python.
//
// state_dict() is PyTorch's: the scheduler's attributes in their order, e.g. StepLR's
// {'step_size', 'gamma', 'base_lrs', 'last_epoch', 'verbose', '_step_count',
// '_get_lr_called_within_step', '_last_lr'}. load_state_dict() updates the attributes
// present (PyTorch's __dict__.update), keeps unknown keys and writes them back; it checks
// every value first and changes nothing when one is wrong. MultiStepLR's milestones,
// a collections.Counter in PyTorch, is a dict {milestone: count} here: mnemo reads
// PyTorch's Counter as that dict and writes a plain dict back.
//
// A scheduler refers to its optimizer, which must outlive it. verbose is kept for the
// state_dict but never prints (the library never prints).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "mnemo/core/value.h"
#include "mnemo/optim/optimizer.h"

namespace mnemo::optim {

class SequentialLR;

class LRScheduler {
 public:
  virtual ~LRScheduler();
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // Advances one epoch and sets each group's lr.
  virtual void step();
  // Jumps to `epoch` using the closed form (PyTorch's deprecated step(epoch)).
  void step(std::int64_t epoch);

  // The lrs the last step set, one per group.
  std::vector<double> get_last_lr() const;
  std::int64_t last_epoch() const { return last_epoch_; }
  Optimizer& optimizer() const { return *optimizer_; }

  virtual Value state_dict() const;
  // Throws kInvalidArgument naming the key for a value of the wrong type.
  void load_state_dict(const Value& state_dict);

 protected:
  // PyTorch's _LRScheduler.__init__ up to its first step: with last_epoch -1 sets each
  // group's 'initial_lr' (if absent), otherwise requires it. Derived constructors set
  // their fields, then call initial_step().
  LRScheduler(Optimizer& optimizer, std::int64_t last_epoch);
  struct NoInit {};
  LRScheduler(Optimizer& optimizer, std::int64_t last_epoch, NoInit);  // SequentialLR

  void initial_step();
  // The recursive form, from the groups' current lrs.
  virtual std::vector<Number> get_lr() const = 0;
  virtual std::vector<Number> closed_form_lr() const = 0;

  // The scheduler's own attributes (those set before _LRScheduler.__init__ in PyTorch),
  // in order.
  virtual Dict own_state() const = 0;
  // Loading in two phases, so that a failed load changes nothing: check everything and
  // queue the assignments on `commit`, which runs only when all checks passed.
  using Commit = std::vector<std::function<void()>>;
  virtual void prepare_load(const Value& state_dict, Commit& commit);
  // The own attributes present in `state` (checked, then queued).
  virtual void load_own_state(const Dict& state, Commit& commit) = 0;

  std::vector<Number> group_lrs() const;
  const std::vector<Number>& base_lrs() const { return base_lrs_; }
  std::int64_t step_count() const { return step_count_; }

  Optimizer* optimizer_;
  std::int64_t last_epoch_;
  std::vector<Number> base_lrs_;
  bool verbose_ = false;
  std::int64_t step_count_ = 0;
  bool get_lr_called_within_step_ = false;
  std::vector<Number> last_lr_;
  Dict extra_;  // keys a loaded state_dict had that this scheduler does not know

 private:
  friend class SequentialLR;
  void apply_lrs(const std::vector<Number>& lrs);
};

// Multiplies the lr by gamma every step_size epochs.
struct StepLROptions {
  Number gamma = 0.1;
  std::int64_t last_epoch = -1;
};
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, const StepLROptions& options = {});

 protected:
  std::vector<Number> get_lr() const override;
  std::vector<Number> closed_form_lr() const override;
  Dict own_state() const override;
  void load_own_state(const Dict& state, Commit& commit) override;

 private:
  std::int64_t step_size_;
  Number gamma_;
};

// Multiplies the lr by gamma at each milestone (a milestone listed twice, twice).
struct MultiStepLROptions {
  Number gamma = 0.1;
  std::int64_t last_epoch = -1;
};
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, const std::vector<std::int64_t>& milestones,
              const MultiStepLROptions& options = {});

 protected:
  std::vector<Number> get_lr() const override;
  std::vector<Number> closed_form_lr() const override;
  Dict own_state() const override;
  void load_own_state(const Dict& state, Commit& commit) override;

 private:
  std::vector<std::pair<std::int64_t, std::int64_t>> milestones_;  // Counter: (epoch, count)
  Number gamma_;
};

// Multiplies the lr by gamma every epoch.
struct ExponentialLROptions {
  std::int64_t last_epoch = -1;
};
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, Number gamma, const ExponentialLROptions& options = {});

 protected:
  std::vector<Number> get_lr() const override;
  std::vector<Number> closed_form_lr() const override;
  Dict own_state() const override;
  void load_own_state(const Dict& state, Commit& commit) override;

 private:
  Number gamma_;
};

// Cosine annealing from the initial lr down to eta_min over T_max epochs (SGDR without
// restarts).
struct CosineAnnealingLROptions {
  Number eta_min = 0;
  std::int64_t last_epoch = -1;
};
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, Number T_max,
                    const CosineAnnealingLROptions& options = {});

 protected:
  std::vector<Number> get_lr() const override;
  std::vector<Number> closed_form_lr() const override;
  Dict own_state() const override;
  void load_own_state(const Dict& state, Commit& commit) override;

 private:
  Number t_max_;
  Number eta_min_;
};

// Scales the lr linearly from start_factor to end_factor over total_iters epochs
// (warm-up).
struct LinearLROptions {
  Number start_factor = 1.0 / 3;
  Number end_factor = 1.0;
  std::int64_t total_iters = 5;
  std::int64_t last_epoch = -1;
};
class LinearLR : public LRScheduler {
 public:
  // Throws kInvalidArgument when a factor is outside [0, 1], with PyTorch's message.
  explicit LinearLR(Optimizer& optimizer, const LinearLROptions& options = {});

 protected:
  std::vector<Number> get_lr() const override;
  std::vector<Number> closed_form_lr() const override;
  Dict own_state() const override;
  void load_own_state(const Dict& state, Commit& commit) override;

 private:
  Number start_factor_;
  Number end_factor_;
  std::int64_t total_iters_;
};

// Runs `schedulers` one after another, switching at each milestone (epoch counts).
// They must be built on `optimizer` before this, as in PyTorch: this resets each group's
// lr to its initial_lr, steps their last_epoch back by one and restarts the first one.
class SequentialLR : public LRScheduler {
 public:
  // Throws kInvalidArgument with PyTorch's messages when a scheduler belongs to another
  // optimizer or milestones.size() != schedulers.size() - 1.
  SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
               std::vector<std::int64_t> milestones, std::int64_t last_epoch = -1);

  void step() override;
  // {'_milestones', 'last_epoch', '_last_lr', '_schedulers': [their state_dicts]}.
  Value state_dict() const override;

  const std::vector<std::shared_ptr<LRScheduler>>& schedulers() const { return schedulers_; }

 protected:
  std::vector<Number> get_lr() const override;
  std::vector<Number> closed_form_lr() const override;
  Dict own_state() const override;
  void prepare_load(const Value& state_dict, Commit& commit) override;
  void load_own_state(const Dict& state, Commit& commit) override;

 private:
  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
  std::vector<std::int64_t> milestones_;
};

}  // namespace mnemo::optim
