// Progress on a terminal: mnemo draws bars on stderr only when it is a terminal, for
// work large enough to watch, and --quiet silences them. The terminal is a pseudo-terminal from script(1);
// without it the tests are skipped (elsewhere stderr is a file, and every test of the
// other files checks that nothing is drawn there).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>

#include "cli_run.h"
#include "mnemo/serialize.h"

namespace mnemo::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kScript = "/usr/bin/script";

// The command's stdout and stderr as a terminal shows them.
std::string on_terminal(const std::string& args, const std::filesystem::path& cwd) {
  const std::string command = "cd '" + cwd.string() + "' && " + kScript + " -qec '" +
                              MNEMO_CLI_PATH + " " + args + "' /dev/null 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return {};
  std::string output;
  std::array<char, 4096> buffer;
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe))
    output.append(buffer.data(), n);
  ::pclose(pipe);
  return output;
}

class MnemoProgress : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kScript, X_OK) != 0 ||
        std::system((std::string(kScript) + " -qec true /dev/null >/dev/null 2>&1").c_str()) != 0) {
      GTEST_SKIP() << "no terminal: " << kScript << " cannot open a pseudo-terminal here";
    }
    // 64 MiB of float32: enough work for a bar.
    save(Dict{{"w", zeros({16 << 20})}}, dir_ / "big.pt", {.fsync = false});
  }

  TempDir dir_;
};

constexpr const char* kFullBar = "[########################] 100% ";

TEST_F(MnemoProgress, BarsForWorkInsideLibraryCalls) {
  const std::string shown = on_terminal("verify big.pt", dir_.path());
  EXPECT_THAT(shown, HasSubstr(std::string("verifying big.pt ") + kFullBar));
  EXPECT_THAT(shown, HasSubstr("big.pt: OK (pt-zip"));
  const std::string quiet = on_terminal("verify --quiet big.pt", dir_.path());
  EXPECT_THAT(quiet, Not(HasSubstr("verifying")));
  EXPECT_THAT(quiet, HasSubstr("big.pt: OK (pt-zip"));

  // Reading checks every CRC; writing goes through the library's writer.
  const std::string converted =
      on_terminal("convert --no-fsync big.pt big.safetensors", dir_.path());
  EXPECT_THAT(converted, HasSubstr(std::string("reading big.pt ") + kFullBar + "64/64 MiB in "));
  EXPECT_THAT(converted, HasSubstr(std::string("writing big.safetensors ") + kFullBar));
  EXPECT_THAT(converted, HasSubstr("big.pt -> big.safetensors (safetensors)"));
  const std::string silent =
      on_terminal("convert --no-fsync --quiet big.pt big.safetensors", dir_.path());
  EXPECT_THAT(silent, Not(HasSubstr("reading")));
  EXPECT_THAT(silent, Not(HasSubstr("writing")));
}

TEST_F(MnemoProgress, NoBarForMappedReadsOrSmallWork) {
  // diff and inspect map the file, which reads nothing: no bar for that.
  const std::string inspected = on_terminal("inspect big.pt", dir_.path());
  EXPECT_THAT(inspected, Not(HasSubstr("reading")));
  EXPECT_THAT(inspected, HasSubstr("w"));
  save(Dict{{"w", zeros({1000})}}, dir_ / "small.pt", {.fsync = false});
  EXPECT_THAT(on_terminal("convert --no-fsync small.pt small.safetensors", dir_.path()),
              Not(HasSubstr("[")));
}

TEST_F(MnemoProgress, BarsForWorkTheCliCounts) {
  const std::string diff = on_terminal("diff big.pt big.pt", dir_.path());
  EXPECT_THAT(diff, HasSubstr(std::string("diff ") + kFullBar + "128/128 MiB in "));
  EXPECT_THAT(diff, Not(HasSubstr("reading")));
  EXPECT_THAT(diff, HasSubstr("equal: 1 key"));
  EXPECT_THAT(on_terminal("diff -q big.pt big.pt", dir_.path()), Not(HasSubstr("diff [")));

  const std::string cast =
      on_terminal("convert --no-fsync --dtype bf16 big.pt small.pt", dir_.path());
  EXPECT_THAT(cast, HasSubstr(std::string("cast ") + kFullBar + "64/64 MiB in "));
  EXPECT_THAT(cast, Not(HasSubstr("writing"))) << "32 MiB to write: too little for a bar";
  const std::string quiet =
      on_terminal("convert --no-fsync -q --dtype bf16 big.pt small.pt", dir_.path());
  EXPECT_THAT(quiet, Not(HasSubstr("cast [")));
  EXPECT_THAT(quiet, HasSubstr("big.pt -> small.pt (pt-zip)"));
}

}  // namespace
}  // namespace mnemo::testing
