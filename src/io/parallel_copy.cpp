#include "io/parallel_copy.h"

#include <libdeflate.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace mnemo::io {
namespace {

// --- CRC-32 arithmetic -------------------------------------------------------------------
// A CRC-32 is the message, as a polynomial over GF(2), times x^32 modulo the generator P,
// with zip's bit order: bit 31 of a word holds the coefficient of x^0 (reflected). So the
// CRC of A followed by B (n bytes) is crc(A) * x^(8n) + crc(B) modulo P, and x^(8n) comes
// from the powers x^(2^k), by squaring.

constexpr std::uint32_t kReflectedPolynomial = 0xedb88320u;
constexpr std::uint32_t kOne = 0x80000000u;  // the polynomial 1 (x^0)

// a * b modulo P.
constexpr std::uint32_t multiply(std::uint32_t a, std::uint32_t b) {
  std::uint32_t product = 0;
  for (std::uint32_t bit = kOne; bit != 0; bit >>= 1) {
    if (a & bit) product ^= b;
    // b times x, reduced.
    b = (b & 1) ? (b >> 1) ^ kReflectedPolynomial : b >> 1;
  }
  return product;
}

// kPowers[k] = x^(2^k) modulo P.
constexpr std::array<std::uint32_t, 64> make_powers() {
  std::array<std::uint32_t, 64> powers{};
  powers[0] = kOne >> 1;  // x^1
  for (std::size_t k = 1; k < powers.size(); ++k) powers[k] = multiply(powers[k - 1], powers[k - 1]);
  return powers;
}
constexpr std::array<std::uint32_t, 64> kPowers = make_powers();

// x^(8 * bytes) modulo P.
std::uint32_t shift_for(std::uint64_t bytes) {
  std::uint32_t result = kOne;
  std::size_t k = 3;  // x^(8n) = x^(n * 2^3)
  while (bytes != 0) {
    if (bytes & 1) result = multiply(kPowers[k % kPowers.size()], result);
    bytes >>= 1;
    ++k;
  }
  return result;
}

// The block a fused copy moves before reading it back for the CRC: well inside L2.
constexpr std::size_t kFusedBlock = std::size_t{64} << 10;

// Smaller ranges are not worth a system call to populate.
constexpr std::size_t kMinPrefaultBytes = std::size_t{64} << 10;

// Below this, one thread copies; above, each thread gets at least this much.
constexpr std::uint64_t kBytesPerThread = std::uint64_t{4} << 20;

std::size_t available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return static_cast<std::size_t>(count);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

std::uint32_t crc32(std::span<const std::byte> bytes, std::uint32_t crc) {
  // libdeflate returns its initial value when given a null buffer, which an empty span
  // may well have: that would silently restart a running CRC.
  if (bytes.empty()) return crc;
  return libdeflate_crc32(crc, bytes.data(), bytes.size());
}

std::uint32_t crc32_combine(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t length_b) {
  return multiply(shift_for(length_b), crc_a) ^ crc_b;
}

std::uint32_t copy_with_crc32(std::span<std::byte> dst, std::span<const std::byte> src,
                              std::uint32_t crc) {
  const std::size_t n = std::min(dst.size(), src.size());
  for (std::size_t at = 0; at < n; at += kFusedBlock) {
    const std::size_t block = std::min(kFusedBlock, n - at);
    std::memcpy(dst.data() + at, src.data() + at, block);
    crc = libdeflate_crc32(crc, dst.data() + at, block);
  }
  return crc;
}

void prefault_for_write(std::span<std::byte> bytes) {
#ifdef MADV_POPULATE_WRITE
  if (bytes.size() < kMinPrefaultBytes) return;
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto address = reinterpret_cast<std::uintptr_t>(bytes.data());
  const std::uintptr_t begin = (address + page - 1) / page * page;
  const std::uintptr_t end = (address + bytes.size()) / page * page;
  if (end > begin) {
    // A failure (an older kernel, memory the kernel will not populate) only loses the
    // head start.
    (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
  }
#else
  (void)bytes;
#endif
}

void copy_in_pieces(std::span<const CopyRange> ranges, Destination destination) {
  std::vector<CopyRange> pieces;
  std::uint64_t total = 0;
  for (const CopyRange& range : ranges) {
    for (std::size_t at = 0; at < range.length; at += kPieceBytes) {
      pieces.push_back(
          {range.from + at, range.to + at, std::min<std::size_t>(kPieceBytes, range.length - at)});
    }
    total += range.length;
  }
  parallel_for(pieces.size(), threads_for(total), [&](std::size_t i) {
    const CopyRange& piece = pieces[i];
    if (destination == Destination::kFresh) prefault_for_write(std::span(piece.to, piece.length));
    std::memcpy(piece.to, piece.from, piece.length);
  });
}

std::size_t threads_for(std::uint64_t bytes) {
  static const std::size_t cpus = available_cpus();
  if (bytes < 2 * kBytesPerThread) return 1;
  return static_cast<std::size_t>(std::min<std::uint64_t>(cpus, bytes / kBytesPerThread));
}

void TaskShare::help() {
  std::unique_lock lock(mutex_);
  if (!work_) return;
  const std::function<void()>& work = *work_;
  ++helpers_;
  lock.unlock();
  work();
  lock.lock();
  if (--helpers_ == 0) done_.notify_all();
}

void parallel_for(std::size_t count, std::size_t threads,
                  const std::function<void(std::size_t)>& task, TaskShare* share) {
  threads = std::min(threads, count);
  if (threads <= 1 && !share) {
    for (std::size_t i = 0; i < count; ++i) task(i);
    return;
  }
  constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> first_failed{kNone};
  std::mutex mutex;
  std::exception_ptr error;
  std::size_t error_index = kNone;
  const auto work = [&]() noexcept {
    for (;;) {
      const std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
      // Tasks are claimed in order, so every task below a failed one has started: the
      // lowest failure is among those that run.
      if (i >= count || i > first_failed.load(std::memory_order_relaxed)) return;
      try {
        task(i);
      } catch (...) {
        const std::lock_guard lock(mutex);
        if (i < error_index) {
          error_index = i;
          error = std::current_exception();
          first_failed.store(i, std::memory_order_relaxed);
        }
      }
    }
  };
  const std::function<void()> shared_work = share ? std::function<void()>(work) : nullptr;
  if (share) {
    const std::lock_guard lock(share->mutex_);
    share->work_ = &shared_work;
  }
  std::vector<std::thread> helpers;
  helpers.reserve(threads > 1 ? threads - 1 : 0);
  for (std::size_t t = 1; t < threads; ++t) {
    try {
      helpers.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // no more threads to be had: the ones running (this one at least) do it all
    }
  }
  work();
  for (std::thread& helper : helpers) helper.join();
  if (share) {
    // No new helper from here on; the ones in work() finish the tasks they claimed, which
    // use this frame.
    std::unique_lock lock(share->mutex_);
    share->work_ = nullptr;
    share->done_.wait(lock, [&] { return share->helpers_ == 0; });
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace mnemo::io
