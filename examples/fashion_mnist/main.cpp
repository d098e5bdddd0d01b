// mnemo-train: trains a Fashion-MNIST classifier defined in C++, with checkpoints that
// resume exactly, and evaluates state_dicts. Its flags and outputs are a contract other
// tools drive (docs/mnemo-train.md). Exit codes: 0 success, 1 bad input, 2 usage.
#include <CLI/CLI.hpp>
#include <malloc.h>

#include <iostream>

#include "blas_kernels.h"
#include "mnemo/core/error.h"
#include "mnemo/core/value.h"
#include "trainer.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"mnemo-train: train a Fashion-MNIST model in C++ with exact-resume checkpoints",
               "mnemo-train"};
  fashion_mnist::TrainOptions options;
  std::string eval_path;
  std::int64_t max_steps = 0, limit_train = 0;
  double lr = 0, momentum = 0, weight_decay = 0;
  bool no_shuffle = false;

  app.add_option("--model", options.model, "mlp or cnn")->check(CLI::IsMember({"mlp", "cnn"}));
  app.add_option("--data", options.data_dir, "Fashion-MNIST directory (IDX files, gzipped or not)");
  app.add_option("--epochs", options.epochs, "Epochs to train")->check(CLI::PositiveNumber);
  CLI::Option* max_steps_opt =
      app.add_option("--max-steps", max_steps, "Stop after this many optimizer steps in all")
          ->check(CLI::PositiveNumber);
  app.add_option("--batch-size", options.batch_size, "Images per batch")->check(CLI::PositiveNumber);
  app.add_option("--optimizer", options.optimizer, "sgd, adam or adamw")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}));
  CLI::Option* lr_opt = app.add_option("--lr", lr, "Learning rate (default 0.05 sgd, 0.001 adam/adamw)");
  CLI::Option* momentum_opt = app.add_option("--momentum", momentum, "SGD momentum (default 0.9)");
  CLI::Option* wd_opt = app.add_option("--weight-decay", weight_decay, "Weight decay");
  app.add_option("--seed", options.seed, "Seed of initialisation and shuffling");
  app.add_flag("--no-shuffle", no_shuffle, "Keep the dataset's order");
  CLI::Option* limit_opt = app.add_option("--limit-train", limit_train, "Use the first N training images")
                               ->check(CLI::PositiveNumber);
  app.add_option("--init", options.init, "Start from this state_dict (.pt or .safetensors)");
  app.add_option("--checkpoint-dir", options.checkpoint_dir, "Where checkpoints go");
  app.add_option("--save-every-steps", options.save_every_steps, "Checkpoint every K steps")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--keep-last", options.keep_last, "Checkpoints kept")->check(CLI::PositiveNumber);
  app.add_option("--resume", options.resume, "latest (from --checkpoint-dir) or a checkpoint file");
  app.add_option("--log", options.log, "Write one JSON line per step to this file");
  app.add_option("--export", options.export_path, "Write the final weights (.pt or .safetensors)");
  app.add_option("--eval", eval_path, "Evaluate this state_dict on the test set; train nothing");
  app.add_flag("--quiet", options.quiet, "No progress bar");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  if (*max_steps_opt) options.max_steps = max_steps;
  if (*limit_opt) options.limit_train = limit_train;
  if (*lr_opt) options.lr = lr;
  if (*momentum_opt) options.momentum = momentum;
  if (*wd_opt) options.weight_decay = weight_decay;
  options.shuffle = !no_shuffle;

  if (!eval_path.empty()) {
    const auto result = fashion_mnist::evaluate(options.model, options.data_dir, eval_path);
    std::cout << "{\"accuracy\": " << mnemo::repr_double(result.accuracy)
              << ", \"loss\": " << mnemo::repr_double(result.loss) << "}" << std::endl;
    return 0;
  }
  fashion_mnist::train(options);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  mnemo::tools::use_native_blas_kernels(argv);
  // Every step allocates and frees the same activations, some of several MiB: keep
  // freed blocks in the heap for the next step rather than returning them to the
  // kernel and faulting fresh zeroed pages in again.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  try {
    return run(argc, argv);
  } catch (const mnemo::Error& e) {
    std::cerr << "mnemo-train: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "mnemo-train: error: " << e.what() << "\n";
    return 1;
  }
}
