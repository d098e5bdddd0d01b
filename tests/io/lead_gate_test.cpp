// LeadGate: a helper waits below a bound the writing thread raises, and is turned back by
// stop(). Each waiting helper runs on a detached thread and is waited for at most 10 s,
// so that a gate that never opens fails the test instead of hanging it.
#include "io/lead_gate.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <thread>

namespace mnemo::io {
namespace {

using namespace std::chrono_literals;

// Longer than LeadGate::kSpin, so that a waiting helper is asleep by then.
constexpr auto kPastTheSpin = 20ms;

// wait_below(position) on a thread of its own; the gate stays alive as long as it runs.
std::future<bool> wait_on_thread(const std::shared_ptr<LeadGate>& gate, std::uint64_t position) {
  std::promise<bool> result;
  std::future<bool> future = result.get_future();
  std::thread([gate, position, result = std::move(result)]() mutable {
    result.set_value(gate->wait_below(position));
  }).detach();
  return future;
}

TEST(LeadGateTest, PositionsBelowTheBoundPassAndALowerBoundChangesNothing) {
  LeadGate gate(5);
  EXPECT_TRUE(gate.wait_below(0));
  EXPECT_TRUE(gate.wait_below(4));
  gate.raise(3);
  EXPECT_TRUE(gate.wait_below(4));
  EXPECT_FALSE(gate.stopped());
}

TEST(LeadGateTest, RaisingTheBoundWakesAWaitingHelper) {
  const auto gate = std::make_shared<LeadGate>(5);
  std::future<bool> passed = wait_on_thread(gate, 7);
  EXPECT_EQ(passed.wait_for(kPastTheSpin), std::future_status::timeout);
  gate->raise(7);  // not yet past 7
  EXPECT_EQ(passed.wait_for(kPastTheSpin), std::future_status::timeout);
  gate->raise(8);
  ASSERT_EQ(passed.wait_for(10s), std::future_status::ready) << "the raise did not wake it";
  EXPECT_TRUE(passed.get());
}

TEST(LeadGateTest, StopTurnsWaitingHelpersBack) {
  const auto gate = std::make_shared<LeadGate>(0);
  std::future<bool> first = wait_on_thread(gate, 1);
  std::future<bool> second = wait_on_thread(gate, 9);
  std::this_thread::sleep_for(kPastTheSpin);
  gate->stop();
  ASSERT_EQ(first.wait_for(10s), std::future_status::ready) << "stop() did not wake it";
  ASSERT_EQ(second.wait_for(10s), std::future_status::ready) << "stop() did not wake it";
  EXPECT_FALSE(first.get());
  EXPECT_FALSE(second.get());
  EXPECT_TRUE(gate->stopped());
  EXPECT_FALSE(gate->wait_below(0)) << "a stopped gate passes no one";
}

}  // namespace
}  // namespace mnemo::io
