#include "mnemo/core/generator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include "core/tensor_test_util.h"
#include "mnemo/core/error.h"

namespace mnemo {
namespace {

using testing::throws_error;

std::vector<std::uint32_t> draw(Generator& gen, int n) {
  std::vector<std::uint32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(gen.next_u32());
  return out;
}

TEST(GeneratorTest, SameSeedSameStream) {
  Generator a(123), b(123), c(124);
  const auto sa = draw(a, 1000);
  EXPECT_EQ(sa, draw(b, 1000));
  EXPECT_NE(sa, draw(c, 1000));
  EXPECT_EQ(a.initial_seed(), 123u);
  // Not a constant or short cycle.
  EXPECT_GT(std::set<std::uint32_t>(sa.begin(), sa.end()).size(), 990u);
}

TEST(GeneratorTest, ManualSeedRestarts) {
  Generator gen(9);
  const auto first = draw(gen, 7);
  gen.manual_seed(9);
  EXPECT_EQ(draw(gen, 7), first);
  gen.manual_seed(10);
  EXPECT_EQ(gen.initial_seed(), 10u);
  EXPECT_NE(draw(gen, 7), first);
}

TEST(GeneratorTest, DefaultSeedIsPyTorchs) {
  EXPECT_EQ(Generator::kDefaultSeed, 67280421310721ULL);
  Generator gen;
  EXPECT_EQ(gen.initial_seed(), Generator::kDefaultSeed);
  Generator explicit_seed(Generator::kDefaultSeed);
  EXPECT_EQ(draw(gen, 5), draw(explicit_seed, 5));
}

TEST(GeneratorTest, U64IsTwoU32sLowFirst) {
  Generator a(1), b(1);
  const std::uint64_t wide = a.next_u64();
  const std::uint64_t low = b.next_u32();
  const std::uint64_t high = b.next_u32();
  EXPECT_EQ(wide, (high << 32) | low);
}

TEST(GeneratorTest, StateRoundTripResumesExactlyMidBlock) {
  for (int consumed : {0, 1, 2, 3, 4, 5, 7, 8, 13}) {
    SCOPED_TRACE(consumed);
    Generator gen(77);
    draw(gen, consumed);  // stop anywhere inside a block of four words
    const std::vector<std::uint8_t> state = gen.get_state();
    EXPECT_EQ(state.size(), Generator::kStateBytes);
    EXPECT_EQ(std::string(state.begin(), state.begin() + 4), "MNPX");
    const auto expected = draw(gen, 20);

    Generator restored(1);
    restored.set_state(state);
    EXPECT_EQ(restored.initial_seed(), 77u);
    EXPECT_EQ(draw(restored, 20), expected);
    EXPECT_EQ(restored.get_state(), gen.get_state());
  }
}

TEST(GeneratorTest, StateRoundTripOfNormalsAndUniforms) {
  Generator gen(5);
  gen.uniform_float();
  gen.normal();
  const auto state = gen.get_state();
  const double n1 = gen.normal();
  const double u1 = gen.uniform_double();
  Generator other;
  other.set_state(state);
  EXPECT_EQ(other.normal(), n1);
  EXPECT_EQ(other.uniform_double(), u1);
}

TEST(GeneratorTest, StateLayoutIsLittleEndian) {
  Generator gen(0x0102030405060708ULL);
  draw(gen, 6);  // two blocks made, two words of the second read
  const auto s = gen.get_state();
  EXPECT_EQ(s[4], 1);  // version
  EXPECT_EQ(s[5] | s[6] | s[7], 0);
  EXPECT_EQ(s[8], 0x08);
  EXPECT_EQ(s[15], 0x01);
  EXPECT_EQ(s[16], 2);  // blocks generated
  EXPECT_EQ(s[24], 2);  // position in the block
}

TEST(GeneratorTest, InvalidStatesAreRefused) {
  Generator gen(3);
  draw(gen, 2);
  const auto good = gen.get_state();
  const auto before = gen.get_state();
  auto expect_refused = [&](std::vector<std::uint8_t> state, const std::string& fragment) {
    EXPECT_TRUE(throws_error([&] { gen.set_state(state); }, ErrorCode::kInvalidArgument, fragment));
    EXPECT_EQ(gen.get_state(), before) << "a refused state must leave the generator alone";
  };
  expect_refused({}, "must be 32 bytes, got 0");
  expect_refused(std::vector<std::uint8_t>(good.begin(), good.end() - 1), "got 31");
  auto longer = good;
  longer.push_back(0);
  expect_refused(longer, "got 33");
  auto bad_magic = good;
  bad_magic[0] = 'X';
  expect_refused(bad_magic, "not a mnemo generator state");
  auto bad_version = good;
  bad_version[4] = 2;
  expect_refused(bad_version, "version 2, expected 1");
  auto bad_reserved = good;
  bad_reserved[6] = 1;
  expect_refused(bad_reserved, "version");
  auto bad_position = good;
  bad_position[24] = 5;
  expect_refused(bad_position, "block position 5");
  auto high_position = good;
  high_position[31] = 1;
  expect_refused(high_position, "inconsistent");
  auto no_block = good;
  for (int i = 16; i < 24; ++i) no_block[i] = 0;  // counter 0 but mid-block
  expect_refused(no_block, "counter 0");
}

TEST(GeneratorTest, FreshStateIsValid) {
  Generator gen(11);
  const auto state = gen.get_state();  // counter 0, position 4 ("empty")
  Generator other;
  other.set_state(state);
  EXPECT_EQ(draw(other, 9), draw(gen, 9));
}

TEST(GeneratorTest, UniformIsInTheUnitInterval) {
  Generator gen(21);
  double sum = 0;
  float lo = 1, hi = 0;
  for (int i = 0; i < 100000; ++i) {
    const float f = gen.uniform_float();
    const double d = gen.uniform_double();
    ASSERT_GE(f, 0.0f);
    ASSERT_LT(f, 1.0f);
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
    lo = std::min(lo, f);
    hi = std::max(hi, f);
    sum += d;
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.005);
  EXPECT_LT(lo, 0.001f);
  EXPECT_GT(hi, 0.999f);
}

TEST(GeneratorTest, NormalMeanAndStd) {
  Generator gen(22);
  const int n = 100000;
  double sum = 0, sq = 0;
  int beyond_two = 0;
  for (int i = 0; i < n; ++i) {
    const double x = gen.normal();
    ASSERT_TRUE(std::isfinite(x));
    sum += x;
    sq += x * x;
    beyond_two += std::fabs(x) > 2.0;
  }
  const double mean = sum / n;
  EXPECT_NEAR(mean, 0.0, 0.015);
  EXPECT_NEAR(std::sqrt(sq / n - mean * mean), 1.0, 0.015);
  EXPECT_NEAR(beyond_two / double(n), 0.0455, 0.005);  // the normal's tails, not a uniform's
}

TEST(GeneratorTest, FillUniformAndNormal) {
  Generator gen(23);
  std::vector<float> f(50000);
  gen.fill_uniform(f, -2.0f, 3.0f);
  double sum = 0;
  for (float x : f) {
    ASSERT_GE(x, -2.0f);
    ASSERT_LT(x, 3.0f);
    sum += x;
  }
  EXPECT_NEAR(sum / f.size(), 0.5, 0.05);
  std::vector<double> d(50000);
  gen.fill_normal(d, 10.0, 2.0);
  double dsum = 0, dsq = 0;
  for (double x : d) {
    dsum += x;
    dsq += x * x;
  }
  const double mean = dsum / d.size();
  EXPECT_NEAR(mean, 10.0, 0.05);
  EXPECT_NEAR(std::sqrt(dsq / d.size() - mean * mean), 2.0, 0.05);
  std::vector<float> nf(4);
  std::vector<double> nd(4);
  Generator a(1), b(1);
  a.fill_normal(std::span<float>(nf), 0.0, 1.0);
  b.fill_normal(std::span<double>(nd), 0.0, 1.0);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(nf[i], static_cast<float>(nd[i]));
}

TEST(GeneratorTest, DefaultGeneratorAndManualSeed) {
  Generator& global = default_generator();
  EXPECT_EQ(&global, &default_generator());
  manual_seed(99);
  EXPECT_EQ(global.initial_seed(), 99u);
  const auto first = draw(global, 5);
  manual_seed(99);
  EXPECT_EQ(draw(default_generator(), 5), first);
  Generator local(99);
  EXPECT_EQ(draw(local, 5), first);
}

}  // namespace
}  // namespace mnemo
