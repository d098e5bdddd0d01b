#include "progress.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace mnemo::cli {
namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

std::uint64_t mebibytes(std::uint64_t bytes) { return (bytes + kMiB - 1) / kMiB; }

}  // namespace

bool progress_allowed(bool quiet) { return !quiet && ::isatty(::fileno(stderr)) != 0; }

std::string bar_label(std::string_view action, const std::string& path) {
  return std::string(action) + " " + std::filesystem::path(path).filename().string();
}

Progress::Progress(std::string label, std::uint64_t total_bytes, bool quiet) {
  if (total_bytes >= kProgressMinBytes && progress_allowed(quiet)) {
    bar_.emplace(std::move(label), mebibytes(total_bytes), stderr, quiet);
  }
}

void Progress::advance(std::uint64_t bytes) {
  done_ += bytes;
  // Whole MiB done, so that the bar never shows more than is finished.
  if (bar_) bar_->update(done_ / kMiB, "MiB");
}

void Progress::finish() {
  if (bar_) bar_->finish("MiB");
}

CallProgress::CallProgress(std::string label, bool quiet)
    : label_(std::move(label)), allowed_(progress_allowed(quiet)) {}

ProgressFunction CallProgress::function() {
  if (!allowed_) return {};
  return [this](std::uint64_t done, std::uint64_t total) { report(done, total); };
}

void CallProgress::report(std::uint64_t done, std::uint64_t total) {
  if (!bar_ && done < total && total >= kProgressMinBytes) {
    bar_.emplace(label_, mebibytes(total), stderr, /*quiet=*/false);
  }
  if (!bar_) return;
  if (done == total) {
    bar_->finish("MiB");
  } else {
    bar_->update(done / kMiB, "MiB");
  }
}

Value load_to_look_at(const std::string& file, bool quiet) {
  CallProgress progress(bar_label("reading", file), quiet);
  return load(file, {.map_location = MapLocation::keep_saved(),
                     .mmap = true,
                     .mmap_mode = MapMode::kReadOnly,
                     .progress = progress.function()});
}

}  // namespace mnemo::cli
