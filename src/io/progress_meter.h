// Progress of bulk reads and writes, reported to a caller's function (LoadOptions::
// progress and the like) as bytes done of a total: counted from any thread, reported in
// visible steps, calls never overlapping, done never decreasing nor passing the total.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>

#include "mnemo/io/byte_sink.h"

namespace mnemo::io {

class ProgressMeter {
 public:
  using Function = std::function<void(std::uint64_t done, std::uint64_t total)>;

  // `report` may be empty: then nothing is counted.
  ProgressMeter(Function report, std::uint64_t total);
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;

  bool active() const { return static_cast<bool>(report_); }
  // Counts `bytes` more done; reports when done has grown by a step since the last
  // report. Safe to call from several threads at once. Rethrows what the function throws.
  void add(std::uint64_t bytes) {
    if (!report_) return;
    const std::uint64_t done = done_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    if (done >= next_report_.load(std::memory_order_relaxed)) report(false);
  }
  // Reports done == total, unless that was reported already.
  void finish() {
    if (report_) report(true);
  }

 private:
  void report(bool final);

  const Function report_;
  const std::uint64_t total_;
  const std::uint64_t step_;
  std::atomic<std::uint64_t> done_{0};
  std::atomic<std::uint64_t> next_report_;
  std::mutex mutex_;
  std::uint64_t reported_ = 0;
  bool finished_ = false;
};

// A sink that counts the bytes written through it into a meter, writing large pieces in
// slices so that the count moves while a big tensor goes out.
class MeteredSink : public ByteSink {
 public:
  MeteredSink(ByteSink& sink, ProgressMeter& meter) : sink_(sink), meter_(meter) {}

  void write(std::span<const ConstBytes> pieces) override;
  using ByteSink::write;
  std::uint64_t position() const override { return sink_.position(); }
  void reserve(std::uint64_t bytes) override { sink_.reserve(bytes); }

 private:
  ByteSink& sink_;
  ProgressMeter& meter_;
};

}  // namespace mnemo::io
