#include "io/progress_meter.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace mnemo::io {
namespace {

// About this many reports over a whole operation, so that a load of 100,000 small
// tensors does not call the function 100,000 times.
constexpr std::uint64_t kReports = 500;
// A write is cut into slices of at most this many bytes, each counted when it is out.
constexpr std::uint64_t kSlice = std::uint64_t{16} << 20;

}  // namespace

ProgressMeter::ProgressMeter(Function report, std::uint64_t total)
    : report_(std::move(report)),
      total_(total),
      step_(std::max<std::uint64_t>(total / kReports, 1)),
      next_report_(step_) {}

void ProgressMeter::report(bool final) {
  const std::lock_guard lock(mutex_);
  if (finished_) return;
  const std::uint64_t done =
      final ? total_ : std::min(done_.load(std::memory_order_relaxed), total_);
  if (!final && done < reported_ + step_) return;  // another thread reported it already
  if (done == total_) finished_ = true;
  reported_ = done;
  next_report_.store(done + step_, std::memory_order_relaxed);
  report_(done, total_);
}

void MeteredSink::write(std::span<const ConstBytes> pieces) {
  std::vector<ConstBytes> slice;
  std::uint64_t slice_bytes = 0;
  const auto flush = [&] {
    if (slice.empty()) return;
    sink_.write(slice);
    meter_.add(slice_bytes);
    slice.clear();
    slice_bytes = 0;
  };
  for (ConstBytes piece : pieces) {
    while (!piece.empty()) {
      const auto take = static_cast<std::size_t>(
          std::min<std::uint64_t>(piece.size(), kSlice - slice_bytes));
      slice.push_back(piece.first(take));
      slice_bytes += take;
      piece = piece.subspan(take);
      if (slice_bytes == kSlice) flush();
    }
  }
  flush();
}

}  // namespace mnemo::io
