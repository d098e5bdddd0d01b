// mnemo-train's promise: a run stopped at any step — cleanly or by SIGKILL — and resumed
// from its latest checkpoint ends with weights and a step log bitwise identical to an
// uninterrupted run (shuffling and every random draw included). And its flags' contract.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mnemo/serialize.h"
#include "support/bytes.h"
#include "support/python.h"

extern char** environ;

namespace mnemo::testing {
namespace {

using ::testing::HasSubstr;

std::int64_t line_count(const std::filesystem::path& path) {
  const std::string text = read_text(path);
  return std::count(text.begin(), text.end(), '\n');
}

// Starts mnemo-train with `args`, stdout and stderr into `output`; returns its pid.
pid_t start_train(const std::vector<std::string>& args, const std::filesystem::path& output) {
  std::vector<std::string> argv_strings{MNEMO_TRAIN_PATH};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + std::string(MNEMO_TRAIN_PATH));
  return pid;
}

// Runs mnemo-train to its end; returns its exit code (-signal when killed).
int run_train(const std::vector<std::string>& args, const std::filesystem::path& output) {
  const pid_t pid = start_train(args, output);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

// A small run: 1,280 shuffled training images in batches of 64 (20 steps an epoch),
// 3 epochs, checkpoints every 3 steps (so some fall within an epoch, some at its end).
// Under sanitizers, which slow the arithmetic tenfold, batches of 16 out of 320 images:
// the same steps, checkpoints and resumes, on less data.
#ifdef MNEMO_TESTS_SANITIZED
constexpr const char* kTrainImages = "320";
constexpr const char* kBatchSize = "16";
#else
constexpr const char* kTrainImages = "1280";
constexpr const char* kBatchSize = "64";
#endif

std::vector<std::string> small_run(const std::string& model, const std::filesystem::path& dir) {
  return {"--model",
          model,
          "--epochs",
          "3",
          "--limit-train",
          kTrainImages,
          "--batch-size",
          kBatchSize,
          "--seed",
          "7",
          "--optimizer",
          model == "mlp" ? "adam" : "sgd",
          "--checkpoint-dir",
          (dir / "checkpoints").string(),
          "--save-every-steps",
          "3",
          "--keep-last",
          "2",
          "--log",
          (dir / "steps.jsonl").string(),
          "--export",
          (dir / "weights.pt").string(),
          "--quiet"};
}

class MnemoTrain : public ::testing::Test {
 protected:
  // The uninterrupted run every resumed one must equal, once per model.
  static const TempDir& reference(const std::string& model) {
    static std::map<std::string, std::unique_ptr<TempDir>> runs;
    auto& dir = runs[model];
    if (!dir) {
      dir = std::make_unique<TempDir>();
      const int rc = run_train(small_run(model, dir->path()), *dir / "output.txt");
      if (rc != 0) ADD_FAILURE() << "reference run failed:\n" << read_text(*dir / "output.txt");
    }
    return *dir;
  }

  static void expect_same_as_reference(const std::string& model, const TempDir& resumed) {
    const TempDir& ref = reference(model);
    ASSERT_EQ(line_count(ref / "steps.jsonl"), 60);
    EXPECT_EQ(read_text(resumed / "steps.jsonl"), read_text(ref / "steps.jsonl"))
        << read_text(resumed / "output.txt");
    const std::string weights = read_text(resumed / "weights.pt");
    ASSERT_FALSE(weights.empty()) << read_text(resumed / "output.txt");
    EXPECT_TRUE(weights == read_text(ref / "weights.pt")) << "the final weights differ";
  }
};

TEST_F(MnemoTrain, StoppedWithinAnEpochAndResumedEqualsAnUninterruptedRun) {
  for (const std::string model : {"mlp", "cnn"}) {
    SCOPED_TRACE(model);
    TempDir run;
    std::vector<std::string> first = small_run(model, run.path());
    first.insert(first.end(), {"--max-steps", "31"});  // epoch 2, batch 11
    ASSERT_EQ(run_train(first, run / "output.txt"), 0) << read_text(run / "output.txt");
    EXPECT_EQ(line_count(run / "steps.jsonl"), 31);
    std::vector<std::string> resumed = small_run(model, run.path());
    resumed.insert(resumed.end(), {"--resume", "latest"});
    ASSERT_EQ(run_train(resumed, run / "output.txt"), 0) << read_text(run / "output.txt");
    EXPECT_THAT(read_text(run / "output.txt"), HasSubstr("resumed from"));
    expect_same_as_reference(model, run);
  }
}

TEST_F(MnemoTrain, StoppedAtAnEpochBoundaryAndResumedEqualsAnUninterruptedRun) {
  TempDir run;
  std::vector<std::string> first = small_run("mlp", run.path());
  first.insert(first.end(), {"--max-steps", "40"});  // the end of epoch 2
  ASSERT_EQ(run_train(first, run / "output.txt"), 0) << read_text(run / "output.txt");
  std::vector<std::string> resumed = small_run("mlp", run.path());
  resumed.insert(resumed.end(), {"--resume", "latest"});
  ASSERT_EQ(run_train(resumed, run / "output.txt"), 0) << read_text(run / "output.txt");
  EXPECT_THAT(read_text(run / "output.txt"), HasSubstr("at step 40 (next: epoch 3, batch 1)"));
  expect_same_as_reference("mlp", run);
}

TEST_F(MnemoTrain, KilledBySigkillAndResumedFromTheLatestCheckpointEqualsAnUninterruptedRun) {
  // Killed wherever it is once it has logged a given step: mid-step, mid-save, anywhere.
  for (const std::int64_t kill_after : {7, 26, 45}) {
    SCOPED_TRACE("killed after step " + std::to_string(kill_after));
    TempDir run;
    const pid_t pid = start_train(small_run("cnn", run.path()), run / "output.txt");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    int status = 0;
    bool exited = false;
    while (line_count(run / "steps.jsonl") < kill_after) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        break;
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the run made no progress";
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ASSERT_FALSE(exited) << "the run ended before it could be killed:\n"
                         << read_text(run / "output.txt");
    ::kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));
    const std::int64_t logged = line_count(run / "steps.jsonl");
    ASSERT_LT(logged, 60) << "killed too late to test anything";

    std::vector<std::string> resumed = small_run("cnn", run.path());
    resumed.insert(resumed.end(), {"--resume", "latest"});
    ASSERT_EQ(run_train(resumed, run / "output.txt"), 0) << read_text(run / "output.txt");
    expect_same_as_reference("cnn", run);
  }
}

TEST_F(MnemoTrain, TheCheckpointLoadsAsAPyTorchStyleTrainingDict) {
  const TempDir& ref = reference("mlp");
  std::filesystem::path latest;
  for (const auto& entry : std::filesystem::directory_iterator(ref / "checkpoints")) {
    if (entry.path().extension() == ".pt" && entry.path() > latest) latest = entry.path();
  }
  ASSERT_FALSE(latest.empty());
  const Value checkpoint = load(latest);
  for (const char* key : {"epoch", "global_step", "model_state_dict", "optimizer_state_dict",
                          "scheduler_state_dict", "rng_state", "loader_state", "metrics",
                          "mnemo_version"}) {
    EXPECT_TRUE(checkpoint.as_dict().contains(key)) << key;
  }
  EXPECT_EQ(checkpoint["global_step"].as_int(), 60);
  EXPECT_EQ(checkpoint["rng_state"].as_tensor().dtype(), DType::kUInt8);
  EXPECT_TRUE(checkpoint["model_state_dict"].to_state_dict().at("1.weight").equal(
      load(ref / "weights.pt").to_state_dict().at("1.weight")));
}

TEST_F(MnemoTrain, PyTorchLoadsTheCheckpointIntoTheSameArchitectureAndContinues) {
  const TempDir& ref = reference("mlp");
  // torch.load's default: PyTorch 1.13's weights_only reader refuses every pickled float
  // (an lr, a loss), in its own checkpoints too.
  const std::string script = R"(
import sys, torch
from torch import nn
ckpt = torch.load(sys.argv[1])
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
model.load_state_dict(ckpt["model_state_dict"])
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
opt.load_state_dict(ckpt["optimizer_state_dict"])
state = opt.state_dict()["state"]
assert sorted(state) == [0, 1, 2, 3], sorted(state)
assert all(float(s["step"]) == ckpt["global_step"] for s in state.values())
x = torch.randn(8, 1, 28, 28)
loss = nn.functional.cross_entropy(model(x), torch.arange(8))
opt.zero_grad(); loss.backward(); opt.step()
print("epoch", ckpt["epoch"], "step", ckpt["global_step"], "rng", ckpt["rng_state"].dtype,
      "loader", ckpt["loader_state"], "version", ckpt["mnemo_version"])
)";
  std::filesystem::path last;
  for (const auto& entry : std::filesystem::directory_iterator(ref / "checkpoints")) {
    if (entry.path().extension() == ".pt" && entry.path() > last) last = entry.path();
  }
  const std::string output = python_output(script, last.string());
  EXPECT_THAT(output, HasSubstr("step 60 rng torch.uint8 loader {'epoch': 3, 'batch': 0}"));
}

TEST_F(MnemoTrain, EvalPrintsAccuracyAndLossAsItsLastLine) {
  const TempDir& ref = reference("mlp");
  TempDir dir;
  ASSERT_EQ(run_train({"--model", "mlp", "--eval", (ref / "weights.pt").string()},
                      dir / "output.txt"),
            0);
  std::istringstream lines(read_text(dir / "output.txt"));
  std::string line, last;
  while (std::getline(lines, line)) last = line;
  EXPECT_THAT(last, ::testing::MatchesRegex(
                        R"(\{"accuracy": 0\.[0-9]+, "loss": [0-9]+\.[0-9]+(e-?[0-9]+)?\})"));
}

TEST_F(MnemoTrain, BadInputIsOneClearLineAndExitCodeOne) {
  TempDir dir;
  std::ofstream(dir / "junk.pt") << "not a checkpoint";
  EXPECT_EQ(run_train({"--model", "cnn", "--eval", (dir / "junk.pt").string()}, dir / "out.txt"), 1);
  EXPECT_THAT(read_text(dir / "out.txt"), HasSubstr("mnemo-train: error:"));
  // The wrong architecture names the keys, as PyTorch's load_state_dict does.
  const TempDir& ref = reference("mlp");
  EXPECT_EQ(run_train({"--model", "cnn", "--eval", (ref / "weights.pt").string()}, dir / "arch.txt"),
            1);
  EXPECT_THAT(read_text(dir / "arch.txt"), HasSubstr("Missing key(s) in state_dict"));
  EXPECT_EQ(run_train({"--model", "resnet"}, dir / "usage.txt"), 2);
  EXPECT_EQ(run_train({"--data", (dir / "nowhere").string(), "--max-steps", "1"}, dir / "data.txt"),
            1);
  EXPECT_THAT(read_text(dir / "data.txt"), HasSubstr("nowhere"));
}

}  // namespace
}  // namespace mnemo::testing
