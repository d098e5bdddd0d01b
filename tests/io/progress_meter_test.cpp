// ProgressMeter: counts from many threads at once, reports in steps of about 1/500 of the
// total, never overlapping, never decreasing, never past the total, done == total once.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "io/progress_meter.h"
#include "mnemo/io/byte_sink.h"

namespace mnemo::io {
namespace {

struct Call {
  std::uint64_t done, total;
};

TEST(ProgressMeter, ManyThreadsGiveOrderedBoundedReports) {
  constexpr std::uint64_t kThreads = 8, kAdds = 20000;
  std::vector<Call> calls;
  std::atomic<int> inside{0};
  const ProgressMeter::Function report = [&](std::uint64_t done, std::uint64_t total) {
    EXPECT_EQ(inside.fetch_add(1), 0) << "overlapping calls";
    calls.push_back({done, total});
    inside.fetch_sub(1);
  };
  ProgressMeter meter(report, kThreads * kAdds);
  std::vector<std::thread> threads;
  for (std::uint64_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (std::uint64_t i = 0; i < kAdds; ++i) meter.add(1);
    });
  }
  for (std::thread& thread : threads) thread.join();
  meter.finish();
  meter.finish();  // nothing more

  ASSERT_FALSE(calls.empty());
  EXPECT_LE(calls.size(), 501u);
  EXPECT_GE(calls.size(), 400u);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].total, kThreads * kAdds);
    if (i > 0) {
      EXPECT_GT(calls[i].done, calls[i - 1].done) << i;
    }
  }
  EXPECT_EQ(calls.back().done, kThreads * kAdds);
}

TEST(ProgressMeter, DoneIsCappedAtTheTotal) {
  std::vector<Call> calls;
  const ProgressMeter::Function report = [&](std::uint64_t done, std::uint64_t total) {
    calls.push_back({done, total});
  };
  ProgressMeter meter(report, 100);
  meter.add(60);
  meter.add(80);  // more than the total: a save's zip headers
  meter.add(10);
  meter.finish();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].done, 60u);
  EXPECT_EQ(calls[1].done, 100u);
}

TEST(ProgressMeter, WithoutAFunctionNothingIsCounted) {
  const ProgressMeter::Function none;
  ProgressMeter meter(none, 100);
  EXPECT_FALSE(meter.active());
  meter.add(100);
  meter.finish();
}

TEST(MeteredSink, WritesTheSameBytesInSlicesCountingThem) {
  std::vector<std::uint64_t> reported;
  const ProgressMeter::Function report = [&](std::uint64_t done, std::uint64_t) {
    reported.push_back(done);
  };
  std::vector<std::byte> big(std::size_t{40} << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::byte>(i * 7);
  const std::byte small[3] = {std::byte{1}, std::byte{2}, std::byte{3}};
  const ConstBytes pieces[] = {ConstBytes(small), ConstBytes(big), ConstBytes(small)};

  MemorySink plain;
  plain.write(pieces);
  MemorySink target;
  ProgressMeter meter(report, big.size() + 6);
  MeteredSink metered(target, meter);
  metered.write(pieces);
  EXPECT_EQ(target.bytes(), plain.bytes());
  EXPECT_EQ(metered.position(), plain.position());
  // 16 MiB slices: reports at 16, 32 and 40 MiB + 6 bytes.
  ASSERT_EQ(reported.size(), 3u);
  EXPECT_EQ(reported.back(), big.size() + 6);
}

}  // namespace
}  // namespace mnemo::io
