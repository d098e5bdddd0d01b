// mnemo's help: the overview, `mnemo help COMMAND` (the same text as COMMAND --help), an
// example section in every command's help, --version, and the usage errors (exit 2).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli_run.h"
#include "mnemo/version.h"

namespace mnemo::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kCommands[] = {"inspect", "verify", "diff", "convert"};

TEST(MnemoHelp, OverviewListsCommandsExamplesAndExitCodes) {
  const CliRun run = mnemo_cli("--help");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_THAT(run.out,
              StartsWith("mnemo: inspect, verify, compare and convert PyTorch checkpoints"));
  for (const char* command : kCommands)
    EXPECT_THAT(run.out, HasSubstr(std::string("  ") + command + " ")) << command;
  EXPECT_THAT(run.out, HasSubstr("Examples:\n  mnemo inspect model.pt"));
  EXPECT_THAT(run.out, HasSubstr("'mnemo help COMMAND'"));
  EXPECT_THAT(
      run.out,
      HasSubstr("Exit codes: 0 success, 1 bad, damaged or differing input, 2 usage error.\n"));
  EXPECT_EQ(mnemo_cli("help").out, run.out);
  EXPECT_EQ(mnemo_cli("-h").out, run.out);
}

TEST(MnemoHelp, EveryCommandHasExamples) {
  for (const char* command : kCommands) {
    const CliRun help = mnemo_cli(std::string("help ") + command);
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_THAT(help.out, HasSubstr(std::string("Usage: mnemo ") + command + " [OPTIONS]"))
        << command;
    EXPECT_THAT(help.out, HasSubstr("Examples:\n  mnemo " + std::string(command))) << command;
    const CliRun flag = mnemo_cli(std::string(command) + " --help");
    EXPECT_EQ(flag.exit_code, 0) << command;
    EXPECT_EQ(flag.out, help.out) << command;
  }
  EXPECT_THAT(mnemo_cli("help help").out, HasSubstr("mnemo help diff"));
}

TEST(MnemoHelp, DiffHelpStatesTheToleranceRules) {
  const CliRun run = mnemo_cli("help diff");
  EXPECT_THAT(run.out, HasSubstr("|a - b| <= atol + rtol * |b|"));
  EXPECT_THAT(run.out, HasSubstr("NaN equals NaN at the same position"));
  EXPECT_THAT(run.out, HasSubstr("--atol X"));
  EXPECT_THAT(run.out, HasSubstr("--rtol Y"));
  EXPECT_THAT(run.out, HasSubstr("Exit codes: 0 equal within the tolerance, 1 different"));
}

TEST(MnemoHelp, ConvertHelpNamesEveryOption) {
  const CliRun run = mnemo_cli("help convert");
  for (const char* option :
       {"--only,--select KEY", "--strip-training-state", "--rename-prefix OLD=NEW", "--dtype DTYPE",
        "--metadata KEY=VALUE", "--no-fsync", "-q,--quiet"}) {
    EXPECT_THAT(run.out, HasSubstr(option)) << option;
  }
}

TEST(MnemoHelp, Version) {
  const CliRun run = mnemo_cli("--version");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.out, std::string("mnemo ") + kVersion + "\n");
}

TEST(MnemoHelp, UsageErrorsExitTwo) {
  const CliRun none = mnemo_cli("");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_EQ(none.err, "mnemo: A subcommand is required (see 'mnemo --help')\n");
  const CliRun unknown = mnemo_cli("frobnicate x.pt");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.err,
            "mnemo: unknown command 'frobnicate': the commands are inspect, verify, diff, "
            "convert and help (see 'mnemo --help')\n");
  const CliRun topic = mnemo_cli("help nope");
  EXPECT_EQ(topic.exit_code, 2);
  EXPECT_EQ(topic.err,
            "mnemo help: no command 'nope': the commands are inspect, verify, diff and "
            "convert\n");
  // Parse errors are one line naming the command and where its help is.
  const CliRun missing = mnemo_cli("diff a.pt");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.err, "mnemo diff: B is required (see 'mnemo help diff')\n");
  const CliRun option = mnemo_cli("inspect --bogus a.pt");
  EXPECT_EQ(option.exit_code, 2);
  EXPECT_EQ(option.err,
            "mnemo inspect: The following argument was not expected: --bogus (see 'mnemo help "
            "inspect')\n");
  const CliRun depth = mnemo_cli("inspect --depth -1 a.pt");
  EXPECT_EQ(depth.exit_code, 2);
  EXPECT_EQ(depth.err,
            "mnemo inspect: --depth: must be a whole number >= 0, got '-1' (see 'mnemo help "
            "inspect')\n");
  for (const char* command : kCommands) {
    EXPECT_EQ(mnemo_cli(command).exit_code, 2) << command;  // a required file is missing
    EXPECT_EQ(mnemo_cli(std::string(command) + " --no-such-option a b").exit_code, 2) << command;
  }
}

}  // namespace
}  // namespace mnemo::testing
