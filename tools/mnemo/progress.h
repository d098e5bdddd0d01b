// Progress for the CLI's long work, on stderr and only when stderr is a terminal: never in
// pipes, logs or tests, and never with --quiet. Bars count MiB and appear only for work
// large enough to take a noticeable time:
//  - Progress: work the CLI does itself and counts (bytes compared, bytes converted);
//  - CallProgress: work inside one library call (a load, a save, a verify), counted by
//    the library through the call's progress function.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mnemo/serialize.h"
#include "progress_bar.h"

namespace mnemo::cli {

// Work below this many bytes finishes too fast for a bar to help.
inline constexpr std::uint64_t kProgressMinBytes = std::uint64_t{64} << 20;

// True when progress may be drawn: stderr is a terminal and --quiet was not given.
bool progress_allowed(bool quiet);

// "reading model.pt": what a bar about `path` says, its folders left out.
std::string bar_label(std::string_view action, const std::string& path);

class Progress {
 public:
  // A bar labelled `label` over `total_bytes`.
  Progress(std::string label, std::uint64_t total_bytes, bool quiet);
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(std::uint64_t bytes);
  // Draws the final state; a bar that was never shown stays unshown.
  void finish();

 private:
  std::optional<tools::ProgressBar> bar_;
  std::uint64_t done_ = 0;
};

class CallProgress {
 public:
  CallProgress(std::string label, bool quiet);
  CallProgress(const CallProgress&) = delete;
  CallProgress& operator=(const CallProgress&) = delete;

  // For LoadOptions::progress and the like: draws the bar from the first report that
  // leaves work to do (an mmap load that reads nothing shows none). Empty when progress
  // may not be drawn, so that the library does not count. Must not outlive this object.
  ProgressFunction function();

 private:
  void report(std::uint64_t done, std::uint64_t total);

  std::string label_;
  bool allowed_;
  std::optional<tools::ProgressBar> bar_;
};

// Loads `file` as inspect and diff look at it: mapped read-only (which reads nothing yet),
// every saved device tag kept; with a bar when the format must be read in full (legacy).
Value load_to_look_at(const std::string& file, bool quiet);

}  // namespace mnemo::cli
