#include "io/bulk_read.h"

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <vector>

#include "io/iovec_advance.h"
#include "io/parallel_copy.h"

namespace mnemo::io {
namespace {

// Ranges up to kPieceBytes are read in runs of up to that size and at most this many
// ranges; larger ones in pieces of kPieceBytes.
constexpr std::size_t kMaxRunRanges = std::min<std::size_t>(IOV_MAX, 1024);

// Reads a run of ranges that follow each other in the file with as few preadv calls as
// it takes; whatever the calls do not deliver (the file shrank, an error) is left to
// read_at, which reports it.
void read_run(const ByteSource& source, std::span<const RangeRead> run) {
  const auto* file = dynamic_cast<const FileSource*>(&source);
  if (!file || run.size() == 1) {
    for (const RangeRead& r : run) source.read_at(r.offset, r.out);
    return;
  }
  std::vector<iovec> iov(run.size());
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < run.size(); ++i) {
    iov[i] = {run[i].out.data(), run[i].out.size()};
    total += run[i].out.size();
  }
  if (!source.contains(run.front().offset, total)) {
    for (const RangeRead& r : run) source.read_at(r.offset, r.out);  // reports the overrun
    return;
  }
  std::size_t next = 0;          // first range not yet complete
  std::uint64_t position = run.front().offset;
  while (next < iov.size()) {
    const ssize_t got = ::preadv(file->fd(), iov.data() + next, static_cast<int>(iov.size() - next),
                                 static_cast<off_t>(position));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    position += static_cast<std::uint64_t>(got);
    next = advance_iovecs(iov, next, static_cast<std::size_t>(got));
  }
  for (; next < iov.size(); ++next) {
    const RangeRead& r = run[next];
    const auto done = static_cast<std::size_t>(static_cast<std::byte*>(iov[next].iov_base) - r.out.data());
    source.read_at(r.offset + done, r.out.subspan(done));
  }
}

}  // namespace

void read_ranges(const ByteSource& source, std::span<const RangeRead> requests,
                 ProgressMeter* progress) {
  // In file order. Callers mostly ask in that order already, and then no copy is made: a
  // load of many small tensors has one request per tensor, and its peak memory counts.
  const auto by_offset = [](const RangeRead& a, const RangeRead& b) { return a.offset < b.offset; };
  std::vector<RangeRead> sorted_copy;
  std::span<const RangeRead> sorted = requests;
  if (!std::is_sorted(requests.begin(), requests.end(), by_offset)) {
    sorted_copy.assign(requests.begin(), requests.end());
    std::sort(sorted_copy.begin(), sorted_copy.end(), by_offset);
    sorted = sorted_copy;
  }
  struct Task {
    std::size_t first, last;              // a run: sorted[first, last)
    std::uint64_t begin = 0, length = 0;  // a piece of one large range (length > 0)
  };
  std::vector<Task> tasks;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const RangeRead& r = sorted[i];
    total += r.out.size();
    if (r.out.size() > kPieceBytes) {
      for (std::uint64_t at = 0; at < r.out.size(); at += kPieceBytes) {
        tasks.push_back({i, i + 1, at, std::min(kPieceBytes, r.out.size() - at)});
      }
      continue;
    }
    Task* run = tasks.empty() || tasks.back().length != 0 ? nullptr : &tasks.back();
    const RangeRead* previous = run ? &sorted[i - 1] : nullptr;
    if (run && run->last == i && previous->offset + previous->out.size() == r.offset &&
        run->last - run->first < kMaxRunRanges && run->begin + r.out.size() <= kPieceBytes) {
      run->last += 1;
      run->begin += r.out.size();  // a run's bytes so far
    } else if (!r.out.empty()) {
      tasks.push_back({i, i + 1, r.out.size(), 0});
    }
  }
  parallel_for(tasks.size(), threads_for(total), [&](std::size_t t) {
    const Task& task = tasks[t];
    if (task.length != 0) {
      const RangeRead& r = sorted[task.first];
      const std::span<std::byte> part = r.out.subspan(task.begin, task.length);
      prefault_for_write(part);
      source.read_at(r.offset + task.begin, part);
      if (progress) progress->add(task.length);
    } else {
      const auto run = sorted.subspan(task.first, task.last - task.first);
      read_run(source, run);
      if (progress) {
        for (const RangeRead& r : run) progress->add(r.out.size());
      }
    }
  });
}

}  // namespace mnemo::io
