// The building blocks of bulk reads and writes: CRC-32 that is computed in pieces and
// combined, a copy fused with its CRC, and work spread over the machine's cores.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>

namespace mnemo::io {

// CRC-32 (zip's polynomial) of `bytes`, continuing from `crc` (0 to start).
std::uint32_t crc32(std::span<const std::byte> bytes, std::uint32_t crc = 0);

// The CRC-32 of A followed by B, from crc(A), crc(B) and B's length: lets pieces of one
// record be checked on different threads.
std::uint32_t crc32_combine(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t length_b);

// Copies `src` to `dst` (same size, not overlapping) and returns the CRC-32 of the bytes
// continuing from `crc`, reading each byte from memory once: the copy goes in blocks
// small enough that the CRC reads them back from the cache.
std::uint32_t copy_with_crc32(std::span<std::byte> dst, std::span<const std::byte> src,
                              std::uint32_t crc);

// Faults in the whole pages inside `bytes` for writing, as first writes to them would,
// with one system call. A copy into fresh memory spends more time in the kernel's page
// faults than in copying; populating a range at once costs the kernel about a third of
// faulting its pages one by one. Does nothing where the kernel cannot (before Linux
// 5.14): the copy then faults the pages in as before. Ranges under 64 KiB are left to
// the copy too, since a system call each would cost about what it saves.
void prefault_for_write(std::span<std::byte> bytes);

// The piece a large buffer is filled in, each on one thread: a huge page (2 MiB on x86),
// so that two threads never populate the same one, since large buffers start on one
// (Storage::allocate_for_fill); and large enough that a read or a task costs little.
inline constexpr std::uint64_t kPieceBytes = std::uint64_t{2} << 20;

// One copy: `length` bytes from `from` to `to`, which do not overlap.
struct CopyRange {
  const std::byte* from;
  std::byte* to;
  std::size_t length;
};

// What the destinations of copy_in_pieces are: fresh memory, whose pages are populated
// at once before each piece is copied (cheaper than faulting them in one by one), or
// memory already in use, where populating would only walk pages that are there.
enum class Destination { kFresh, kInUse };

// Makes every copy, cut into kPieceBytes pieces spread over the cores. Pieces are cut
// from the start of each range, so a range that starts on a huge page (as large buffers
// from Storage::allocate_for_fill do) is filled one huge page per piece.
void copy_in_pieces(std::span<const CopyRange> ranges, Destination destination);

// How many threads work on `bytes` of copying: 1 below a few MiB (a thread costs more
// than it saves there), else up to the cores the process may run on.
std::size_t threads_for(std::uint64_t bytes);

// Lets a thread outside a parallel_for take part in it once it has time: a load that
// reads its records on a second thread while it parses helps read the rest when the
// parse is done, instead of waiting. One loop at a time is given a share.
class TaskShare {
 public:
  // Runs tasks of the parallel_for given this share, alongside its own threads, until
  // none is left to claim. Returns at once when that loop is not running (not yet, or
  // no more). A task's exception goes to the loop, which rethrows it as its own.
  void help();

 private:
  friend void parallel_for(std::size_t, std::size_t, const std::function<void(std::size_t)>&,
                           TaskShare*);
  std::mutex mutex_;
  std::condition_variable done_;
  const std::function<void()>* work_ = nullptr;  // the running loop's worker
  std::size_t helpers_ = 0;                      // threads in help() running it
};

// Runs task(i) for every i in [0, count), each once, on up to `threads` threads (the
// calling one included), tasks claimed in increasing order; threads that call
// share->help() meanwhile claim tasks too. When tasks throw, the tasks not yet started
// are skipped, the running ones finish, and the exception of the lowest-numbered failed
// task is rethrown: the same error whatever the timing.
void parallel_for(std::size_t count, std::size_t threads,
                  const std::function<void(std::size_t)>& task, TaskShare* share = nullptr);

}  // namespace mnemo::io
