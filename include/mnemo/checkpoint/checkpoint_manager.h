// CheckpointManager: a directory of training checkpoints that survives crashes.
//
//   mnemo::checkpoint::CheckpointManager manager("runs/exp1", {.keep_last = 3});
//   if (auto latest = manager.load_latest()) resume_from(latest->value);
//   ...
//   manager.save_async(step, checkpoint);   // training goes on while it is written
//
// Files are "<prefix>-<step, 9 digits>.pt", written atomically (temporary file, fsync,
// rename, fsync of the directory), so a checkpoint file is either complete or absent,
// whatever happens to the process. After each save the manager rewrites
// "manifest.json" (atomically too) and deletes the checkpoints retention no longer
// keeps: the newest keep_last, plus the best keep_best by a metric.
//
// load_latest() trusts nothing: it verifies checkpoints from the newest down (structure
// and every CRC) and returns the first that is sound, saying why it skipped the others.
//
// Not thread-safe: use one manager from one thread (its background writer is its own).
#pragma once

#include <cstdint>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mnemo/core/value.h"
#include "mnemo/serialize.h"

namespace mnemo::checkpoint {

enum class MetricMode { kMin, kMax };

struct CheckpointManagerOptions {
  int keep_last = 3;         // newest checkpoints kept (at least 1)
  int keep_best = 0;         // best checkpoints by `metric` kept as well
  std::string metric = "";   // a key of the checkpoint's "metrics" dict (for keep_best)
  MetricMode mode = MetricMode::kMin;
  std::string prefix = "checkpoint";
  bool fsync = true;
};

struct CheckpointInfo {
  std::filesystem::path path;
  std::int64_t step = 0;
  std::optional<double> metric;
};

struct LoadedCheckpoint {
  std::filesystem::path path;
  std::int64_t step = 0;
  Value value;
  std::vector<std::string> skipped;  // one line per newer checkpoint that was unsound
};

class CheckpointManager {
 public:
  // Creates `directory` if needed and removes temporary files a killed save left
  // behind. Throws kIo when the directory cannot be created or read.
  explicit CheckpointManager(std::filesystem::path directory,
                             CheckpointManagerOptions options = {});
  // Waits for a save in flight. Its error, if any, is lost: call wait() to see it.
  ~CheckpointManager();
  CheckpointManager(const CheckpointManager&) = delete;
  CheckpointManager& operator=(const CheckpointManager&) = delete;

  // Writes `checkpoint` (a dict) as the checkpoint of `step` and applies retention.
  // Waits for any save in flight first. Returns the file written.
  std::filesystem::path save(std::int64_t step, const Value& checkpoint);
  // Copies every tensor of `checkpoint` now, then writes it on a background thread.
  // Waits for the previous save first, and throws its error if it failed.
  void save_async(std::int64_t step, const Value& checkpoint);
  // Waits for the save in flight; throws its error if it failed.
  void wait();

  // The newest checkpoint that verifies, or nullopt when there is none.
  std::optional<LoadedCheckpoint> load_latest(const LoadOptions& options = {});
  // The checkpoints on disk, oldest first.
  std::vector<CheckpointInfo> list() const;

  const std::filesystem::path& directory() const { return directory_; }
  // The file name a checkpoint of `step` gets.
  std::string file_name(std::int64_t step) const;

 private:
  std::filesystem::path write(std::int64_t step, const Value& checkpoint);
  std::optional<std::int64_t> step_of(const std::filesystem::path& file) const;
  std::vector<CheckpointInfo> scan() const;
  std::optional<double> metric_of(const Value& checkpoint) const;
  void apply_retention(std::vector<CheckpointInfo>& checkpoints) const;
  void write_manifest(const std::vector<CheckpointInfo>& checkpoints) const;
  void join();

  std::filesystem::path directory_;
  CheckpointManagerOptions options_;
  mutable std::mutex mutex_;  // guards metrics_ against the background writer
  std::vector<std::pair<std::int64_t, double>> metrics_;  // step -> metric, for keep_best
  std::thread writer_;
  std::exception_ptr writer_error_;
};

}  // namespace mnemo::checkpoint
