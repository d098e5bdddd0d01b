#include "io/parallel_copy.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/bytes.h"
#include "support/resident.h"

namespace mnemo::io {
namespace {

using testing::FreshPages;
using testing::kernel_populates_for_write;
using testing::page_size;
using testing::pattern;
using testing::resident_pages;

TEST(Crc32Test, MatchesKnownValues) {
  const std::string text = "123456789";
  EXPECT_EQ(crc32(std::as_bytes(std::span(text))), 0xcbf43926u);  // the CRC-32 check value
  EXPECT_EQ(crc32({}), 0u);
  EXPECT_EQ(crc32({}, 0x1234u), 0x1234u);  // an empty piece keeps a running CRC
}

TEST(Crc32Test, CombineJoinsPiecesAtEverySplit) {
  const auto bytes = pattern(3000);
  const std::uint32_t whole = crc32(bytes);
  for (std::size_t split : {0u, 1u, 2u, 7u, 64u, 1000u, 2999u, 3000u}) {
    const std::span<const std::byte> a(bytes.data(), split), b(bytes.data() + split, 3000 - split);
    EXPECT_EQ(crc32_combine(crc32(a), crc32(b), b.size()), whole) << split;
  }
}

TEST(Crc32Test, CombineHandlesLongSecondPieces) {
  // Lengths past 2^32 bytes exercise every power the combination uses; the CRC of n zero
  // bytes after A is A's CRC shifted, whatever n is, and combining with a zero CRC of a
  // zero-length piece changes nothing.
  const auto a = pattern(100);
  const std::uint32_t crc_a = crc32(a);
  EXPECT_EQ(crc32_combine(crc_a, 0, 0), crc_a);
  const std::vector<std::byte> zeros(5000);
  EXPECT_EQ(crc32_combine(crc_a, crc32(zeros), zeros.size()), crc32(zeros, crc_a));
  // Associativity over three pieces, one of them long enough for the high powers.
  const std::uint64_t big = (std::uint64_t{1} << 33) + 12345;
  const std::uint32_t x = 0x12345678u, y = 0x9abcdef0u, z = 0x0f1e2d3cu;
  EXPECT_EQ(crc32_combine(crc32_combine(x, y, big), z, 77),
            crc32_combine(x, crc32_combine(y, z, 77), big + 77));
}

TEST(CopyWithCrc32Test, CopiesAndChecksAcrossBlocks) {
  for (std::size_t n : {0u, 1u, 65535u, 65536u, 65537u, 300000u}) {
    const auto src = pattern(n, static_cast<unsigned>(n));
    std::vector<std::byte> dst(n);
    EXPECT_EQ(copy_with_crc32(dst, src, 0), crc32(src)) << n;
    EXPECT_EQ(dst, src) << n;
    EXPECT_EQ(copy_with_crc32(dst, src, 0xabcdu), crc32(src, 0xabcdu)) << n;
  }
}

TEST(CopyInPiecesTest, MakesEveryCopyWholeWhateverItsLength) {
  // Lengths around the piece size, and enough bytes in all for several threads; each copy
  // reads from its own place in the source, so a piece copied from the wrong offset shows.
  const std::size_t lengths[] = {0, 1, kPieceBytes - 1, kPieceBytes, 2 * kPieceBytes + 13, 4097};
  std::size_t total = 0;
  for (std::size_t n : lengths) total += n;
  const auto source = pattern(total);
  for (const Destination kind : {Destination::kFresh, Destination::kInUse}) {
    std::vector<std::byte> destination(total);
    std::vector<CopyRange> ranges;
    std::size_t at = 0;
    for (std::size_t n : lengths) {
      ranges.push_back({source.data() + at, destination.data() + at, n});
      at += n;
    }
    copy_in_pieces(ranges, kind);
    EXPECT_EQ(destination, source);
  }
  copy_in_pieces({}, Destination::kFresh);  // nothing to copy is fine
}

TEST(ParallelForTest, RunsEveryTaskOnceOnAnyNumberOfThreads) {
  for (std::size_t threads : {1u, 2u, 3u, 8u}) {
    std::vector<std::atomic<int>> runs(1000);
    parallel_for(runs.size(), threads, [&](std::size_t i) { runs[i].fetch_add(1); });
    for (std::size_t i = 0; i < runs.size(); ++i) ASSERT_EQ(runs[i].load(), 1) << i << " " << threads;
  }
  parallel_for(0, 4, [](std::size_t) { FAIL(); });
}

TEST(ParallelForTest, RethrowsTheLowestFailedTask) {
  for (std::size_t threads : {1u, 2u, 4u}) {
    for (int rep = 0; rep < 20; ++rep) {
      try {
        parallel_for(200, threads, [](std::size_t i) {
          if (i == 37 || i == 38 || i == 150) throw std::runtime_error(std::to_string(i));
        });
        FAIL() << "nothing thrown";
      } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "37") << threads;
      }
    }
  }
}

// Waits until `ready` holds, for 10 s at most: a helper that never comes fails the test
// instead of hanging it.
template <class Ready>
void wait_until(Ready ready) {
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!ready() && std::chrono::steady_clock::now() < limit) std::this_thread::yield();
}

// A loop on one thread of its own, joined by the test's thread through a TaskShare once
// its first task runs: what a .pt load does with its early read when its parse is done.
// Task 0 waits until the helper has run a task, so that both surely take part.
TEST(TaskShareTest, AHelperTakesTasksOfTheRunningLoop) {
  TaskShare share;
  std::vector<std::atomic<int>> runs(64);
  std::atomic<int> by_helper{0};
  std::atomic<bool> started{false};
  const std::thread::id helper_id = std::this_thread::get_id();
  std::thread loop([&] {
    parallel_for(
        runs.size(), 1,
        [&](std::size_t i) {
          if (i == 0) {
            started = true;
            wait_until([&] { return by_helper > 0; });
          }
          runs[i].fetch_add(1);
          if (std::this_thread::get_id() == helper_id) by_helper.fetch_add(1);
        },
        &share);
  });
  while (!started) std::this_thread::yield();
  share.help();
  loop.join();
  for (std::size_t i = 0; i < runs.size(); ++i) ASSERT_EQ(runs[i].load(), 1) << i;
  EXPECT_GT(by_helper.load(), 0);
  EXPECT_LT(by_helper.load(), 64);  // task 0 ran on the loop's thread
}

TEST(TaskShareTest, HelpReturnsAtOnceWhenNoLoopRuns) {
  TaskShare share;
  share.help();  // before any loop
  int runs = 0;
  parallel_for(
      10, 1, [&](std::size_t) { ++runs; }, &share);
  EXPECT_EQ(runs, 10);
  share.help();  // after it: nothing left to run
  EXPECT_EQ(runs, 10);
}

// A task that fails on the helper's thread fails the loop, which rethrows it: task 0
// waits on the loop's thread until the helper's first task (task 1) has failed.
TEST(TaskShareTest, AFailureInAHelpersTaskIsTheLoops) {
  TaskShare share;
  std::atomic<bool> started{false};
  std::atomic<bool> failed{false};
  const std::thread::id helper_id = std::this_thread::get_id();
  std::string caught;
  std::thread loop([&] {
    try {
      parallel_for(
          100, 1,
          [&](std::size_t i) {
            if (i == 0) {
              started = true;
              wait_until([&] { return failed.load(); });
            }
            if (std::this_thread::get_id() == helper_id) {
              failed = true;
              throw std::runtime_error(std::to_string(i));
            }
          },
          &share);
    } catch (const std::runtime_error& e) {
      caught = e.what();
    }
  });
  while (!started) std::this_thread::yield();
  share.help();  // does not throw: the loop does
  loop.join();
  EXPECT_EQ(caught, "1");
}

TEST(ThreadsForTest, OneThreadForSmallWorkSeveralForLarge) {
  EXPECT_EQ(threads_for(0), 1u);
  EXPECT_EQ(threads_for(1 << 20), 1u);
  EXPECT_GE(threads_for(std::uint64_t{1} << 30), 1u);
}

TEST(PrefaultTest, BacksTheWholePagesInsideTheRange) {
  FreshPages memory(64);
  const std::size_t page = page_size();
  // Unaligned ends: the partial first and last pages are left to the copy.
  const std::span<std::byte> range = memory.bytes().subspan(100, 64 * page - 200);
  ASSERT_EQ(resident_pages(memory.bytes()), 0u);
  prefault_for_write(range);
  if (kernel_populates_for_write()) {
    EXPECT_EQ(resident_pages(memory.bytes()), 62u);
    EXPECT_EQ(resident_pages(memory.bytes().first(page)), 0u);
    EXPECT_EQ(resident_pages(memory.bytes().last(page)), 0u);
  } else {
    EXPECT_EQ(resident_pages(memory.bytes()), 0u);
  }
  for (const std::byte b : memory.bytes()) ASSERT_EQ(b, std::byte{0});
}

TEST(PrefaultTest, KeepsWhatTheMemoryHolds) {
  FreshPages memory(32);
  const std::size_t page = page_size();
  const auto bytes = pattern(3 * page);
  std::copy(bytes.begin(), bytes.end(), memory.bytes().begin() + 5 * page + 7);
  prefault_for_write(memory.bytes());
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), memory.bytes().begin() + 5 * page + 7));
  if (kernel_populates_for_write()) {
    EXPECT_EQ(resident_pages(memory.bytes()), 32u);
  }
}

TEST(PrefaultTest, LeavesSmallRangesToTheCopy) {
  // A system call for a few pages would cost about what it saves.
  const std::size_t pages = (std::size_t{64} << 10) / page_size() - 1;
  FreshPages memory(pages);
  prefault_for_write(memory.bytes());
  EXPECT_EQ(resident_pages(memory.bytes()), 0u);
}

}  // namespace
}  // namespace mnemo::io
