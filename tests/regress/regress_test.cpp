// Replays every input that ever crashed a fuzz target (tests/regress/<target>/), and
// every committed seed (fuzz/corpus/<target>/), through the target's entry point: each
// must load or end in a mnemo::Error — never another exception, a crash, a sanitizer
// report or a hang.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

#include "allocation_tracker.h"
#include "entry_points.h"
#include "support/bytes.h"

namespace mnemo::fuzz {

// Names the target in test output, instead of its bytes.
void PrintTo(const Target& target, std::ostream* out) { *out << target.name; }

namespace {

namespace fs = std::filesystem;
using mnemo::testing::read_file;

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().filename().string().front() != '.') {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// A sanitized build runs a few times slower than a release one; the bound is generous so
// that only a real hang (a loop that does not end, quadratic work) trips it.
constexpr auto kMaxSecondsPerInput = std::chrono::seconds(5);

// The most one allocation may take for an input of `size` bytes: what deflate can make
// of it (1032 times), plus the harness's own storages (up to 4 MiB, fuzz/entry_points.cpp)
// and slack.
std::size_t allocation_bound(std::size_t size) { return 1032 * size + (std::size_t{8} << 20); }

class Replay : public ::testing::TestWithParam<Target> {};

TEST_P(Replay, EveryRegressionAndSeedLoadsOrFailsCleanly) {
  const Target& target = GetParam();
  std::vector<fs::path> inputs = files_in(fs::path(MNEMO_TEST_DIR) / "regress" / target.name);
  const std::vector<fs::path> seeds = files_in(fs::path(MNEMO_FUZZ_DIR) / "corpus" / target.name);
  EXPECT_FALSE(seeds.empty()) << "no seeds in fuzz/corpus/" << target.name;
  inputs.insert(inputs.end(), seeds.begin(), seeds.end());
  for (const fs::path& input : inputs) {
    const std::vector<std::byte> data = read_file(input);
    const auto start = std::chrono::steady_clock::now();
    mnemo::testing::reset_largest_allocation();
    try {
      target.run(data);
    } catch (const std::exception& e) {
      ADD_FAILURE() << input << ": " << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, kMaxSecondsPerInput) << input;
    EXPECT_LE(mnemo::testing::largest_allocation(), allocation_bound(data.size())) << input;
  }
}

INSTANTIATE_TEST_SUITE_P(Fuzz, Replay, ::testing::ValuesIn(targets().begin(), targets().end()),
                         [](const ::testing::TestParamInfo<Target>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace mnemo::fuzz
