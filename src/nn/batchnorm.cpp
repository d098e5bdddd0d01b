#include "mnemo/nn/batchnorm.h"

#include "mnemo/nn/init.h"
#include "mnemo/ops/normalization.h"
#include "nn/repr_util.h"

namespace mnemo::nn {

BatchNorm::BatchNorm(std::int64_t num_features, BatchNormOptions options, std::string type_name,
                     std::int64_t min_dim, std::int64_t max_dim)
    : Module(std::move(type_name)),
      num_features(num_features),
      options(options),
      min_dim_(min_dim),
      max_dim_(max_dim) {
  MNEMO_CHECK(num_features > 0, name(), ": num_features must be positive, got ", num_features);
  weight = register_parameter("weight", options.affine ? empty({num_features}) : Tensor());
  bias = register_parameter("bias", options.affine ? empty({num_features}) : Tensor());
  if (options.track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({num_features}));
    running_var = register_buffer("running_var", ones({num_features}));
    num_batches_tracked =
        register_buffer("num_batches_tracked", zeros({}, {.dtype = DType::kInt64}));
  } else {
    register_buffer("running_mean", Tensor());
    register_buffer("running_var", Tensor());
    register_buffer("num_batches_tracked", Tensor());
  }
  reset_parameters();
}

void BatchNorm::reset_running_stats() {
  if (!options.track_running_stats) return;
  running_mean.zero_();
  running_var.fill_(1.0);
  num_batches_tracked.zero_();
}

void BatchNorm::reset_parameters() {
  reset_running_stats();
  if (options.affine) {
    init::ones_(weight);
    init::zeros_(bias);
  }
}

Tensor BatchNorm::forward(const Tensor& input) {
  if (min_dim_ == max_dim_) {
    MNEMO_CHECK(input.dim() == min_dim_, "expected ", min_dim_, "D input (got ", input.dim(),
                "D input)");
  } else {
    MNEMO_CHECK(input.dim() >= min_dim_ && input.dim() <= max_dim_, "expected ", min_dim_,
                "D or ", max_dim_, "D input (got ", input.dim(), "D input)");
  }
  double factor = options.momentum.value_or(0.0);
  if (is_training() && options.track_running_stats) {
    const std::int64_t batches = ++num_batches_tracked.mutable_at<std::int64_t>({});
    if (!options.momentum) factor = 1.0 / static_cast<double>(batches);
  }
  const bool use_batch_stats = is_training() || !options.track_running_stats;
  const bool pass_running = !is_training() || options.track_running_stats;
  return batch_norm(input, pass_running ? running_mean : Tensor(),
                    pass_running ? running_var : Tensor(), weight, bias, use_batch_stats, factor,
                    options.eps);
}

std::string BatchNorm::extra_repr() const {
  return std::to_string(num_features) + ", eps=" + repr_double(options.eps) +
         ", momentum=" + (options.momentum ? repr_double(*options.momentum) : "None") +
         ", affine=" + detail::py_bool(options.affine) +
         ", track_running_stats=" + detail::py_bool(options.track_running_stats);
}

void BatchNorm::upgrade_state(const std::string& prefix, std::optional<std::int64_t> version,
                              const StateDict& state_dict, StateDict& additions) const {
  // Version 1 had no num_batches_tracked; PyTorch starts such a model's count at 0.
  if ((!version || *version < 2) && options.track_running_stats) {
    const std::string key = prefix + "num_batches_tracked";
    if (!state_dict.contains(key)) additions.insert(key, zeros({}, {.dtype = DType::kInt64}));
  }
}

Value BatchNorm::config() const {
  Value momentum;  // None: a cumulative moving average
  if (options.momentum) momentum = *options.momentum;
  return Dict{{"num_features", num_features},
              {"eps", options.eps},
              {"momentum", std::move(momentum)},
              {"affine", options.affine},
              {"track_running_stats", options.track_running_stats}};
}

}  // namespace mnemo::nn
