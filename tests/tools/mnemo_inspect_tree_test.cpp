// mnemo inspect's text tree: dotted keys grouped by module with counts per subtree,
// --depth, --filter, --all, the summary of wide levels and of deep trees, and the options
// that do not combine with --json.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "cli_run.h"
#include "mnemo/serialize.h"

namespace mnemo::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::size_t lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

class MnemoInspectTree : public ::testing::Test {
 protected:
  void SetUp() override {
    const StateDict model{{"fc.weight", arange(0, 6, 1).view({2, 3})},
                          {"fc.bias", zeros({2})},
                          {"bn.running_mean", zeros({2})},
                          {"bn.num_batches_tracked", scalar_tensor<std::int64_t>(0)}};
    const Value optimizer =
        Dict{{"state", Dict{}},
             {"param_groups",
              List{Dict{{"lr", 0.1}, {"betas", Tuple{0.9, 0.999}}, {"params", List{0, 1}}}}}};
    write(Dict{{"epoch", 3}, {"model_state_dict", model}, {"optimizer_state_dict", optimizer}},
          "ckpt.pt");
  }

  CliRun inspect(const std::string& args) { return mnemo_cli("inspect " + args, dir_.path()); }
  void write(const Value& value, const std::string& name) {
    save(value, dir_ / name, {.fsync = false});
  }

  TempDir dir_;
};

TEST_F(MnemoInspectTree, Golden) {
  const CliRun run = inspect("ckpt.pt");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "ckpt.pt (pt-zip)\n"
            "dict (3 items), 4 tensors, 11 params, 48 B, 5 other values\n"
            "  epoch: int 3\n"
            "  model_state_dict: OrderedDict (4 items), 4 tensors, 11 params, 48 B\n"
            "    fc: 2 tensors, 8 params, 32 B\n"
            "      weight: float32 [2, 3] cpu 24 B\n"
            "      bias: float32 [2] cpu 8 B\n"
            "    bn: 2 tensors, 3 params, 16 B\n"
            "      running_mean: float32 [2] cpu 8 B\n"
            "      num_batches_tracked: int64 [] cpu 8 B\n"
            "  optimizer_state_dict: dict (2 items), 4 values\n"
            "    state: dict (0 items)\n"
            "    param_groups: list (1 item), 3 values\n"
            "      0: dict (3 items), 3 values\n"
            "        lr: float 0.1\n"
            "        betas: tuple (0.9, 0.999)\n"
            "        params: list [0, 1]\n"
            "total: 4 tensors, 11 elements, 48 B in 4 storages\n");
  EXPECT_EQ(run.err, "");
}

TEST_F(MnemoInspectTree, Depth) {
  const CliRun one = inspect("--depth 1 ckpt.pt");
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(one.out,
            "ckpt.pt (pt-zip)\n"
            "dict (3 items), 4 tensors, 11 params, 48 B, 5 other values\n"
            "  epoch: int 3\n"
            "  model_state_dict: OrderedDict (4 items), 4 tensors, 11 params, 48 B\n"
            "  optimizer_state_dict: dict (2 items), 4 values\n"
            "total: 4 tensors, 11 elements, 48 B in 4 storages\n");
  const CliRun zero = inspect("--depth 0 ckpt.pt");
  EXPECT_EQ(zero.out,
            "ckpt.pt (pt-zip)\n"
            "dict (3 items), 4 tensors, 11 params, 48 B, 5 other values\n"
            "total: 4 tensors, 11 elements, 48 B in 4 storages\n");
  EXPECT_EQ(inspect("--depth -1 ckpt.pt").exit_code, 2);
  EXPECT_EQ(inspect("--depth x ckpt.pt").exit_code, 2);
}

TEST_F(MnemoInspectTree, FilterMatchesWholeDottedKeys) {
  const CliRun run = inspect("--filter '*.bias' ckpt.pt");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "ckpt.pt (pt-zip)\n"
            "dict (3 items), 1 tensor, 2 params, 8 B\n"
            "  model_state_dict: OrderedDict (4 items), 1 tensor, 2 params, 8 B\n"
            "    fc: 1 tensor, 2 params, 8 B\n"
            "      bias: float32 [2] cpu 8 B\n"
            "filter '*.bias': 1 of 9 keys match\n"
            "total: 1 tensor, 2 elements, 8 B in 1 storage\n");
  // '*' crosses dots; list indices are components of the key.
  EXPECT_THAT(inspect("--filter 'optimizer_state_dict.param_groups.0.l?' ckpt.pt").out,
              HasSubstr("        lr: float 0.1\nfilter"));
  const CliRun none = inspect("--filter 'nothing*' ckpt.pt");
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_THAT(none.out, HasSubstr("filter 'nothing*': 0 of 9 keys match\n"));
}

TEST_F(MnemoInspectTree, AHundredThousandTensorsReadAsAFewLines) {
  StateDict big;
  for (int i = 0; i < 25000; ++i) {
    for (const char* name : {"attn.weight", "attn.bias", "mlp.weight", "mlp.bias"}) {
      big.insert("layers." + std::to_string(i) + "." + name, zeros({2}));
    }
  }
  big.insert("norm.weight", ones({4}));
  write(big, "big.safetensors");
  const CliRun run = inspect("big.safetensors");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  // The safetensors writer orders tensors by name: layers.* first, then norm.
  EXPECT_EQ(
      run.out,
      "big.safetensors (safetensors)\n"
      "dict (100,001 items), 100,001 tensors, 200.0 k params, 781.3 KiB\n"
      "  layers.0 \u2026 layers.9999: 25,000 subtrees, 100,000 tensors, 200.0 k params, 781.2 KiB\n"
      "  norm: 1 tensor, 4 params, 16 B\n"
      "    weight: float32 [4] cpu 16 B\n"
      "(levels of more than 50 entries summarised: --all shows every entry)\n"
      "total: 100,001 tensors, 200,004 elements, 781.3 KiB in 100,001 storages\n");
  const CliRun all = inspect("--all --filter 'layers.1234?.*' big.safetensors");
  EXPECT_THAT(all.out, HasSubstr("    12345: 4 tensors, 8 params, 32 B\n"
                                 "      attn: 2 tensors, 4 params, 16 B\n"
                                 "        bias: float32 [2] cpu 8 B\n"));
  EXPECT_THAT(all.out, HasSubstr("filter 'layers.1234?.*': 40 of 100,001 keys match\n"));
}

TEST_F(MnemoInspectTree, WideLevelsCollapseUnlessAll) {
  StateDict wide;
  for (int i = 0; i < 60; ++i) wide.insert("blocks." + std::to_string(i), zeros({3}));
  write(wide, "wide.pt");
  const CliRun run = inspect("wide.pt");
  EXPECT_THAT(run.out, HasSubstr("  blocks.0 \u2026 blocks.59: 60 tensors, 180 params, 720 B\n"));
  const CliRun all = inspect("--all wide.pt");
  EXPECT_THAT(all.out,
              HasSubstr("  blocks: 60 tensors, 180 params, 720 B\n    0: float32 [3] cpu 12 B\n"));
  EXPECT_THAT(all.out, HasSubstr("    59: float32 [3] cpu 12 B\n"));
  EXPECT_THAT(all.out, Not(HasSubstr("summarised")));

  // A wide top level: a list of tensors.
  List tensors(51);
  for (Value& item : tensors) item = zeros({1});
  write(tensors, "list.pt");
  EXPECT_THAT(inspect("list.pt").out, HasSubstr("list (51 items), 51 tensors, 51 params, 204 B\n"
                                                "  0 \u2026 50: 51 tensors, 51 params, 204 B\n"));
}

TEST_F(MnemoInspectTree, DeepTreesAreShownAsDeepAsFit) {
  StateDict deep;
  for (int layer = 0; layer < 40; ++layer) {
    for (int module = 0; module < 10; ++module) {
      const std::string prefix = "layers." + std::to_string(layer) + ".m" + std::to_string(module);
      deep.insert(prefix + ".weight", zeros({1}));
      deep.insert(prefix + ".bias", zeros({1}));
    }
  }
  write(deep, "deep.pt");
  const CliRun run = inspect("deep.pt");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_LE(lines(run.out), 260u);
  EXPECT_THAT(run.out, HasSubstr("  layers: 800 tensors, 800 params, 3.1 KiB\n"
                                 "    0: 20 tensors, 20 params, 80 B\n"));
  EXPECT_THAT(run.out, Not(HasSubstr("m0:")));
  EXPECT_THAT(run.out, HasSubstr("(2 levels shown: --depth N or --all shows more)\n"));
  // Asked for, everything: 1 + 40 * (1 + 10 * 3) tree lines.
  EXPECT_EQ(lines(inspect("--all deep.pt").out), 3u + 1 + 40 * 31);
  EXPECT_EQ(lines(inspect("--depth 9 deep.pt").out), 3u + 1 + 40 * 31);
}

TEST_F(MnemoInspectTree, OneTensorFile) {
  write(arange(0, 3, 1), "tensor.pt");
  const CliRun run = inspect("tensor.pt");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "tensor.pt (pt-zip)\n"
            "float32 [3] cpu 12 B\n"
            "total: 1 tensor, 3 elements, 12 B in 1 storage\n");
}

TEST_F(MnemoInspectTree, TreeOptionsDoNotCombineWithJson) {
  for (const char* option : {"--depth 1", "--filter x", "--all"}) {
    const CliRun run = inspect(std::string("--json ") + option + " ckpt.pt");
    EXPECT_EQ(run.exit_code, 2) << option;
    EXPECT_EQ(run.err,
              "mnemo inspect: --depth, --filter and --all shape the text tree; --json always "
              "writes the whole content\n")
        << option;
  }
  const CliRun hash = inspect("--hash ckpt.pt");
  EXPECT_EQ(hash.exit_code, 2);
  EXPECT_EQ(hash.err, "mnemo inspect: --hash needs --json\n");
}

}  // namespace
}  // namespace mnemo::testing
