// A one-line progress bar on a terminal ("train [#####.....] 45% 423/938 loss 0.41
// ETA 0:12"), redrawn at most ten times a second. When the stream is not a terminal it
// draws nothing: callers print plain lines instead (see enabled()).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace mnemo::tools {

class ProgressBar {
 public:
  // Enabled when `out` is a terminal and `quiet` is false.
  ProgressBar(std::string label, std::uint64_t total, std::FILE* out = stderr, bool quiet = false);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  bool enabled() const { return enabled_; }
  // Redraws with `done` of `total` complete and `status` after the counts.
  void update(std::uint64_t done, std::string_view status = {});
  // Draws the final state and ends the line.
  void finish(std::string_view status = {});

 private:
  void draw(std::uint64_t done, std::string_view status);

  std::string label_;
  std::uint64_t total_;
  std::FILE* out_;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// "1:05", "2:03:04".
std::string format_duration(double seconds);

}  // namespace mnemo::tools
