#include "io/lead_gate.h"

namespace mnemo::io {
namespace {

// Tells the CPU this thread is spinning (x86 PAUSE, ARM YIELD).
void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until `done()` or `limit` has passed; whether done.
template <class Done>
bool spin_until(Done done, std::chrono::microseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    for (int i = 0; i < 64; ++i) cpu_relax();
    if (std::chrono::steady_clock::now() > deadline) return done();
  }
  return true;
}

}  // namespace

void LeadGate::raise(std::uint64_t bound) {
  if (bound <= bound_.load(std::memory_order_relaxed)) return;
  {
    // Under the lock, so that a helper between its check and its sleep sees it.
    const std::lock_guard lock(mutex_);
    if (bound <= bound_.load(std::memory_order_relaxed)) return;
    bound_.store(bound, std::memory_order_relaxed);
  }
  changed_.notify_all();
}

bool LeadGate::wait_below(std::uint64_t position) {
  const auto passable = [&] {
    return stopped_.load(std::memory_order_relaxed) ||
           position < bound_.load(std::memory_order_relaxed);
  };
  if (!spin_until(passable, kSpin)) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, passable);
  }
  return !stopped_.load(std::memory_order_relaxed);
}

void LeadGate::stop() {
  {
    const std::lock_guard lock(mutex_);
    stopped_.store(true, std::memory_order_relaxed);
  }
  changed_.notify_all();
}

}  // namespace mnemo::io
