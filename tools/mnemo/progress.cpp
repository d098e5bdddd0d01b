#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace mnemo::cli {
namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

std::uint64_t mebibytes(std::uint64_t bytes) { return (bytes + kMiB - 1) / kMiB; }

}  // namespace

bool progress_allowed(bool quiet) { return !quiet && ::isatty(::fileno(stderr)) != 0; }

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

Status::Status(const std::string& text, bool quiet) : shown_(progress_allowed(quiet)) {
  if (!shown_) return;
  std::fprintf(stderr, "\r\033[K%s...", text.c_str());
  std::fflush(stderr);
}

Status::~Status() {
  if (!shown_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
}

}  // namespace mnemo::cli
