// Live: what mnemo refuses to load, and how — a pickle that would run a command, a whole
// pickled module (and its salvage), a TorchScript archive, truncated and damaged files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "interop/pt_python.h"
#include "mnemo/core/value_json.h"
#include "mnemo/nn.h"
#include "mnemo/serialize.h"
#include "support/bytes.h"
#include "support/python.h"

namespace mnemo::testing {
namespace {

using ::testing::HasSubstr;

constexpr const char* kMakeFiles = R"PY(
import torch.nn as nn
out = sys.argv[1]
marker = os.path.join(out, "pwned")

class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + marker,))

torch.save({"weights": torch.ones(2), "payload": Evil()}, os.path.join(out, "evil.pt"))

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.bn = nn.BatchNorm1d(2)
        self.register_buffer("scratch", torch.zeros(1), persistent=False)

net = Net()
torch.save(net, os.path.join(out, "module.pt"))
write_text(os.path.join(out, "module.json"), canonical_json(net.state_dict()))
torch.save(nn.Sequential(nn.Linear(2, 2)), os.path.join(out, "sequential.pt"))
torch.jit.save(torch.jit.script(nn.Linear(2, 2)), os.path.join(out, "scripted.pt"))
torch.save({"w": torch.arange(1000.0)}, os.path.join(out, "plain.pt"))
)PY";

class PtRefusalsLive : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    python_output(std::string(kCanonicalJsonPython) + kMakeFiles, dir_->path().string());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::filesystem::path file(const std::string& name) { return dir_->path() / name; }

  static Error load_error(const std::filesystem::path& path, LoadOptions options = {}) {
    try {
      load(path, options);
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << path << " loaded";
    return Error(ErrorCode::kIo, "no error");
  }

  static TempDir* dir_;
};

TempDir* PtRefusalsLive::dir_ = nullptr;

TEST_F(PtRefusalsLive, APickleThatWouldRunACommandIsRefusedAndRunsNothing) {
  const Error error = load_error(file("evil.pt"));
  EXPECT_EQ(error.code(), ErrorCode::kUnsupported);
  EXPECT_THAT(error.what(), HasSubstr("posix.system"));
  EXPECT_FALSE(std::filesystem::exists(file("pwned")));
  // Salvage records the call as data and never makes it.
  const Value salvaged = load(file("evil.pt"), {.salvage = true});
  EXPECT_EQ(salvaged["payload"]["__class__"].as_string(), "posix.system");
  EXPECT_TRUE(salvaged["weights"].as_tensor().equal(ones({2})));
  EXPECT_FALSE(std::filesystem::exists(file("pwned")));
}

TEST_F(PtRefusalsLive, AWholePickledModuleIsRefusedNamingItsClass) {
  const Error error = load_error(file("module.pt"));
  EXPECT_EQ(error.code(), ErrorCode::kUnsupported);
  EXPECT_THAT(error.what(), HasSubstr("__main__.Net"));
  EXPECT_THAT(error.what(), HasSubstr("state_dict"));
  EXPECT_THAT(load_error(file("sequential.pt")).what(),
              HasSubstr("torch.nn.modules.container.Sequential"));
}

TEST_F(PtRefusalsLive, SalvageRecoversAPickledModulesStateDict) {
  const Value salvaged = load(file("module.pt"), {.salvage = true});
  const StateDict sd = salvage_state_dict(salvaged);
  EXPECT_EQ(to_json(sd.to_value(), {.hash = true}), read_text(file("module.json")));
  EXPECT_EQ(sd.version("bn"), 2);

  // And it loads into the same architecture defined in C++.
  struct Net : nn::Module {
    Net() {
      register_module("fc", std::make_shared<nn::Linear>(3, 2));
      register_module("bn", std::make_shared<nn::BatchNorm1d>(2));
      register_buffer("scratch", zeros({1}), /*persistent=*/false);
    }
  } net;
  EXPECT_TRUE(net.load_state_dict(sd).all_matched());
}

TEST_F(PtRefusalsLive, ATorchScriptArchiveIsRefusedForWhatItIs) {
  const Error error = load_error(file("scripted.pt"));
  EXPECT_EQ(error.code(), ErrorCode::kUnsupported);
  EXPECT_THAT(error.what(), HasSubstr("TorchScript"));
}

TEST_F(PtRefusalsLive, TruncatedFilesGiveACleanError) {
  const auto size = std::filesystem::file_size(file("plain.pt"));
  for (const std::uintmax_t keep : {std::uintmax_t{0}, std::uintmax_t{3}, std::uintmax_t{100},
                                    size / 2, size - 30, size - 1}) {
    const auto truncated = file("truncated.pt");
    std::filesystem::copy_file(file("plain.pt"), truncated,
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(truncated, keep);
    const Error error = load_error(truncated);
    EXPECT_TRUE(error.code() == ErrorCode::kCorrupt || error.code() == ErrorCode::kUnsupported)
        << keep << ": " << error.what();
  }
}

TEST_F(PtRefusalsLive, AFlippedByteInsideATensorIsCaught) {
  const auto damaged = file("damaged.pt");
  std::filesystem::copy_file(file("plain.pt"), damaged,
                             std::filesystem::copy_options::overwrite_existing);
  // The tensor's record is the largest; flip a byte in its middle.
  {
    std::fstream f(damaged, std::ios::in | std::ios::out | std::ios::binary);
    const auto offset = static_cast<std::streamoff>(std::filesystem::file_size(damaged) / 2);
    f.seekg(offset);
    char c = 0;
    f.get(c);
    f.seekp(offset);
    f.put(static_cast<char>(c ^ 0x40));
  }
  try {
    verify(damaged);
    ADD_FAILURE() << "verify accepted a damaged file";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_THAT(e.what(), HasSubstr("CRC"));
  }
  const Error error = load_error(damaged);
  EXPECT_EQ(error.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(error.what(), HasSubstr("CRC"));
  EXPECT_NO_THROW(verify(file("plain.pt")));
}

}  // namespace
}  // namespace mnemo::testing
