// The mnemo command: output, exit codes (0 ok, 1 bad input, 2 usage) and one-line errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "cli_run.h"
#include "mnemo/core/value_json.h"
#include "mnemo/serialize.h"

namespace mnemo::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class MnemoCli : public ::testing::Test {
 protected:
  void SetUp() override {
    Tensor weight = arange(0, 6, 1).view({2, 3});
    value_ = Dict{{"epoch", 3},
                  {"model", StateDict{{"fc.weight", weight}, {"fc.bias", zeros({2})}}},
                  {"loss", 0.25}};
    save(value_, dir_ / "ckpt.pt", {.fsync = false});
  }

  TempDir dir_;
  Value value_;
};

TEST_F(MnemoCli, InspectShowsTheTreeAndTotals) {
  const CliRun run = mnemo_cli("inspect " + (dir_ / "ckpt.pt").string());
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("(pt-zip)"));
  EXPECT_THAT(run.out, HasSubstr("  model: OrderedDict (2 items), 2 tensors, 8 params, 32 B\n"
                                 "    fc: 2 tensors, 8 params, 32 B\n"
                                 "      weight: float32 [2, 3] cpu 24 B\n"));
  EXPECT_THAT(run.out, HasSubstr("  epoch: int 3\n"));
  EXPECT_THAT(run.out, HasSubstr("total: 2 tensors, 8 elements, 32 B in 2 storages"));
}

TEST_F(MnemoCli, InspectJsonIsTheContract) {
  const CliRun run = mnemo_cli("inspect --json --hash " + (dir_ / "ckpt.pt").string());
  EXPECT_EQ(run.exit_code, 0) << run.err;
  std::ostringstream expected;
  expected << "{\n  \"format\": \"pt-zip\",\n  \"content\": ";
  write_json(expected, value_, {.hash = true}, 2);
  expected << "\n}\n";
  EXPECT_EQ(run.out, expected.str());
  EXPECT_THAT(run.out, HasSubstr("\"sha256\": \""));
}

TEST_F(MnemoCli, VerifyAcceptsAGoodFileAndRejectsADamagedOne) {
  const CliRun good = mnemo_cli("verify " + (dir_ / "ckpt.pt").string());
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_THAT(good.out, HasSubstr(": OK (pt-zip"));

  const auto damaged = dir_ / "damaged.pt";
  std::filesystem::copy_file(dir_ / "ckpt.pt", damaged);
  {
    // The tensor records follow data.pkl; find the weight's bytes (0.0 .. 5.0) and flip one.
    const std::string bytes = read_text(damaged);
    std::fstream f(damaged, std::ios::in | std::ios::out | std::ios::binary);
    const float five = 5.0f;
    const auto at = bytes.find(std::string(reinterpret_cast<const char*>(&five), 4));
    ASSERT_NE(at, std::string::npos);
    f.seekp(static_cast<std::streamoff>(at));
    f.put('\x7f');
  }
  const CliRun bad = mnemo_cli("verify " + damaged.string());
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, StartsWith("mnemo: error: "));
  EXPECT_THAT(bad.err, HasSubstr("CRC"));
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1);  // one line
}

TEST_F(MnemoCli, VerifyGolden) {
  const CliRun run = mnemo_cli("verify ckpt.pt", dir_.path());
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "ckpt.pt: OK (pt-zip, 4 records with valid CRC-32, 2 tensors within bounds, 32 B of "
            "storage)\n");
  EXPECT_EQ(run.err, "");
}

TEST_F(MnemoCli, ConvertRewritesKeepingContent) {
  const CliRun run = mnemo_cli("convert --no-fsync " + (dir_ / "ckpt.pt").string() + " " +
                            (dir_ / "copy.pth").string());
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(to_json(load(dir_ / "copy.pth"), {.hash = true}), to_json(value_, {.hash = true}));
}

TEST_F(MnemoCli, InspectJsonOnSafetensorsShowsItsMetadata) {
  const auto path = dir_ / "weights.safetensors";
  const Value tensors = Dict{{"w", arange(0, 4, 1).view({2, 2})}, {"b", zeros({2})}};
  save(tensors, path, {.fsync = false, .metadata = {{"format", "pt"}, {"note", "a \"quoted\" text"}}});
  const CliRun run = mnemo_cli("inspect --json --hash " + path.string());
  EXPECT_EQ(run.exit_code, 0) << run.err;
  // The content in file order (the writer puts "b" first: same dtype, sorted by name).
  std::ostringstream expected;
  expected << "{\n  \"format\": \"safetensors\",\n  \"content\": ";
  write_json(expected, load(path), {.hash = true}, 2);
  expected << ",\n  \"metadata\": {\n    \"format\": \"pt\",\n"
           << "    \"note\": \"a \\\"quoted\\\" text\"\n  }\n}\n";
  EXPECT_EQ(run.out, expected.str());
  EXPECT_THAT(run.out, HasSubstr("\"content\": {\n    \"b\": {\"tensor\""));

  // Without metadata the key is absent; the text form lists the metadata.
  save(tensors, dir_ / "plain.safetensors", {.fsync = false});
  EXPECT_THAT(mnemo_cli("inspect --json " + (dir_ / "plain.safetensors").string()).out,
              ::testing::Not(HasSubstr("metadata")));
  const CliRun text = mnemo_cli("inspect " + path.string());
  EXPECT_THAT(text.out, HasSubstr("(safetensors)"));
  EXPECT_THAT(text.out, HasSubstr("  w: float32 [2, 2] cpu 16 B\n"));
  EXPECT_THAT(text.out, HasSubstr("metadata (2 items)\n  format: str 'pt'\n"));
}

TEST_F(MnemoCli, VerifyChecksSafetensors) {
  const auto path = dir_ / "weights.safetensors";
  save(Dict{{"w", ones({4})}}, path, {.fsync = false});
  const CliRun good = mnemo_cli("verify " + path.string());
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_THAT(good.out, HasSubstr(": OK (safetensors, 1 tensor within bounds, 16 B of storage)"));
  std::filesystem::resize_file(path, std::filesystem::file_size(path) + 2);
  const CliRun bad = mnemo_cli("verify " + path.string());
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, StartsWith("mnemo: error: "));
  EXPECT_THAT(bad.err, HasSubstr("must end with its last tensor"));
}

TEST_F(MnemoCli, ConvertPtToSafetensorsAndBack) {
  const auto st = dir_ / "model.safetensors";
  // A nested checkpoint with non-tensor leaves: refused, with a hint to pick a sub-tree.
  const CliRun refused = mnemo_cli("convert --no-fsync " + (dir_ / "ckpt.pt").string() + " " + st.string());
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("cannot save ['epoch'] (an int) as safetensors"));
  EXPECT_THAT(refused.err, HasSubstr("such as ['model']"));
  EXPECT_THAT(refused.err, HasSubstr("--only KEY"));
  EXPECT_FALSE(std::filesystem::exists(st));

  const CliRun to_st = mnemo_cli("convert --no-fsync --select model --metadata format=pt " +
                                 (dir_ / "ckpt.pt").string() + " " + st.string());
  EXPECT_EQ(to_st.exit_code, 0) << to_st.err;
  EXPECT_THAT(to_st.out, HasSubstr("(safetensors)"));
  EXPECT_EQ(inspect_safetensors(st).metadata,
            (std::map<std::string, std::string>{{"format", "pt"}}));
  const Value model = value_["model"];
  const Value loaded = load(st);
  for (const char* name : {"fc.weight", "fc.bias"}) {
    EXPECT_TRUE(loaded[name].as_tensor().equal(model[name].as_tensor())) << name;
  }

  const auto back = dir_ / "back.pt";
  const CliRun to_pt = mnemo_cli("convert --no-fsync " + st.string() + " " + back.string());
  EXPECT_EQ(to_pt.exit_code, 0) << to_pt.err;
  EXPECT_THAT(to_pt.out, HasSubstr("(pt-zip)"));
  EXPECT_THAT(to_pt.out, HasSubstr("metadata (1 entry) has no place in pt-zip"));
  EXPECT_EQ(detect_format(back), FileFormat::kPtZip);
  EXPECT_EQ(to_json(load(back), {.hash = true}), to_json(loaded, {.hash = true}));

  // A whole nested dict of tensors flattens with dots; safetensors to safetensors keeps
  // the metadata.
  save(Dict{{"model_state_dict", value_["model"].value()}}, dir_ / "nested.pt", {.fsync = false});
  EXPECT_EQ(mnemo_cli("convert --no-fsync " + (dir_ / "nested.pt").string() + " " +
                      (dir_ / "nested.safetensors").string())
                .exit_code,
            0);
  EXPECT_TRUE(load(dir_ / "nested.safetensors")["model_state_dict.fc.weight"].as_tensor().equal(
      model["fc.weight"].as_tensor()));
  EXPECT_EQ(mnemo_cli("convert --no-fsync " + st.string() + " " + (dir_ / "copy.safetensors").string())
                .exit_code,
            0);
  EXPECT_EQ(inspect_safetensors(dir_ / "copy.safetensors").metadata, inspect_safetensors(st).metadata);
}

TEST_F(MnemoCli, ConvertUsageErrors) {
  const std::string in = (dir_ / "ckpt.pt").string();
  const CliRun missing = mnemo_cli("convert --select nope " + in + " " + (dir_ / "x.safetensors").string());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("no key 'nope' in the top level"));
  const CliRun pt_metadata = mnemo_cli("convert --metadata a=b " + in + " " + (dir_ / "x.pt").string());
  EXPECT_EQ(pt_metadata.exit_code, 2);
  EXPECT_THAT(pt_metadata.err, HasSubstr("needs a .safetensors output"));
}

TEST_F(MnemoCli, BadInputExitsOne) {
  std::ofstream(dir_ / "junk.pt") << "not a checkpoint";
  const CliRun junk = mnemo_cli("inspect " + (dir_ / "junk.pt").string());
  EXPECT_EQ(junk.exit_code, 1);
  EXPECT_THAT(junk.err, HasSubstr("not a checkpoint mnemo can read"));
  EXPECT_THAT(junk.err, HasSubstr("safetensors"));
  const CliRun missing = mnemo_cli("verify " + (dir_ / "absent.pt").string());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("absent.pt"));
}

TEST_F(MnemoCli, UsageErrorsExitTwo) {
  EXPECT_EQ(mnemo_cli("").exit_code, 2);
  EXPECT_EQ(mnemo_cli("frobnicate").exit_code, 2);
  EXPECT_EQ(mnemo_cli("inspect").exit_code, 2);
  EXPECT_EQ(mnemo_cli("inspect --hash " + (dir_ / "ckpt.pt").string()).exit_code, 2);
  const CliRun bad_extension =
      mnemo_cli("convert " + (dir_ / "ckpt.pt").string() + " " + (dir_ / "out.xyz").string());
  EXPECT_EQ(bad_extension.exit_code, 2);
  EXPECT_THAT(bad_extension.err, HasSubstr(".pt"));
  EXPECT_THAT(bad_extension.err, HasSubstr(".safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out.xyz"));
}

TEST_F(MnemoCli, HelpAndVersionExitZero) {
  const CliRun help = mnemo_cli("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("inspect"));
  const CliRun version = mnemo_cli("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, HasSubstr("mnemo 0.1.0"));
}

}  // namespace
}  // namespace mnemo::testing
