// mnemo-train's two jobs: training (with checkpoints, exact resume, a step log and an
// export) and evaluating a state_dict on the test set.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace fashion_mnist {

struct TrainOptions {
  std::string model = "cnn";
  std::string data_dir;
  std::int64_t epochs = 1;
  std::optional<std::int64_t> max_steps;
  std::int64_t batch_size = 64;
  std::string optimizer = "sgd";
  std::optional<double> lr;            // default: 0.05 for sgd, 0.001 for adam and adamw
  std::optional<double> momentum;      // sgd only; default 0.9
  std::optional<double> weight_decay;  // default: the optimizer's own (PyTorch's)
  std::uint64_t seed = 0;
  bool shuffle = true;
  std::optional<std::int64_t> limit_train;
  std::string init;                    // a state_dict to start from
  std::string checkpoint_dir;
  std::int64_t save_every_steps = 0;   // 0: no periodic checkpoints
  int keep_last = 3;
  std::string resume;                  // "latest" or a checkpoint file
  std::string log;                     // JSON lines, one per step
  std::string export_path;             // the final weights-only state_dict
  bool quiet = false;                  // no progress bar
};

// Trains as `options` says; prints progress and a summary on stdout. Throws
// mnemo::Error for bad input (data, checkpoints, state_dicts).
void train(const TrainOptions& options);

struct EvalResult {
  double accuracy = 0;
  double loss = 0;  // mean cross-entropy
};

// Loads `state_dict_path` strictly into `model` on the CPU and evaluates the 10,000 test
// images.
EvalResult evaluate(const std::string& model, const std::string& data_dir,
                    const std::string& state_dict_path);

}  // namespace fashion_mnist
