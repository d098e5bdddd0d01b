#include "mnemo/core/generator.h"

#include <cmath>
#include <cstring>
#include <numbers>

#include "mnemo/core/error.h"

namespace mnemo {
namespace {

constexpr std::uint32_t kMultiplier0 = 0xD2511F53u;
constexpr std::uint32_t kMultiplier1 = 0xCD9E8D57u;
constexpr std::uint32_t kWeyl0 = 0x9E3779B9u;
constexpr std::uint32_t kWeyl1 = 0xBB67AE85u;
constexpr char kStateMagic[4] = {'M', 'N', 'P', 'X'};
constexpr std::uint32_t kStateVersion = 1;

void put_u64(std::uint8_t* out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint64_t get_u64(const std::uint8_t* in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(in[i]) << (8 * i);
  return v;
}

}  // namespace

void Generator::manual_seed(std::uint64_t seed) {
  seed_ = seed;
  counter_ = 0;
  position_ = 4;
}

void Generator::refill() {
  std::uint32_t ctr[4] = {static_cast<std::uint32_t>(counter_),
                          static_cast<std::uint32_t>(counter_ >> 32), 0u, 0u};
  std::uint32_t key[2] = {static_cast<std::uint32_t>(seed_),
                          static_cast<std::uint32_t>(seed_ >> 32)};
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = static_cast<std::uint64_t>(kMultiplier0) * ctr[0];
    const std::uint64_t p1 = static_cast<std::uint64_t>(kMultiplier1) * ctr[2];
    const std::uint32_t next[4] = {
        static_cast<std::uint32_t>(p1 >> 32) ^ ctr[1] ^ key[0], static_cast<std::uint32_t>(p1),
        static_cast<std::uint32_t>(p0 >> 32) ^ ctr[3] ^ key[1], static_cast<std::uint32_t>(p0)};
    std::memcpy(ctr, next, sizeof(ctr));
    key[0] += kWeyl0;
    key[1] += kWeyl1;
  }
  std::memcpy(block_, ctr, sizeof(block_));
  ++counter_;
  position_ = 0;
}

std::uint32_t Generator::next_u32() {
  if (position_ >= 4) refill();
  return block_[position_++];
}

std::uint64_t Generator::next_u64() {
  const std::uint64_t low = next_u32();
  return (static_cast<std::uint64_t>(next_u32()) << 32) | low;
}

float Generator::uniform_float() {
  return static_cast<float>(next_u32() >> 8) * 0x1.0p-24f;
}

double Generator::uniform_double() {
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

double Generator::normal() {
  const double u1 = 1.0 - uniform_double();  // (0, 1]: log is finite
  const double u2 = uniform_double();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

void Generator::fill_uniform(std::span<float> out, float low, float high) {
  const float range = high - low;
  for (float& v : out) v = low + uniform_float() * range;
}

void Generator::fill_uniform(std::span<double> out, double low, double high) {
  const double range = high - low;
  for (double& v : out) v = low + uniform_double() * range;
}

void Generator::fill_normal(std::span<float> out, double mean, double std) {
  for (float& v : out) v = static_cast<float>(mean + std * normal());
}

void Generator::fill_normal(std::span<double> out, double mean, double std) {
  for (double& v : out) v = mean + std * normal();
}

std::vector<std::uint8_t> Generator::get_state() const {
  std::vector<std::uint8_t> state(kStateBytes);
  std::memcpy(state.data(), kStateMagic, 4);
  state[4] = static_cast<std::uint8_t>(kStateVersion);
  put_u64(state.data() + 8, seed_);
  put_u64(state.data() + 16, counter_);
  put_u64(state.data() + 24, position_);
  return state;
}

void Generator::set_state(std::span<const std::uint8_t> state) {
  if (state.size() != kStateBytes) {
    fail(ErrorCode::kInvalidArgument, "generator state must be ", kStateBytes,
         " bytes, got ", state.size());
  }
  if (std::memcmp(state.data(), kStateMagic, 4) != 0) {
    fail(ErrorCode::kInvalidArgument,
         "generator state does not start with \"MNPX\": not a mnemo generator state");
  }
  if (state[4] != kStateVersion || state[5] != 0 || state[6] != 0 || state[7] != 0) {
    fail(ErrorCode::kInvalidArgument, "generator state has version ", int(state[4]),
         ", expected ", kStateVersion);
  }
  const std::uint64_t position = get_u64(state.data() + 24);
  const std::uint64_t counter = get_u64(state.data() + 16);
  if (position > 4 || (position < 4 && counter == 0)) {
    fail(ErrorCode::kInvalidArgument, "generator state has block position ", position,
         " with counter ", counter, ": inconsistent");
  }
  seed_ = get_u64(state.data() + 8);
  counter_ = counter;
  position_ = static_cast<std::uint32_t>(position);
  if (position_ < 4) {
    // Regenerate the partly read block.
    const std::uint32_t keep = position_;
    --counter_;
    refill();
    position_ = keep;
  }
}

Generator& default_generator() {
  static Generator generator;
  return generator;
}

void manual_seed(std::uint64_t seed) { default_generator().manual_seed(seed); }

Tensor get_rng_state() {
  const std::vector<std::uint8_t> bytes = default_generator().get_state();
  Tensor state = empty({static_cast<std::int64_t>(bytes.size())}, {.dtype = DType::kUInt8});
  std::memcpy(state.mutable_data_ptr(), bytes.data(), bytes.size());
  return state;
}

void set_rng_state(const Tensor& state) {
  MNEMO_CHECK(state.defined() && state.dtype() == DType::kUInt8 && state.dim() == 1,
              "an RNG state is a 1-D uint8 tensor (from get_rng_state), got ",
              state.defined() ? std::string(dtype_name(state.dtype())) + " of shape " +
                                    shape_repr(state.sizes())
                              : std::string("an undefined tensor"));
  const Tensor bytes = state.contiguous();
  default_generator().set_state(std::span(bytes.data<std::uint8_t>(),
                                          static_cast<std::size_t>(bytes.numel())));
}

}  // namespace mnemo
