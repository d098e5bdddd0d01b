// Whether operations record the graph that backward() walks: GradMode is a per-thread
// switch, on by default, and NoGradGuard turns it off for a scope, like PyTorch's
// torch.no_grad(). Under NoGradGuard nothing is recorded: results do not require grad,
// views of tensors that require grad do not either, and in-place writes into tensors
// that require grad (an optimizer's step, load_state_dict) are allowed.
#pragma once

namespace mnemo::autograd {

class GradMode {
 public:
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

// Sets the grad mode of this thread for its lifetime and restores the previous one.
class AutoGradMode {
 public:
  explicit AutoGradMode(bool enabled) : previous_(GradMode::is_enabled()) {
    GradMode::set_enabled(enabled);
  }
  ~AutoGradMode() { GradMode::set_enabled(previous_); }
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool previous_;
};

// torch.no_grad() as a scope guard.
class NoGradGuard : public AutoGradMode {
 public:
  NoGradGuard() : AutoGradMode(false) {}
};

}  // namespace mnemo::autograd

namespace mnemo {
using autograd::AutoGradMode;
using autograd::GradMode;
using autograd::NoGradGuard;
}  // namespace mnemo
