#include "nn/deferred_init.h"

namespace mnemo::nn {
namespace {
thread_local DeferredInit* current_deferral = nullptr;
}  // namespace

DeferredInit::DeferredInit() : previous_(current_deferral) { current_deferral = this; }

DeferredInit::~DeferredInit() { end(); }

void DeferredInit::end() {
  if (!active_) return;
  active_ = false;
  current_deferral = previous_;
}

DeferredInit* DeferredInit::current() { return current_deferral; }

void DeferredInit::record(const Tensor& tensor, std::function<void(const Tensor&)> fill) {
  fills_.emplace_back(tensor, std::move(fill));
}

void DeferredInit::finish(const std::function<bool(const Tensor&)>& written) {
  end();
  auto fills = std::move(fills_);
  for (const auto& [tensor, fill] : fills) {
    if (!written(tensor)) fill(tensor);
  }
}

}  // namespace mnemo::nn
