// Generator: the seeded source of every random draw (initialisation, rand, randn,
// dropout). Its whole state is a few bytes that can be read and restored, so that a
// resumed run draws exactly the numbers an uninterrupted run would have drawn.
//
// The stream is Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC 2011): a counter-based generator whose state is (seed, counter), which
// makes saving and restoring it trivial. Its numbers are not PyTorch's (mt19937):
// mnemo never needs to reproduce PyTorch's random draws, only its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "mnemo/core/tensor.h"

namespace mnemo {

class Generator {
 public:
  static constexpr std::uint64_t kDefaultSeed = 67280421310721ULL;  // PyTorch's default seed
  static constexpr std::size_t kStateBytes = 32;

  explicit Generator(std::uint64_t seed = kDefaultSeed) { manual_seed(seed); }

  // Restarts the stream from `seed`.
  void manual_seed(std::uint64_t seed);
  std::uint64_t initial_seed() const { return seed_; }

  // The whole state: "MNPX", a format version, the seed, the block counter and the
  // position inside the current block, little-endian (kStateBytes bytes).
  std::vector<std::uint8_t> get_state() const;
  // Throws kInvalidArgument (saying what is wrong) for bytes get_state did not make.
  void set_state(std::span<const std::uint8_t> state);

  std::uint32_t next_u32();
  std::uint64_t next_u64();
  // Uniform on [0, 1): 24 random bits for float, 53 for double.
  float uniform_float();
  double uniform_double();
  // A standard normal draw (Box–Muller on two uniform doubles; the pair's second value
  // is discarded so that the state stays a plain counter).
  double normal();

  // Fills `out` with uniform values on [low, high) / normal values (mean, std).
  void fill_uniform(std::span<float> out, float low, float high);
  void fill_uniform(std::span<double> out, double low, double high);
  void fill_normal(std::span<float> out, double mean, double std);
  void fill_normal(std::span<double> out, double mean, double std);

 private:
  void refill();

  std::uint64_t seed_ = 0;
  std::uint64_t counter_ = 0;   // blocks generated so far
  std::uint32_t block_[4] = {};
  std::uint32_t position_ = 4;  // next unread word of block_; 4 means "empty"
};

// The process-wide generator used when none is given (like torch.manual_seed's).
Generator& default_generator();
void manual_seed(std::uint64_t seed);

// The default generator's whole state as a uint8 tensor, and back — what a training
// checkpoint stores as "rng_state", like torch.get_rng_state / torch.set_rng_state.
// set_rng_state throws kInvalidArgument (saying why) for a tensor get_rng_state did not make.
Tensor get_rng_state();
void set_rng_state(const Tensor& state);

}  // namespace mnemo
