// DeferredInit: builds a model whose parameters are about to be loaded without drawing
// their random initial values first.
//
// While one is alive on a thread, nn::init's fills there (uniform_, normal_ and
// kaiming_uniform_ from the default generator, constant_, zeros_, ones_) check their
// arguments and record the fill instead of making it. finish() then makes the recorded
// fills of the tensors the load did not write, in the order they were asked for. For a
// model of 1 GiB, drawing its initial values took 35 times as long as loading it.
//
// Fills from a generator the caller passed are made at once: it may not outlive the
// constructor that used it. A constructor that reads a tensor after asking for its fill
// sees it unfilled, and one that writes part of it (Embedding's padding row) writes
// before a fill made later: harmless for a tensor the load writes whole, which is what
// load_model defers.
#pragma once

#include <functional>
#include <utility>
#include <vector>

#include "mnemo/core/tensor.h"

namespace mnemo::nn {

class DeferredInit {
 public:
  DeferredInit();
  ~DeferredInit();  // without finish(): the recorded fills are dropped
  DeferredInit(const DeferredInit&) = delete;
  DeferredInit& operator=(const DeferredInit&) = delete;

  // Ends the deferral, then makes each recorded fill whose tensor `written` says the load
  // did not write.
  void finish(const std::function<bool(const Tensor&)>& written);

  // The deferral alive on this thread, or nullptr.
  static DeferredInit* current();
  void record(const Tensor& tensor, std::function<void(const Tensor&)> fill);

 private:
  void end();

  std::vector<std::pair<Tensor, std::function<void(const Tensor&)>>> fills_;
  DeferredInit* previous_;
  bool active_ = true;
};

}  // namespace mnemo::nn
