// mnemo diff: golden outputs (text and JSON) on small fixtures, the tolerance rules, the
// hints that explain why one checkpoint will not load where another does, and every
// error path.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <fstream>
#include <limits>

#include "cli_run.h"
#include "mnemo/serialize.h"

namespace mnemo::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

class MnemoDiff : public ::testing::Test {
 protected:
  void SetUp() override {
    weights_ = StateDict{{"fc.weight", arange(0, 6, 1).view({2, 3})}, {"fc.bias", zeros({2})}};
    save(weights_, dir_ / "a.pt", {.fsync = false});
  }

  // Runs `mnemo diff ARGS` in the fixture's directory, so that outputs name files as given.
  CliRun diff(const std::string& args) { return mnemo_cli("diff " + args, dir_.path()); }

  void write(const Value& value, const std::string& name) {
    save(value, dir_ / name, {.fsync = false});
  }

  TempDir dir_;
  StateDict weights_;
};

TEST_F(MnemoDiff, EqualAcrossFormatsExitsZero) {
  write(weights_, "a.safetensors");
  const CliRun run = diff("a.pt a.safetensors");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "--- a.pt (pt-zip)\n"
            "+++ a.safetensors (safetensors)\n"
            "equal: 2 keys, 8 tensor values match exactly\n");
  EXPECT_EQ(run.err, "");  // no progress where stderr is not a terminal
}

TEST_F(MnemoDiff, NestedCheckpointMatchesFlatSafetensors) {
  write(Dict{{"model", weights_}}, "nested.pt");
  write(Dict{{"model", weights_}}, "flat.safetensors");  // written as model.fc.weight, ...
  const CliRun run = diff("nested.pt flat.safetensors");
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("equal: 2 keys, 8 tensor values match exactly\n"));
}

class MnemoDiffChanges : public MnemoDiff {
 protected:
  void SetUp() override {
    MnemoDiff::SetUp();
    Tensor head = ones({2});
    write(StateDict{{"fc.weight", weights_.at("fc.weight")},
                    {"fc.bias", weights_.at("fc.bias")},
                    {"head.weight", head}},
          "a3.pt");
    Tensor changed = arange(0, 6, 1).view({2, 3}).clone();
    changed.mutable_at<float>({1, 2}) = 5.5f;
    write(StateDict{{"fc.weight", changed},
                    {"fc.bias", zeros({2}, {.dtype = DType::kFloat64})},
                    {"extra", ones({1})}},
          "b3.pt");
  }
};

TEST_F(MnemoDiffChanges, TextGolden) {
  const CliRun run = diff("a3.pt b3.pt");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out,
            "--- a3.pt (pt-zip)\n"
            "+++ b3.pt (pt-zip)\n"
            "only in a3.pt (1):\n"
            "  - head.weight: float32 [2] cpu 8 B\n"
            "only in b3.pt (1):\n"
            "  + extra: float32 [1] cpu 4 B\n"
            "changed (2):\n"
            "  ~ fc.weight: float32 [2, 3]: 1 of 6 values differs (max abs diff 0.5, max rel "
            "diff 0.0909091)\n"
            "  ~ fc.bias: dtype float32 -> float64; all 2 values equal\n"
            "hint: loading b3.pt into a model whose state_dict is a3.pt reports 1 missing key "
            "and 1 unexpected key (load_state_dict(strict=False) skips them)\n"
            "differ: 2 of 2 common keys changed (values compared exactly), 1 key only in "
            "a3.pt, 1 key only in b3.pt\n");
  EXPECT_EQ(run.err, "");
}

TEST_F(MnemoDiffChanges, JsonGolden) {
  const CliRun run = diff("--json a3.pt b3.pt");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out,
            R"json({
  "a": {"file": "a3.pt", "format": "pt-zip"},
  "b": {"file": "b3.pt", "format": "pt-zip"},
  "atol": 0.0,
  "rtol": 0.0,
  "equal": false,
  "only_in_a": ["head.weight"],
  "only_in_b": ["extra"],
  "changed": [
    {"key": "fc.weight", "changes": ["values"], "a": {"tensor": {"dtype": "float32", "shape": [2, 3], "device": "cpu"}}, "b": {"tensor": {"dtype": "float32", "shape": [2, 3], "device": "cpu"}}, "values": {"compared": 6, "differing": 1, "nan_mismatches": 0, "max_abs": 0.5, "max_rel": 0.09090909090909091}},
    {"key": "fc.bias", "changes": ["dtype"], "a": {"tensor": {"dtype": "float32", "shape": [2], "device": "cpu"}}, "b": {"tensor": {"dtype": "float64", "shape": [2], "device": "cpu"}}, "values": {"compared": 2, "differing": 0, "nan_mismatches": 0, "max_abs": 0.0, "max_rel": 0.0}}
  ],
  "summary": {"equal": 0, "changed": 2, "only_in_a": 1, "only_in_b": 1, "values_compared": 8, "max_abs": 0.5},
  "hints": ["loading b3.pt into a model whose state_dict is a3.pt reports 1 missing key and 1 unexpected key (load_state_dict(strict=False) skips them)"]
}
)json");
}

TEST_F(MnemoDiff, JsonWhenEqual) {
  const CliRun run = diff("--json --atol 0.001 a.pt a.pt");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("\"atol\": 0.001,\n  \"rtol\": 0.0,\n  \"equal\": true,\n"
                                 "  \"only_in_a\": [],\n  \"only_in_b\": [],\n  \"changed\": [],\n"
                                 "  \"summary\": {\"equal\": 2, \"changed\": 0"));
  EXPECT_THAT(run.out, HasSubstr("\"hints\": []\n}\n"));
}

TEST_F(MnemoDiff, ToleranceAsTorchAllclose) {
  write(StateDict{{"w", tensor<float>({5.5f})}}, "x.pt");
  write(StateDict{{"w", tensor<float>({5.0f})}}, "y.pt");
  // |5.5 - 5| = 0.5: outside atol 0.4, inside atol 0.5.
  EXPECT_EQ(diff("x.pt y.pt").exit_code, 1);
  EXPECT_EQ(diff("--atol 0.4 x.pt y.pt").exit_code, 1);
  const CliRun atol = diff("--atol 0.5 x.pt y.pt");
  EXPECT_EQ(atol.exit_code, 0) << atol.out;
  EXPECT_THAT(
      atol.out,
      HasSubstr("equal: 1 key, 1 tensor value match within atol 0.5, rtol 0 (max abs diff 0.5)\n"));
  // rtol scales |b| (y's 5.0): 0.1 * 5 = 0.5 is enough, 0.09 * 5 = 0.45 is not.
  EXPECT_EQ(diff("--rtol 0.1 x.pt y.pt").exit_code, 0);
  const CliRun rtol = diff("--rtol 0.09 x.pt y.pt");
  EXPECT_EQ(rtol.exit_code, 1);
  EXPECT_THAT(rtol.out, HasSubstr("  ~ w: float32 [1]: 1 of 1 value differs (max abs diff 0.5, "
                                  "max rel diff 0.1)\n"));
  EXPECT_THAT(rtol.out, HasSubstr("(values compared within atol 0, rtol 0.09)"));
  // Both together: 0.25 + 0.05 * 5 = 0.5.
  EXPECT_EQ(diff("--atol 0.25 --rtol 0.05 x.pt y.pt").exit_code, 0);
}

TEST_F(MnemoDiff, NaNEqualsNaNAtTheSamePositionAndInfinitiesOnlyThemselves) {
  write(StateDict{{"w", tensor<double>({kNaN, 1.0, kInf})}}, "x.pt");
  write(StateDict{{"w", tensor<double>({kNaN, 1.0, kInf})}}, "same.pt");
  write(StateDict{{"w", tensor<double>({1.0, kNaN, 1e300})}}, "moved.pt");
  EXPECT_EQ(diff("x.pt same.pt").exit_code, 0);
  const CliRun moved = diff("--rtol 10 x.pt moved.pt");
  EXPECT_EQ(moved.exit_code, 1);
  EXPECT_THAT(moved.out,
              HasSubstr("  ~ w: float64 [3]: 3 of 3 values differ (max abs diff inf, max "
                        "rel diff inf, 2 NaN on one side only)\n"));
}

TEST_F(MnemoDiff, IntegersCompareExactlyBeyondDoublePrecision) {
  const std::int64_t big = std::int64_t{1} << 53;
  write(StateDict{{"n", tensor<std::int64_t>({big})}}, "x.pt");
  write(StateDict{{"n", tensor<std::int64_t>({big + 1})}}, "y.pt");
  const CliRun run = diff("x.pt y.pt");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.out, HasSubstr("  ~ n: int64 [1]: 1 of 1 value differs (max abs diff 1, max rel "
                                 "diff 1.11022e-16)\n"));
  // uint64 past INT64_MAX, and across dtypes.
  write(StateDict{{"n", tensor<std::uint64_t>({~std::uint64_t{0}})}}, "u1.safetensors");
  write(StateDict{{"n", tensor<std::uint64_t>({~std::uint64_t{0} - 1})}}, "u2.safetensors");
  EXPECT_EQ(diff("u1.safetensors u2.safetensors").exit_code, 1);
  write(StateDict{{"n", tensor<std::int32_t>({7})}}, "i32.pt");
  write(StateDict{{"n", tensor<float>({7.0f})}}, "f32.pt");
  const CliRun across = diff("i32.pt f32.pt");
  EXPECT_EQ(across.exit_code, 1);  // the dtype changed, though the values are equal
  EXPECT_THAT(across.out, HasSubstr("  ~ n: dtype int32 -> float32; all 1 value equal\n"));
  EXPECT_THAT(across.out, HasSubstr("hint: keys and shapes match and only dtypes differ"));
}

TEST_F(MnemoDiff, ComplexValuesCompareBothParts) {
  const auto make = [](float imaginary) {
    Tensor t = zeros({2}, {.dtype = DType::kComplex64});
    t.mutable_at<std::complex<float>>({1}) = {1.0f, imaginary};
    return t;
  };
  write(StateDict{{"z", make(2.0f)}}, "x.pt");
  write(StateDict{{"z", make(2.0f)}}, "y.pt");
  write(StateDict{{"z", make(2.5f)}}, "w.pt");
  EXPECT_EQ(diff("x.pt y.pt").exit_code, 0);
  const CliRun run = diff("x.pt w.pt");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.out, HasSubstr("  ~ z: complex64 [2]: 1 of 2 values differs (max abs diff 0.5,"));
}

TEST_F(MnemoDiff, ScalarsAndTypeChanges) {
  write(Dict{{"epoch", 3},
             {"lr", 0.1},
             {"name", "adam"},
             {"step", scalar_tensor<float>(5)},
             {"one", 1},
             {"none", none},
             {"empty", Dict{}}},
        "x.pt");
  write(Dict{{"epoch", 4},
             {"lr", 0.1},
             {"name", "sgd"},
             {"step", 5},
             {"one", 1.0},
             {"none", none},
             {"empty", Dict{}}},
        "y.pt");
  const CliRun run = diff("x.pt y.pt");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out,
            "--- x.pt (pt-zip)\n"
            "+++ y.pt (pt-zip)\n"
            "changed (3):\n"
            "  ~ epoch: int 3 -> int 4\n"
            "  ~ name: str 'adam' -> str 'sgd'\n"
            "  ~ step: float32 [] cpu 4 B -> int 5\n"
            "differ: 3 of 7 common keys changed (values compared exactly)\n");
  // Scalars follow the tolerance too.
  write(Dict{{"lr", 0.1}}, "lr1.pt");
  write(Dict{{"lr", 0.1000001}}, "lr2.pt");
  EXPECT_EQ(diff("lr1.pt lr2.pt").exit_code, 1);
  EXPECT_EQ(diff("--atol 1e-6 lr1.pt lr2.pt").exit_code, 0);
}

TEST_F(MnemoDiff, HintsDataParallelPrefix) {
  StateDict wrapped;
  for (const auto& [name, value] : weights_) wrapped.insert("module." + name, value);
  write(wrapped, "ddp.pt");
  const CliRun run = diff("a.pt ddp.pt");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out,
            "--- a.pt (pt-zip)\n"
            "+++ ddp.pt (pt-zip)\n"
            "only in a.pt (2):\n"
            "  - fc.weight: float32 [2, 3] cpu 24 B\n"
            "  - fc.bias: float32 [2] cpu 8 B\n"
            "only in ddp.pt (2):\n"
            "  + module.fc.weight: float32 [2, 3] cpu 24 B\n"
            "  + module.fc.bias: float32 [2] cpu 8 B\n"
            "hint: every tensor key of ddp.pt is a key of a.pt with the prefix 'module.' "
            "(DataParallel and DistributedDataParallel save their model's keys so); to match "
            "a.pt:\n"
            "    mnemo convert --rename-prefix module.= ddp.pt OUT.pt\n"
            "hint: with that, all 2 tensors are equal (exactly)\n"
            "differ: 2 keys only in a.pt, 2 keys only in ddp.pt, no key in common\n");
  // The other way round names the other file; safetensors outputs keep their extension.
  write(wrapped, "ddp.safetensors");
  EXPECT_THAT(diff("ddp.safetensors a.pt").out,
              HasSubstr("every tensor key of ddp.safetensors is a key of a.pt with the prefix "
                        "'module.'"));
  EXPECT_THAT(
      diff("ddp.safetensors a.pt").out,
      HasSubstr("    mnemo convert --rename-prefix module.= ddp.safetensors OUT.safetensors\n"));
}

TEST_F(MnemoDiff, HintsTrainingCheckpointAgainstStateDict) {
  write(Dict{{"epoch", 1},
             {"model_state_dict", weights_},
             {"optimizer_state_dict",
              Dict{{"state", Dict{}},
                   {"param_groups", List{Dict{{"lr", 0.1}, {"params", List{0, 1}}}}}}}},
        "ckpt.pt");
  const CliRun run = diff("ckpt.pt a.pt");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.out, HasSubstr("only in ckpt.pt (7):\n  - epoch: int 1\n"));
  EXPECT_THAT(run.out, HasSubstr("  ... and 4 more (--all lists every key)\n"));
  EXPECT_THAT(run.out,
              HasSubstr("hint: ckpt.pt holds more than a state_dict: its 'model_state_dict' has "
                        "exactly the tensor keys of a.pt; to match a.pt:\n"
                        "    mnemo convert --only model_state_dict ckpt.pt OUT.pt\n"
                        "hint: with that, all 2 tensors are equal (exactly)\n"));

  // A checkpoint of a DataParallel model: both fixes in one command; changed values are
  // reported as such.
  StateDict wrapped;
  for (const auto& [name, value] : weights_) wrapped.insert("module." + name, value);
  write(Dict{{"epoch", 1}, {"model_state_dict", wrapped}}, "ddp_ckpt.pt");
  write(StateDict{{"fc.weight", ones({2, 3})}, {"fc.bias", zeros({2})}}, "other.pt");
  const CliRun both = diff("other.pt ddp_ckpt.pt");
  EXPECT_THAT(both.out,
              HasSubstr("hint: ddp_ckpt.pt's 'model_state_dict' has the tensor keys of other.pt, "
                        "each with the prefix 'module.' (DataParallel and DistributedDataParallel "
                        "save their model's keys so); to match other.pt:\n"
                        "    mnemo convert --only model_state_dict --rename-prefix module.= "
                        "ddp_ckpt.pt OUT.pt\n"
                        "hint: with that, 1 of 2 tensors still differ: convert, then diff again "
                        "for the details\n"));
}

TEST_F(MnemoDiff, HintsShapeMismatch) {
  write(StateDict{{"fc.weight", arange(0, 6, 1).view({2, 3})}, {"fc.bias", zeros({3})}}, "wide.pt");
  const CliRun run = diff("a.pt wide.pt");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.out, HasSubstr("changed (1):\n  ~ fc.bias: shape [2] -> [3]\n"));
  EXPECT_THAT(run.out, HasSubstr("hint: 1 tensor differs in shape: load_state_dict refuses it "
                                 "('size mismatch'), even with strict=False\n"));
}

TEST_F(MnemoDiff, LongListsAreShortenedUnlessAll) {
  StateDict many;
  for (int i = 0; i < 30; ++i) many.insert("t" + std::to_string(i), zeros({1}));
  write(many, "many.pt");
  write(StateDict{{"t0", zeros({1})}}, "one.pt");
  const CliRun run = diff("one.pt many.pt");
  EXPECT_THAT(run.out, HasSubstr("only in many.pt (29):\n"));
  EXPECT_THAT(
      run.out,
      HasSubstr("  + t20: float32 [1] cpu 4 B\n  ... and 9 more (--all lists every key)\n"));
  const CliRun all = diff("--all one.pt many.pt");
  EXPECT_THAT(all.out, HasSubstr("  + t29: float32 [1] cpu 4 B\n"));
  EXPECT_THAT(all.out, ::testing::Not(HasSubstr("more (--all")));
}

TEST_F(MnemoDiff, TensorsSavedOnAGpuCompareByValue) {
  // A tensor tagged cuda:0 (as torch.save writes it from a GPU) holds host bytes here.
  Storage storage = Storage::allocate(8, Device::cuda(0));
  Tensor gpu(storage, DType::kFloat32, {2}, {1});
  Tensor cpu = tensor<float>({1.0f, 2.0f});
  std::memcpy(storage.mutable_data(), cpu.data_ptr(), 8);
  write(StateDict{{"w", gpu}}, "gpu.pt");
  write(StateDict{{"w", cpu}}, "cpu.pt");
  const CliRun run = diff("gpu.pt cpu.pt");
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
}

TEST_F(MnemoDiff, Errors) {
  const CliRun missing = diff("a.pt absent.pt");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, StartsWith("mnemo: error: "));
  EXPECT_THAT(missing.err, HasSubstr("absent.pt"));
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1);

  std::ofstream(dir_ / "junk.pt") << "not a checkpoint";
  const CliRun junk = diff("junk.pt a.pt");
  EXPECT_EQ(junk.exit_code, 1);
  EXPECT_THAT(junk.err, HasSubstr("not a checkpoint mnemo can read"));

  const CliRun negative = diff("--atol -1 a.pt a.pt");
  EXPECT_EQ(negative.exit_code, 2);
  EXPECT_EQ(negative.err, "mnemo diff: --atol must be a finite number >= 0\n");
  const CliRun nan = diff("--rtol nan a.pt a.pt");
  EXPECT_EQ(nan.exit_code, 2);
  EXPECT_EQ(nan.err, "mnemo diff: --rtol must be a finite number >= 0\n");
  const CliRun text = diff("--atol big a.pt a.pt");
  EXPECT_EQ(text.exit_code, 2);
  EXPECT_THAT(text.err, HasSubstr("--atol"));
  const CliRun one = diff("a.pt");
  EXPECT_EQ(one.exit_code, 2);
  EXPECT_THAT(one.err, HasSubstr("B is required"));
  EXPECT_EQ(diff("--bogus a.pt a.pt").exit_code, 2);
}

}  // namespace
}  // namespace mnemo::testing
