// nn::BatchNorm1d / BatchNorm2d with PyTorch's state: parameters "weight" and "bias"
// (when affine), buffers "running_mean", "running_var" and the int64 0-dim
// "num_batches_tracked" (when tracking running stats). Module version 2: loading a
// state saved by version 1 (or one without metadata) that lacks num_batches_tracked
// fills it with 0, as PyTorch does.
#pragma once

#include <optional>

#include "mnemo/nn/module.h"

namespace mnemo::nn {

struct BatchNormOptions {
  double eps = 1e-5;
  // nullopt: a cumulative moving average (1 / num_batches_tracked), as momentum=None.
  std::optional<double> momentum = 0.1;
  bool affine = true;
  bool track_running_stats = true;
};

class BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  // {num_features, eps, momentum (None for a cumulative average), affine, track_running_stats}
  Value config() const override;
  std::int64_t version() const override { return 2; }
  void reset_running_stats();
  void reset_parameters();

  std::int64_t num_features;
  BatchNormOptions options;
  Tensor weight;
  Tensor bias;
  Tensor running_mean;
  Tensor running_var;
  Tensor num_batches_tracked;

 protected:
  BatchNorm(std::int64_t num_features, BatchNormOptions options, std::string type_name,
            std::int64_t min_dim, std::int64_t max_dim);
  void upgrade_state(const std::string& prefix, std::optional<std::int64_t> version,
                     const StateDict& state_dict, StateDict& additions) const override;

 private:
  std::int64_t min_dim_;
  std::int64_t max_dim_;
};

// Input (N, C) or (N, C, L).
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(std::int64_t num_features, BatchNormOptions options = {})
      : BatchNorm(num_features, options, "BatchNorm1d", 2, 3) {}
};

// Input (N, C, H, W).
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(std::int64_t num_features, BatchNormOptions options = {})
      : BatchNorm(num_features, options, "BatchNorm2d", 4, 4) {}
};

}  // namespace mnemo::nn
