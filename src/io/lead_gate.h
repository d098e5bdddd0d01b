// LeadGate: how far a helper thread may run ahead of the thread it works for.
//
// A save runs faster when the helper computing its CRCs reads each slice of the bytes
// just before the write copies it into the page cache, rather than as far ahead as it
// can: most likely the copy then finds the bytes in the CPU's caches, where, run free,
// the helper only competed with the write for the memory's bandwidth (the numbers are
// in zip_writer.cpp). The writing thread raises the gate as it goes; the helper waits
// below it, spinning a while first, since the gate usually rises within the time one
// slice takes to write. Private to the library.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace mnemo::io {

class LeadGate {
 public:
  // How long a waiting helper spins before it sleeps. A write of 1 MiB takes about
  // 100 us; a helper put to sleep and woken for each fell behind the writer (a 1 GiB
  // save in 125 ms against 118 spinning).
  static constexpr std::chrono::microseconds kSpin{200};

  explicit LeadGate(std::uint64_t bound) : bound_(bound) {}

  // Lets helpers pass every position below `bound` (a lower one changes nothing).
  void raise(std::uint64_t bound);

  // Waits until `position` is below the bound; false, without waiting longer, once
  // stop() is called.
  bool wait_below(std::uint64_t position);

  // Wakes the helpers and turns them back: wait_below() returns false from then on.
  void stop();
  bool stopped() const { return stopped_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> bound_;
  std::atomic<bool> stopped_{false};  // set under mutex_, as bound_ is raised
  std::mutex mutex_;
  std::condition_variable changed_;
};

}  // namespace mnemo::io
