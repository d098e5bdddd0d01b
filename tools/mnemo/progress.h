// Progress for the CLI's long work, on stderr and only when stderr is a terminal: never in
// pipes, logs or tests, and never with --quiet. Two kinds, so that nothing is faked:
//  - Progress: a bar for work the CLI does itself and can count (bytes compared, bytes
//    converted), shown only when there is enough of it to take a noticeable time;
//  - Status: one line naming work that happens inside a single library call (loading,
//    writing, verifying a file), which reports no progress of its own. It is erased when
//    the work ends.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "progress_bar.h"

namespace mnemo::cli {

// Work below this many bytes finishes too fast for a bar to help.
inline constexpr std::uint64_t kProgressMinBytes = std::uint64_t{64} << 20;

// True when progress may be drawn: stderr is a terminal and --quiet was not given.
bool progress_allowed(bool quiet);

class Progress {
 public:
  // A bar labelled `label` over `total_bytes`, counted in MiB.
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

class Status {
 public:
  // Shows "text..." on stderr until destroyed.
  Status(const std::string& text, bool quiet);
  ~Status();
  Status(const Status&) = delete;
  Status& operator=(const Status&) = delete;

 private:
  bool shown_;
};

}  // namespace mnemo::cli
