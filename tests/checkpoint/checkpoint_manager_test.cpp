#include "mnemo/checkpoint/checkpoint_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "support/bytes.h"
#include "support/python.h"

namespace mnemo::checkpoint {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::read_text;
using testing::TempDir;

Value checkpoint_at(std::int64_t step, double loss, std::int64_t numel = 16) {
  return Dict{{"global_step", step},
              {"model_state_dict", StateDict{{"w", full({numel}, static_cast<double>(step))}}},
              {"metrics", Dict{{"loss", loss}}}};
}

std::vector<std::int64_t> steps(const CheckpointManager& manager) {
  std::vector<std::int64_t> out;
  for (const CheckpointInfo& info : manager.list()) out.push_back(info.step);
  return out;
}

void flip_byte_in_middle(const std::filesystem::path& path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  const auto offset = static_cast<std::streamoff>(std::filesystem::file_size(path) * 3 / 4);
  f.seekg(offset);
  char c = 0;
  f.get(c);
  f.seekp(offset);
  f.put(static_cast<char>(c ^ 0x10));
}

TEST(CheckpointManager, NamesFilesByStepAndKeepsTheNewest) {
  TempDir dir;
  CheckpointManager manager(dir.path(), {.keep_last = 2, .fsync = false});
  for (std::int64_t step : {100, 200, 300, 400}) manager.save(step, checkpoint_at(step, 1.0));
  EXPECT_THAT(steps(manager), ElementsAre(300, 400));
  EXPECT_TRUE(std::filesystem::exists(dir / "checkpoint-000000400.pt"));
  const std::string manifest = read_text(dir / "manifest.json");
  EXPECT_THAT(manifest, HasSubstr("\"latest\": \"checkpoint-000000400.pt\""));
  EXPECT_THAT(manifest, HasSubstr("\"step\": 300"));
  EXPECT_THAT(manifest, ::testing::Not(HasSubstr("\"step\": 200")));
}

TEST(CheckpointManager, KeepsTheBestByMetricToo) {
  TempDir dir;
  CheckpointManagerOptions options{.keep_last = 1, .keep_best = 1, .metric = "loss",
                                   .fsync = false};
  {
    CheckpointManager manager(dir.path(), options);
    manager.save(1, checkpoint_at(1, 0.9));
    manager.save(2, checkpoint_at(2, 0.2));  // the best
    manager.save(3, checkpoint_at(3, 0.5));
    EXPECT_THAT(steps(manager), ElementsAre(2, 3));
  }
  // A new manager learns the metrics of what is on disk.
  CheckpointManager restarted(dir.path(), options);
  restarted.save(4, checkpoint_at(4, 0.7));
  EXPECT_THAT(steps(restarted), ElementsAre(2, 4));
  options.mode = MetricMode::kMax;
  CheckpointManager maximising(dir.path(), options);
  maximising.save(5, checkpoint_at(5, 0.1));
  EXPECT_THAT(steps(maximising), ElementsAre(4, 5));  // 0.7 is now the best
}

TEST(CheckpointManager, LoadLatestSkipsDamagedCheckpointsSayingWhy) {
  TempDir dir;
  CheckpointManager manager(dir.path(), {.keep_last = 5, .fsync = false});
  EXPECT_FALSE(manager.load_latest().has_value());
  for (std::int64_t step : {1, 2, 3}) manager.save(step, checkpoint_at(step, 1.0, 4096));
  flip_byte_in_middle(dir / manager.file_name(3));
  std::filesystem::resize_file(dir / manager.file_name(2), 100);

  std::optional<LoadedCheckpoint> latest = manager.load_latest();
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->step, 1);
  EXPECT_EQ(latest->value["global_step"].as_int(), 1);
  ASSERT_EQ(latest->skipped.size(), 2u);
  EXPECT_THAT(latest->skipped[0], HasSubstr("checkpoint-000000003.pt: "));
  EXPECT_THAT(latest->skipped[0], HasSubstr("CRC"));
  EXPECT_THAT(latest->skipped[1], HasSubstr("checkpoint-000000002.pt: "));

  flip_byte_in_middle(dir / manager.file_name(1));
  try {
    manager.load_latest();
    ADD_FAILURE() << "loaded a damaged checkpoint";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_THAT(e.what(), HasSubstr("no checkpoint in"));
    EXPECT_THAT(e.what(), HasSubstr("checkpoint-000000001.pt"));
  }
}

TEST(CheckpointManager, RemovesTemporaryFilesAKilledSaveLeft) {
  TempDir dir;
  std::ofstream(dir / ".checkpoint-000000009.pt.tmp-abc123") << "half a file";
  std::ofstream(dir / "unrelated.txt") << "kept";
  CheckpointManager manager(dir.path(), {.fsync = false});
  EXPECT_FALSE(std::filesystem::exists(dir / ".checkpoint-000000009.pt.tmp-abc123"));
  EXPECT_TRUE(std::filesystem::exists(dir / "unrelated.txt"));
  EXPECT_TRUE(manager.list().empty());
}

TEST(CheckpointManager, AsyncSaveWritesWhatItWasGivenAtTheCall) {
  TempDir dir;
  Tensor weights = full({1000}, 1.0);
  {
    CheckpointManager manager(dir.path(), {.fsync = false});
    manager.save_async(7, Dict{{"w", weights}});
    weights.fill_(2.0);  // training goes on
    manager.save_async(8, Dict{{"w", weights}});
    weights.fill_(3.0);
  }  // the destructor waits
  EXPECT_TRUE(load(dir / "checkpoint-000000007.pt")["w"].as_tensor().equal(full({1000}, 1.0)));
  EXPECT_TRUE(load(dir / "checkpoint-000000008.pt")["w"].as_tensor().equal(full({1000}, 2.0)));
}

TEST(CheckpointManager, AnAsyncErrorSurfacesAtTheNextCall) {
  TempDir dir;
  CheckpointManager manager(dir.path(), {.fsync = false});
  Storage shared = Storage::allocate_zeroed(16);
  const Value unsaveable = Dict{{"f", Tensor(shared, DType::kFloat32, {4}, {1})},
                                {"i", Tensor(shared, DType::kInt32, {4}, {1})}};
  manager.save_async(1, unsaveable);
  EXPECT_THROW(manager.wait(), Error);
  manager.save_async(2, unsaveable);
  EXPECT_THROW(manager.save(3, checkpoint_at(3, 1.0)), Error);  // surfaces here
  EXPECT_NO_THROW(manager.save(3, checkpoint_at(3, 1.0)));
  EXPECT_THAT(steps(manager), ElementsAre(3));
}

// Runs `body` in a child process and returns the message of the mnemo::Error it threw;
// fails the test when the child throws nothing or dies.
template <class Body>
std::string error_in_child(Body body) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid == 0) {
    int code = 1;
    try {
      body();
    } catch (const Error& e) {
      const std::string message = e.what();
      code = write(pipe_fds[1], message.data(), message.size()) > 0 ? 0 : 2;
    } catch (...) {
      code = 3;
    }
    _exit(code);
  }
  close(pipe_fds[1]);
  std::string message;
  char buffer[512];
  for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof(buffer))) > 0;) message.append(buffer, n);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  return message;
}

TEST(CheckpointManager, AKillDuringSavingNeverLeavesAnInvalidCheckpoint) {
  TempDir dir;
  std::mt19937 random(12345);  // fixed: the same kill times on every run
  std::int64_t next_step = 1;
  int killed_mid_write = 0;  // trials whose kill left a temporary file behind
  // At least 50 kills; more when a loaded machine made the first ones miss every save.
  for (int trial = 0; trial < 50 || ((next_step == 1 || killed_mid_write == 0) && trial < 400);
       ++trial) {
    const pid_t pid = fork();
    if (pid == 0) {
      // Without fsync: a killed process loses nothing the kernel already has.
      CheckpointManager manager(dir.path(), {.keep_last = 2, .fsync = false});
      for (std::int64_t step = next_step;; ++step) manager.save(step, checkpoint_at(step, 1.0, 1 << 18));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(random() % 40000));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
      killed_mid_write += entry.path().filename().string().find(".tmp-") != std::string::npos;
    }

    CheckpointManager manager(dir.path(), {.keep_last = 2, .fsync = false});
    for (const CheckpointInfo& info : manager.list()) {
      EXPECT_NO_THROW(verify(info.path)) << "trial " << trial << ": " << info.path;
    }
    if (auto latest = manager.load_latest()) {
      EXPECT_TRUE(latest->skipped.empty()) << latest->skipped.front();
      EXPECT_EQ(latest->value["global_step"].as_int(), latest->step);
      next_step = latest->step + 1;
    }
  }
  EXPECT_GT(next_step, 1) << "no save ever completed: the kill times are too short";
  EXPECT_GT(killed_mid_write, 0) << "no kill landed during a write: the test proves nothing";
}

TEST(CheckpointManager, AFileSizeLimitGivesAClearErrorAndKeepsEarlierCheckpoints) {
  TempDir dir;
  CheckpointManager(dir.path(), {.fsync = false}).save(1, checkpoint_at(1, 1.0));
  const std::string message = error_in_child([&] {
    rlimit limit{1 << 16, 1 << 16};
    setrlimit(RLIMIT_FSIZE, &limit);
    CheckpointManager(dir.path(), {.fsync = false}).save(2, checkpoint_at(2, 1.0, 1 << 20));
  });
  EXPECT_THAT(message, HasSubstr("file size limit exceeded"));
  CheckpointManager manager(dir.path(), {.fsync = false});
  EXPECT_THAT(steps(manager), ElementsAre(1));
  EXPECT_EQ(manager.load_latest()->step, 1);
}

TEST(CheckpointManager, AReadOnlyDirectoryGivesAClearErrorAndKeepsEarlierCheckpoints) {
  TempDir dir;
  CheckpointManager(dir.path(), {.fsync = false}).save(1, checkpoint_at(1, 1.0));
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all |
                                               std::filesystem::perms::group_read |
                                               std::filesystem::perms::group_exec |
                                               std::filesystem::perms::others_read |
                                               std::filesystem::perms::others_exec);
  const passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  const std::string message = error_in_child([&] {
    // Root ignores permissions: drop to an ordinary user, as a real job would be.
    if (geteuid() == 0 && (setgid(nobody->pw_gid) != 0 || setuid(nobody->pw_uid) != 0)) {
      throw std::runtime_error("cannot drop privileges");
    }
    CheckpointManager(dir.path(), {.fsync = false}).save(2, checkpoint_at(2, 1.0));
  });
  EXPECT_THAT(message, HasSubstr("not writable"));
  EXPECT_THAT(steps(CheckpointManager(dir.path(), {.fsync = false})), ElementsAre(1));
}

}  // namespace
}  // namespace mnemo::checkpoint
