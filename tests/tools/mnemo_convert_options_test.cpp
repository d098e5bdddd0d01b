// mnemo convert's reshaping options: --dtype, --only (and its alias --select),
// --strip-training-state and --rename-prefix, their outputs and every error's message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli_run.h"
#include "mnemo/core/value_json.h"
#include "mnemo/serialize.h"

namespace mnemo::testing {
namespace {

using ::testing::HasSubstr;

class MnemoConvertOptions : public ::testing::Test {
 protected:
  void SetUp() override {
    weights_ = StateDict{{"fc.weight", arange(0, 6, 1).view({2, 3})}, {"fc.bias", zeros({2})}};
    weights_.set_version("", 1);
    weights_.set_version("fc", 1);
    optimizer_ = Dict{{"state", Dict{{0, Dict{{"step", scalar_tensor<float>(3)}}}}},
                      {"param_groups", List{Dict{{"lr", 0.1}, {"params", List{0, 1}}}}}};
    checkpoint_ = Dict{{"epoch", 3},
                       {"model_state_dict", weights_},
                       {"optimizer_state_dict", optimizer_},
                       {"loss", 0.25}};
    write(checkpoint_, "ckpt.pt");
  }

  CliRun convert(const std::string& args) {
    return mnemo_cli("convert --no-fsync " + args, dir_.path());
  }

  void write(const Value& value, const std::string& name) {
    save(value, dir_ / name, {.fsync = false});
  }
  Value read(const std::string& name) { return load(dir_ / name); }
  bool exists(const std::string& name) { return std::filesystem::exists(dir_ / name); }

  TempDir dir_;
  StateDict weights_;
  Value optimizer_;
  Value checkpoint_;
};

TEST_F(MnemoConvertOptions, DtypeCastsFloatingTensorsOnly) {
  write(Dict{{"w", arange(0, 6, 1).view({2, 3})},
             {"d", full({2}, 0.5, {.dtype = DType::kFloat64})},
             {"n", arange(4)},
             {"mask", ones({2}, {.dtype = DType::kBool})}},
        "mixed.pt");
  const CliRun run = convert("--dtype bf16 mixed.pt out.pt");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "mixed.pt -> out.pt (pt-zip)\n"
            "note: 2 floating tensors now bfloat16; 2 other tensors unchanged\n");
  EXPECT_EQ(run.err, "");
  const Value out = read("out.pt");
  EXPECT_EQ(out["w"].as_tensor().dtype(), DType::kBFloat16);
  EXPECT_EQ(out["d"].as_tensor().dtype(), DType::kBFloat16);
  EXPECT_TRUE(out["w"].as_tensor().to(DType::kFloat32).equal(arange(0, 6, 1).view({2, 3})));
  EXPECT_TRUE(out["n"].as_tensor().equal(arange(4)));
  EXPECT_EQ(out["mask"].as_tensor().dtype(), DType::kBool);

  for (const auto& [name, dtype] :
       {std::pair{"f16", DType::kFloat16}, std::pair{"f32", DType::kFloat32},
        std::pair{"float16", DType::kFloat16}, std::pair{"bfloat16", DType::kBFloat16}}) {
    EXPECT_EQ(convert(std::string("--dtype ") + name + " mixed.pt cast.safetensors").exit_code, 0)
        << name;
    EXPECT_EQ(read("cast.safetensors")["d"].as_tensor().dtype(), dtype) << name;
  }
}

TEST_F(MnemoConvertOptions, DtypeKeepsSharedStoragesAndViews) {
  Tensor tied = arange(0, 8, 1);
  write(Dict{{"embed", tied}, {"head", tied}, {"half", tied.narrow(0, 4, 4)}}, "tied.pt");
  ASSERT_EQ(convert("--dtype f16 tied.pt out.pt").exit_code, 0);
  const Value out = read("out.pt");
  const Tensor& embed = out["embed"].as_tensor();
  const Tensor& head = out["head"].as_tensor();
  const Tensor& half = out["half"].as_tensor();
  EXPECT_EQ(embed.dtype(), DType::kFloat16);
  EXPECT_EQ(embed.data_ptr(), head.data_ptr());  // still tied
  EXPECT_EQ(half.storage_offset(), 4);           // still a view of the same storage
  EXPECT_EQ(half.storage().data(), embed.storage().data());
  EXPECT_TRUE(half.to(DType::kFloat32).equal(arange(4, 8, 1)));
}

TEST_F(MnemoConvertOptions, DtypeOnATrainingCheckpointSaysTheOptimizerWasCast) {
  const CliRun run = convert("--dtype bf16 ckpt.pt out.pt");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("note: 3 floating tensors now bfloat16\n"
                                 "note: 'optimizer_state_dict' was cast too; "
                                 "--strip-training-state writes the model's weights alone\n"));
}

TEST_F(MnemoConvertOptions, DtypeErrors) {
  const CliRun run = convert("--dtype int8 ckpt.pt out.pt");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.err, "mnemo convert: --dtype takes bf16, f16 or f32, got 'int8'\n");
  EXPECT_FALSE(exists("out.pt"));
  EXPECT_EQ(convert("--dtype float64 ckpt.pt out.pt").exit_code, 2);
}

TEST_F(MnemoConvertOptions, OnlyAndItsAliasSelect) {
  const CliRun only = convert("--only model_state_dict ckpt.pt only.safetensors");
  EXPECT_EQ(only.exit_code, 0) << only.err;
  EXPECT_EQ(only.out, "ckpt.pt -> only.safetensors (safetensors)\n");
  const CliRun select = convert("--select model_state_dict ckpt.pt select.safetensors");
  EXPECT_EQ(select.exit_code, 0) << select.err;
  EXPECT_EQ(to_json(read("only.safetensors"), {.hash = true}),
            to_json(read("select.safetensors"), {.hash = true}));
  // Nested keys, an int key among them.
  ASSERT_EQ(convert("--only optimizer_state_dict/state/0 ckpt.pt state.pt").exit_code, 0);
  EXPECT_EQ(read("state.pt")["step"].as_tensor().item<float>(), 3.0f);

  const CliRun missing = convert("--only nope ckpt.pt out.pt");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.err, "mnemo convert: --only nope: no key 'nope' in the top level\n");
  const CliRun not_dict = convert("--only epoch/x ckpt.pt out.pt");
  EXPECT_EQ(not_dict.exit_code, 2);
  EXPECT_EQ(not_dict.err, "mnemo convert: --only epoch/x: ['epoch'] is not a dict\n");
}

TEST_F(MnemoConvertOptions, StripTrainingStateKeepsTheModelsStateDict) {
  const CliRun run = convert("--strip-training-state ckpt.pt weights.pt");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "ckpt.pt -> weights.pt (pt-zip)\n"
            "note: kept model_state_dict; dropped epoch, optimizer_state_dict, loss\n");
  EXPECT_EQ(read("weights.pt").to_state_dict(), weights_);  // _metadata included

  // The other names training code uses.
  for (const char* key : {"state_dict", "model"}) {
    write(Dict{{"global_step", 10}, {key, weights_}}, "other.pt");
    const CliRun other = convert("--strip-training-state other.pt other.safetensors");
    EXPECT_EQ(other.exit_code, 0) << key << other.err;
    EXPECT_THAT(other.out, HasSubstr(std::string("note: kept ") + key + "; dropped global_step\n"));
    EXPECT_EQ(read("other.safetensors").as_dict().size(), 2u) << key;
  }
}

TEST_F(MnemoConvertOptions, StripTrainingStateErrors) {
  write(weights_, "weights.pt");
  const CliRun state_dict = convert("--strip-training-state weights.pt out.pt");
  EXPECT_EQ(state_dict.exit_code, 2);
  EXPECT_EQ(state_dict.err,
            "mnemo convert: --strip-training-state: weights.pt has no model_state_dict, "
            "state_dict or model to keep (its top-level keys: fc.weight, fc.bias); it holds "
            "only tensors: it is a state_dict already\n");
  write(Dict{{"epoch", 1}, {"weights", weights_}}, "odd.pt");
  const CliRun odd = convert("--strip-training-state odd.pt out.pt");
  EXPECT_EQ(odd.exit_code, 2);
  EXPECT_EQ(odd.err,
            "mnemo convert: --strip-training-state: odd.pt has no model_state_dict, state_dict "
            "or model to keep (its top-level keys: epoch, weights); pick the weights with --only "
            "KEY\n");
  write(Dict{{"model", "resnet18"}}, "named.pt");
  const CliRun named = convert("--strip-training-state named.pt out.pt");
  EXPECT_EQ(named.exit_code, 2);
  EXPECT_EQ(named.err,
            "mnemo convert: --strip-training-state: named.pt['model'] is str, not a state_dict; "
            "pick another sub-tree with --only KEY\n");
  write(List{weights_}, "list.pt");
  const CliRun list = convert("--strip-training-state list.pt out.pt");
  EXPECT_EQ(list.exit_code, 2);
  EXPECT_THAT(list.err, HasSubstr("(it is list, not a dict)"));
  const CliRun both = convert("--strip-training-state --only model_state_dict ckpt.pt out.pt");
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_EQ(both.err,
            "mnemo convert: --only and --strip-training-state both pick the sub-tree to write: "
            "give one\n");
  EXPECT_FALSE(exists("out.pt"));
}

StateDict data_parallel(const StateDict& weights) {
  StateDict wrapped;
  for (const auto& [name, value] : weights) wrapped.insert("module." + name, value);
  // What DataParallel's state_dict() records: the wrapper, then the model under "module".
  wrapped.set_version("", 1);
  wrapped.set_version("module", 1);
  wrapped.set_version("module.fc", 1);
  return wrapped;
}

TEST_F(MnemoConvertOptions, RenamePrefixStripsDataParallelsModule) {
  write(data_parallel(weights_), "ddp.pt");
  const CliRun run = convert("--rename-prefix module.= ddp.pt plain.pt");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "ddp.pt -> plain.pt (pt-zip)\n"
            "note: renamed 2 keys ('module.' -> '')\n");
  const StateDict plain = read("plain.pt").to_state_dict();
  EXPECT_EQ(plain.keys(), (std::vector<std::string>{"fc.weight", "fc.bias"}));
  // _metadata follows, as consume_prefix_in_state_dict_if_present does it.
  ASSERT_TRUE(plain.has_metadata());
  std::vector<std::string> modules;
  for (const auto& [key, entry] : *plain.metadata()) modules.push_back(std::get<std::string>(key));
  EXPECT_EQ(modules, (std::vector<std::string>{"", "fc"}));
  write(weights_, "a.pt");
  EXPECT_EQ(mnemo_cli("diff a.pt plain.pt", dir_.path()).exit_code, 0);

  // And back: an empty OLD adds a prefix.
  const CliRun add = convert("--rename-prefix =module. plain.pt again.pt");
  EXPECT_EQ(add.exit_code, 0) << add.err;
  EXPECT_EQ(read("again.pt").to_state_dict().keys(),
            (std::vector<std::string>{"module.fc.weight", "module.fc.bias"}));
}

TEST_F(MnemoConvertOptions, RenamePrefixInsideATrainingCheckpoint) {
  write(Dict{{"epoch", 3},
             {"model_state_dict", data_parallel(weights_)},
             {"optimizer_state_dict", optimizer_}},
        "ddp_ckpt.pt");
  const CliRun run = convert("--rename-prefix module.= ddp_ckpt.pt fixed.pt");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  const Value fixed = read("fixed.pt");
  EXPECT_EQ(fixed["model_state_dict"].to_state_dict().keys(),
            (std::vector<std::string>{"fc.weight", "fc.bias"}));
  EXPECT_EQ(fixed["epoch"].as_int(), 3);
  EXPECT_EQ(to_json(fixed["optimizer_state_dict"], {.hash = true}),
            to_json(optimizer_, {.hash = true}));
}

TEST_F(MnemoConvertOptions, RenamePrefixFirstMatchingRuleWins) {
  write(StateDict{{"fc.weight", zeros({1})}, {"fc2.weight", zeros({1})}, {"head.w", zeros({1})}},
        "in.pt");
  const CliRun run =
      convert("--rename-prefix fc.=a. --rename-prefix fc=b --rename-prefix head.=c. in.pt out.pt");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "in.pt -> out.pt (pt-zip)\nnote: renamed 3 keys ('fc.' -> 'a.', 'fc' -> 'b', 'head.' "
            "-> 'c.')\n");
  EXPECT_EQ(read("out.pt").to_state_dict().keys(),
            (std::vector<std::string>{"a.weight", "b2.weight", "c.w"}));
}

TEST_F(MnemoConvertOptions, RenamePrefixErrorsAndNotes) {
  write(StateDict{{"module.fc.weight", zeros({1})}, {"fc.weight", zeros({1})}}, "half_wrapped.pt");
  const CliRun collision = convert("--rename-prefix module.= half_wrapped.pt out.pt");
  EXPECT_EQ(collision.exit_code, 2);
  EXPECT_EQ(collision.err,
            "mnemo convert: --rename-prefix: 'module.fc.weight' and 'fc.weight' would both be "
            "named 'fc.weight'\n");
  EXPECT_FALSE(exists("out.pt"));

  write(Dict{{"model_state_dict", StateDict{{"a.w", zeros({1})}, {"b.w", zeros({1})}}}},
        "nested.pt");
  const CliRun nested = convert("--rename-prefix a.=b. nested.pt out.pt");
  EXPECT_EQ(nested.exit_code, 2);
  EXPECT_EQ(nested.err,
            "mnemo convert: --rename-prefix: 'a.w' and 'b.w' would both be named 'b.w' in "
            "['model_state_dict']\n");

  const CliRun no_equals = convert("--rename-prefix module. ckpt.pt out.pt");
  EXPECT_EQ(no_equals.exit_code, 2);
  EXPECT_EQ(no_equals.err,
            "mnemo convert: --rename-prefix takes OLD=NEW (e.g. module.= to remove 'module.'), "
            "got 'module.'\n");

  // Nothing to rename is not an error: scripts run one command over many files.
  const CliRun nothing = convert("--rename-prefix module.= ckpt.pt out.pt");
  EXPECT_EQ(nothing.exit_code, 0) << nothing.err;
  EXPECT_THAT(nothing.out,
              HasSubstr("note: no key of a state_dict starts with 'module.': nothing renamed\n"));
}

TEST_F(MnemoConvertOptions, AllTogetherForDeployment) {
  write(Dict{{"epoch", 3},
             {"model_state_dict", data_parallel(weights_)},
             {"optimizer_state_dict", optimizer_}},
        "ddp_ckpt.pt");
  const CliRun run = convert(
      "--strip-training-state --rename-prefix module.= --dtype f16 "
      "--metadata format=pt ddp_ckpt.pt model.safetensors");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "ddp_ckpt.pt -> model.safetensors (safetensors)\n"
            "note: kept model_state_dict; dropped epoch, optimizer_state_dict\n"
            "note: renamed 2 keys ('module.' -> '')\n"
            "note: 2 floating tensors now float16\n");
  const Value model = read("model.safetensors");
  EXPECT_EQ(model["fc.weight"].as_tensor().dtype(), DType::kFloat16);
  EXPECT_TRUE(model["fc.weight"].as_tensor().to(DType::kFloat32).equal(weights_.at("fc.weight")));
  EXPECT_EQ(inspect_safetensors(dir_ / "model.safetensors").metadata,
            (std::map<std::string, std::string>{{"format", "pt"}}));
}

TEST_F(MnemoConvertOptions, PyTorchLoadsTheResultStrictly) {
  // The classic failure and its fix, end to end: a DataParallel checkpoint, stripped,
  // renamed and cast, loads into the plain model with strict=True.
  if (run_python("import torch").exit_code != 0) GTEST_SKIP() << "no PyTorch to check with";
  const std::string made = python_output(R"(
import sys, torch
from torch import nn
model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
torch.save({'epoch': 1, 'model_state_dict': nn.DataParallel(model).state_dict(),
            'optimizer_state_dict': opt.state_dict()}, sys.argv[1])
try:
    model.load_state_dict(torch.load(sys.argv[1])['model_state_dict'])
except RuntimeError as e:
    print('Missing key(s)' in str(e))
)",
                                         (dir_ / "ddp_ckpt.pt").string());
  EXPECT_EQ(made, "True\n");
  const CliRun run =
      convert("--strip-training-state --rename-prefix module.= --dtype bf16 ddp_ckpt.pt plain.pt");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(python_output(R"(
import sys, torch
from torch import nn
model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
sd = torch.load(sys.argv[1])
print(model.load_state_dict(sd, strict=True), sd['0.weight'].dtype, dict(sd._metadata))
)",
                          (dir_ / "plain.pt").string()),
            "<All keys matched successfully> torch.bfloat16 {'': {'version': 1}, '0': "
            "{'version': 1}, '1': {'version': 2}}\n");
}

TEST_F(MnemoConvertOptions, SafetensorsRefusalNamesTheOptions) {
  const CliRun run = convert("ckpt.pt out.safetensors");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("--only KEY"));
  EXPECT_THAT(run.err, HasSubstr("--strip-training-state"));
}

}  // namespace
}  // namespace mnemo::testing
