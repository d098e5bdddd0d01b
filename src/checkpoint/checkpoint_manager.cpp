#include "mnemo/checkpoint/checkpoint_manager.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "mnemo/checkpoint/snapshot.h"
#include "mnemo/core/value_json.h"
#include "mnemo/io/byte_sink.h"

namespace mnemo::checkpoint {
namespace {

constexpr std::string_view kExtension = ".pt";
constexpr std::string_view kManifest = "manifest.json";
constexpr std::string_view kTempMarker = ".tmp-";  // AtomicFileWriter's temporary names

}  // namespace

CheckpointManager::CheckpointManager(std::filesystem::path directory,
                                     CheckpointManagerOptions options)
    : directory_(std::move(directory)), options_(std::move(options)) {
  MNEMO_CHECK(options_.keep_last >= 1, "keep_last must be at least 1, got ", options_.keep_last);
  MNEMO_CHECK(options_.keep_best >= 0, "keep_best must be >= 0, got ", options_.keep_best);
  MNEMO_CHECK(options_.keep_best == 0 || !options_.metric.empty(),
              "keep_best needs a metric: the key of the checkpoint's \"metrics\" dict to rank by");
  MNEMO_CHECK(!options_.prefix.empty() && options_.prefix.find('/') == std::string::npos,
              "invalid checkpoint prefix '", options_.prefix, "'");
  std::error_code error;
  std::filesystem::create_directories(directory_, error);
  if (error) {
    fail(ErrorCode::kIo, "cannot create the checkpoint directory '", directory_.string(),
         "': ", error.message());
  }
  // A save killed before its rename leaves a temporary file: it never looked like a
  // checkpoint, and it is garbage now.
  for (const auto& entry : std::filesystem::directory_iterator(directory_)) {
    const std::string name = entry.path().filename().string();
    const bool ours = name.starts_with("." + options_.prefix + "-") ||
                      name.starts_with("." + std::string(kManifest));
    if (ours && name.find(kTempMarker) != std::string::npos) {
      std::filesystem::remove(entry.path(), error);
    }
  }
  if (options_.keep_best > 0) {
    for (const CheckpointInfo& info : scan()) {
      try {
        const Value value = mnemo::load(info.path, {.map_location = MapLocation::keep_saved(),
                                              .mmap = true,
                                              .mmap_mode = MapMode::kReadOnly,
                                              .verify_crc = false});
        if (auto metric = metric_of(value)) metrics_.emplace_back(info.step, *metric);
      } catch (const Error&) {
        // An unreadable checkpoint has no metric; load_latest will say what is wrong.
      }
    }
  }
}

CheckpointManager::~CheckpointManager() {
  if (writer_.joinable()) writer_.join();
}

std::string CheckpointManager::file_name(std::int64_t step) const {
  MNEMO_CHECK(step >= 0, "checkpoint steps are >= 0, got ", step);
  char digits[32];
  std::snprintf(digits, sizeof(digits), "%09lld", static_cast<long long>(step));
  return options_.prefix + "-" + digits + std::string(kExtension);
}

std::optional<std::int64_t> CheckpointManager::step_of(const std::filesystem::path& file) const {
  const std::string name = file.filename().string();
  const std::string head = options_.prefix + "-";
  if (!name.starts_with(head) || !name.ends_with(kExtension)) return std::nullopt;
  const std::string_view digits(name.data() + head.size(),
                                name.size() - head.size() - kExtension.size());
  if (digits.size() < 9 || digits.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  std::int64_t step = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), step);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return step;
}

std::vector<CheckpointInfo> CheckpointManager::scan() const {
  std::vector<CheckpointInfo> found;
  for (const auto& entry : std::filesystem::directory_iterator(directory_)) {
    if (!entry.is_regular_file()) continue;
    if (auto step = step_of(entry.path())) {
      CheckpointInfo info{entry.path(), *step, std::nullopt};
      std::lock_guard lock(mutex_);
      for (const auto& [metric_step, metric] : metrics_) {
        if (metric_step == *step) info.metric = metric;
      }
      found.push_back(std::move(info));
    }
  }
  std::sort(found.begin(), found.end(),
            [](const CheckpointInfo& a, const CheckpointInfo& b) { return a.step < b.step; });
  return found;
}

std::vector<CheckpointInfo> CheckpointManager::list() const { return scan(); }

std::optional<double> CheckpointManager::metric_of(const Value& checkpoint) const {
  if (options_.metric.empty() || !checkpoint.is_dict()) return std::nullopt;
  const Value* metrics = checkpoint.as_dict().find(std::string("metrics"));
  if (!metrics || !metrics->is_dict()) return std::nullopt;
  const Value* metric = metrics->as_dict().find(options_.metric);
  if (!metric || !(metric->is_double() || metric->is_int())) return std::nullopt;
  const double value = metric->to_double();
  return std::isnan(value) ? std::nullopt : std::optional<double>(value);
}

void CheckpointManager::apply_retention(std::vector<CheckpointInfo>& checkpoints) const {
  std::set<std::int64_t> keep;
  for (std::size_t i = 0; i < checkpoints.size() &&
                          i < static_cast<std::size_t>(options_.keep_last); ++i) {
    keep.insert(checkpoints[checkpoints.size() - 1 - i].step);
  }
  std::vector<const CheckpointInfo*> ranked;
  for (const CheckpointInfo& info : checkpoints) {
    if (info.metric) ranked.push_back(&info);
  }
  // Best first; among equals, the newer.
  std::sort(ranked.begin(), ranked.end(), [&](const CheckpointInfo* a, const CheckpointInfo* b) {
    if (*a->metric != *b->metric) {
      return options_.mode == MetricMode::kMin ? *a->metric < *b->metric : *a->metric > *b->metric;
    }
    return a->step > b->step;
  });
  for (std::size_t i = 0; i < ranked.size() && i < static_cast<std::size_t>(options_.keep_best);
       ++i) {
    keep.insert(ranked[i]->step);
  }
  std::vector<CheckpointInfo> kept;
  for (CheckpointInfo& info : checkpoints) {
    if (keep.contains(info.step)) {
      kept.push_back(std::move(info));
    } else {
      std::error_code ignored;  // a file that cannot be removed now is retried next time
      std::filesystem::remove(info.path, ignored);
    }
  }
  checkpoints = std::move(kept);
}

void CheckpointManager::write_manifest(const std::vector<CheckpointInfo>& checkpoints) const {
  List entries;
  for (const CheckpointInfo& info : checkpoints) {
    entries.push_back(Dict{{"file", info.path.filename().string()},
                           {"step", info.step},
                           {"metric", info.metric ? Value(*info.metric) : Value(None{})}});
  }
  const Value manifest = Dict{
      {"format", "mnemo-checkpoints"},
      {"version", 1},
      {"metric", options_.metric.empty() ? Value(None{}) : Value(options_.metric)},
      {"latest", checkpoints.empty() ? Value(None{})
                                     : Value(checkpoints.back().path.filename().string())},
      {"checkpoints", entries}};
  const std::string text = to_json(manifest) + "\n";
  io::AtomicFileWriter file(directory_ / std::string(kManifest), {.fsync = options_.fsync});
  file.write(std::as_bytes(std::span(text)));
  file.commit();
}

std::filesystem::path CheckpointManager::write(std::int64_t step, const Value& checkpoint) {
  const std::filesystem::path path = directory_ / file_name(step);
  mnemo::save(checkpoint, path, {.fsync = options_.fsync});
  if (auto metric = metric_of(checkpoint)) {
    std::lock_guard lock(mutex_);
    std::erase_if(metrics_, [&](const auto& entry) { return entry.first == step; });
    metrics_.emplace_back(step, *metric);
  }
  std::vector<CheckpointInfo> checkpoints = scan();
  apply_retention(checkpoints);
  write_manifest(checkpoints);
  return path;
}

void CheckpointManager::join() {
  if (writer_.joinable()) writer_.join();
  if (writer_error_) {
    std::exception_ptr error = std::exchange(writer_error_, nullptr);
    std::rethrow_exception(error);
  }
}

std::filesystem::path CheckpointManager::save(std::int64_t step, const Value& checkpoint) {
  join();
  return write(step, checkpoint);
}

void CheckpointManager::save_async(std::int64_t step, const Value& checkpoint) {
  join();
  file_name(step);  // checks the step before the thread starts
  writer_ = std::thread([this, step, copy = snapshot(checkpoint)] {
    try {
      write(step, copy);
    } catch (...) {
      writer_error_ = std::current_exception();
    }
  });
}

void CheckpointManager::wait() { join(); }

std::optional<LoadedCheckpoint> CheckpointManager::load_latest(const LoadOptions& options) {
  join();
  std::vector<CheckpointInfo> checkpoints = scan();
  LoadOptions checked = options;
  checked.verify_crc = true;  // a damaged checkpoint must not pass for a sound one
  std::vector<std::string> skipped;
  for (auto it = checkpoints.rbegin(); it != checkpoints.rend(); ++it) {
    try {
      Value value = mnemo::load(it->path, checked);
      return LoadedCheckpoint{it->path, it->step, std::move(value), std::move(skipped)};
    } catch (const Error& e) {
      skipped.push_back(it->path.filename().string() + ": " + e.what());
    }
  }
  if (skipped.empty()) return std::nullopt;
  std::string reasons;
  for (const std::string& line : skipped) reasons += "\n  " + line;
  fail(ErrorCode::kCorrupt, "no checkpoint in '", directory_.string(),
       "' can be loaded:", reasons);
}

}  // namespace mnemo::checkpoint
