#include "trainer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "dataset.h"
#include "mnemo/autograd.h"
#include "mnemo/checkpoint/checkpoint_manager.h"
#include "mnemo/mnemo.h"
#include "mnemo/optim.h"
#include "models.h"
#include "progress_bar.h"
#include "step_log.h"

namespace fashion_mnist {
namespace {

namespace optim = mnemo::optim;
using Clock = std::chrono::steady_clock;
using mnemo::Dict;
using mnemo::Tensor;
using mnemo::Value;

std::string data_dir_or_default(const std::string& dir) {
  return dir.empty() ? std::string(kDefaultDataDir) : dir;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& options,
                                                 const std::vector<Tensor>& params) {
  if (options.optimizer == "sgd") {
    optim::SGDOptions sgd{.lr = options.lr.value_or(0.05),
                          .momentum = options.momentum.value_or(0.9)};
    if (options.weight_decay) sgd.weight_decay = *options.weight_decay;
    return std::make_unique<optim::SGD>(params, sgd);
  }
  if (options.optimizer == "adam") {
    optim::AdamOptions adam{.lr = options.lr.value_or(1e-3)};
    if (options.weight_decay) adam.weight_decay = *options.weight_decay;
    return std::make_unique<optim::Adam>(params, adam);
  }
  if (options.optimizer == "adamw") {
    optim::AdamWOptions adamw{.lr = options.lr.value_or(1e-3)};
    if (options.weight_decay) adamw.weight_decay = *options.weight_decay;
    return std::make_unique<optim::AdamW>(params, adamw);
  }
  mnemo::fail(mnemo::ErrorCode::kInvalidArgument, "unknown optimizer '", options.optimizer,
              "': expected sgd, adam or adamw");
}

// Where training continues: the epoch and the batch within it.
struct Position {
  std::int64_t epoch = 0;
  std::int64_t batch = 0;
  std::int64_t global_step = 0;
};

Value checkpoint_of(const mnemo::nn::Module& model, const optim::Optimizer& optimizer,
                    const Position& next, std::int64_t epoch, double loss) {
  return Dict{{"epoch", epoch},
              {"global_step", next.global_step},
              {"model_state_dict", model.state_dict()},
              {"optimizer_state_dict", optimizer.state_dict()},
              {"scheduler_state_dict", mnemo::None{}},
              {"rng_state", mnemo::get_rng_state()},
              {"loader_state", Dict{{"epoch", next.epoch}, {"batch", next.batch}}},
              {"metrics", Dict{{"loss", loss}}},
              {"mnemo_version", mnemo::kVersion}};
}

Position restore(const Value& checkpoint, mnemo::nn::Module& model, optim::Optimizer& optimizer) {
  model.load_state_dict(checkpoint["model_state_dict"].to_state_dict());
  optimizer.load_state_dict(checkpoint["optimizer_state_dict"]);
  mnemo::set_rng_state(checkpoint["rng_state"].as_tensor());
  return Position{checkpoint["loader_state"]["epoch"].as_int(),
                  checkpoint["loader_state"]["batch"].as_int(),
                  checkpoint["global_step"].as_int()};
}

// "step 1400 (next: epoch 2, batch 463)", counting epochs and batches from 1 for people.
std::string where(const Position& p) {
  return "step " + std::to_string(p.global_step) + " (next: epoch " + std::to_string(p.epoch + 1) +
         ", batch " + std::to_string(p.batch + 1) + ")";
}

// How many rows of `logits` have their largest value at the label.
std::int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  const Tensor predicted = mnemo::argmax(logits, 1);
  const auto* p = predicted.data<std::int64_t>();
  const auto* l = labels.data<std::int64_t>();
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < labels.numel(); ++i) correct += p[i] == l[i];
  return correct;
}

void load_weights(mnemo::nn::Module& model, const std::string& path) {
  const Value value = mnemo::load(path, {.map_location = mnemo::Device::cpu()});
  model.load_state_dict(value.to_state_dict());
}

}  // namespace

void train(const TrainOptions& options) {
  const std::string data_dir = data_dir_or_default(options.data_dir);
  const Dataset dataset = load_dataset(data_dir, Split::kTrain, options.limit_train);
  const BatchLoader loader(dataset, options.batch_size, options.shuffle, options.seed);

  mnemo::manual_seed(options.seed);
  auto model = make_model(options.model);
  if (!options.init.empty()) load_weights(*model, options.init);
  auto optimizer = make_optimizer(options, model->parameters());

  std::unique_ptr<mnemo::checkpoint::CheckpointManager> manager;
  if (!options.checkpoint_dir.empty()) {
    manager = std::make_unique<mnemo::checkpoint::CheckpointManager>(
        options.checkpoint_dir,
        mnemo::checkpoint::CheckpointManagerOptions{.keep_last = options.keep_last});
  }

  Position position;
  if (!options.resume.empty()) {
    if (options.resume == "latest") {
      if (!manager) mnemo::fail(mnemo::ErrorCode::kInvalidArgument, "--resume latest needs --checkpoint-dir");
      auto latest = manager->load_latest({.map_location = mnemo::Device::cpu()});
      for (const std::string& reason : latest ? latest->skipped : std::vector<std::string>{}) {
        std::cout << "skipped an unsound checkpoint: " << reason << "\n";
      }
      if (latest) {
        position = restore(latest->value, *model, *optimizer);
        std::cout << "resumed from " << latest->path.string() << " at " << where(position) << "\n";
      } else {
        std::cout << "no checkpoint in " << options.checkpoint_dir << ": starting afresh\n";
      }
    } else {
      position = restore(mnemo::load(options.resume, {.map_location = mnemo::Device::cpu()}),
                         *model, *optimizer);
      std::cout << "resumed from " << options.resume << " at " << where(position) << "\n";
    }
  }

  StepLog log(options.log, position.global_step);
  const std::int64_t batches = loader.batches_per_epoch();
  const std::int64_t total_steps =
      std::min(options.epochs * batches, options.max_steps.value_or(options.epochs * batches));
  std::cout << "training " << options.model << " on " << dataset.size() << " images ("
            << batches << " batches of " << options.batch_size << " per epoch) with "
            << optimizer->name() << ", " << total_steps << " steps in all" << std::endl;

  double last_loss = 0;
  const std::int64_t first_step = position.global_step;
  const Clock::time_point train_start = Clock::now();
  while (position.epoch < options.epochs && position.global_step < total_steps) {
    mnemo::tools::ProgressBar bar("epoch " + std::to_string(position.epoch + 1), batches,
                                  stderr, options.quiet);
    double loss_sum = 0;
    std::int64_t correct = 0, seen = 0, batches_done = 0;
    const Clock::time_point epoch_start = Clock::now();
    // Without a terminal, a plain line every tenth of an epoch.
    const std::int64_t plain_every = std::max<std::int64_t>(1, batches / 10);
    model->train();
    for (; position.batch < batches && position.global_step < total_steps; ++position.batch) {
      const Batch batch = loader.batch(position.epoch, position.batch);
      const Tensor logits = model->forward(batch.inputs);
      const Tensor loss = mnemo::cross_entropy(logits, batch.labels);
      optimizer->zero_grad();
      loss.backward();
      optimizer->step();
      ++position.global_step;

      last_loss = loss.item<double>();
      loss_sum += last_loss;
      ++batches_done;
      correct += count_correct(logits.detach(), batch.labels);
      seen += batch.labels.numel();
      log.write(position.global_step, position.epoch, last_loss,
                optimizer->param_groups().front().lr());

      const double seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
      char status[128];
      std::snprintf(status, sizeof(status), "loss %.4f acc %.3f %.0f img/s",
                    loss_sum / batches_done, static_cast<double>(correct) / seen,
                    seconds > 0 ? static_cast<double>(seen) / seconds : 0.0);
      bar.update(static_cast<std::uint64_t>(position.batch + 1), status);
      if (!bar.enabled() && !options.quiet && (position.batch + 1) % plain_every == 0) {
        std::cout << "epoch " << position.epoch + 1 << " batch " << position.batch + 1 << "/"
                  << batches << " step " << position.global_step << "/" << total_steps << ": "
                  << status << std::endl;
      }

      if (manager && options.save_every_steps > 0 &&
          position.global_step % options.save_every_steps == 0) {
        Position next = position;
        if (++next.batch == batches) next = {position.epoch + 1, 0, position.global_step};
        manager->save_async(position.global_step,
                            checkpoint_of(*model, *optimizer, next, position.epoch, last_loss));
      }
    }
    if (position.batch == batches) {
      char status[96];
      std::snprintf(status, sizeof(status), "loss %.4f acc %.3f", loss_sum / batches_done,
                    static_cast<double>(correct) / seen);
      bar.finish(status);
      std::cout << "epoch " << position.epoch + 1 << ": mean loss " << loss_sum / batches_done
                << ", train accuracy " << static_cast<double>(correct) / seen << " (step "
                << position.global_step << ")" << std::endl;
      ++position.epoch;
      position.batch = 0;
    }
  }
  // The training loop's own time (data loading and start-up excluded), as a JSON line
  // that benchmarks read.
  std::cout << "{\"steps\": " << position.global_step - first_step << ", \"train_seconds\": "
            << mnemo::repr_double(std::chrono::duration<double>(Clock::now() - train_start).count())
            << "}" << std::endl;
  if (manager) {
    manager->save(position.global_step,
                  checkpoint_of(*model, *optimizer, position, position.epoch, last_loss));
    std::cout << "final checkpoint in " << options.checkpoint_dir << "\n";
  }
  if (!options.export_path.empty()) {
    mnemo::save(model->state_dict(), options.export_path);
    std::cout << "exported the weights to " << options.export_path << "\n";
  }
}

EvalResult evaluate(const std::string& model_name, const std::string& data_dir,
                    const std::string& state_dict_path) {
  const Dataset test = load_dataset(data_dir_or_default(data_dir), Split::kTest);
  auto model = make_model(model_name);
  load_weights(*model, state_dict_path);
  model->eval();
  mnemo::NoGradGuard no_grad;
  const BatchLoader loader(test, 1000, /*shuffle=*/false, 0);
  double loss_sum = 0;
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < loader.batches_per_epoch(); ++i) {
    const Batch batch = loader.batch(0, i);
    const Tensor logits = model->forward(batch.inputs);
    loss_sum += mnemo::cross_entropy(logits, batch.labels, mnemo::Reduction::kSum).item<double>();
    correct += count_correct(logits, batch.labels);
  }
  const auto n = static_cast<double>(test.size());
  return {static_cast<double>(correct) / n, loss_sum / n};
}

}  // namespace fashion_mnist
