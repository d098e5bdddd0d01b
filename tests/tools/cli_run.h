// Runs the mnemo command as a user would, capturing its exit code, stdout and stderr.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <string>

#include "support/bytes.h"
#include "support/python.h"

namespace mnemo::testing {

struct CliRun {
  int exit_code;
  std::string out;  // stdout
  std::string err;  // stderr
};

// `args` as a shell would split them; run from `cwd` when given, so that golden outputs
// can name files relative to it.
inline CliRun mnemo_cli(const std::string& args, const std::filesystem::path& cwd = {}) {
  TempDir capture;
  std::string command = std::string(MNEMO_CLI_PATH) + " " + args + " >" +
                        (capture / "out").string() + " 2>" + (capture / "err").string();
  if (!cwd.empty()) command = "cd '" + cwd.string() + "' && " + command;
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(capture / "out"),
          read_text(capture / "err")};
}

}  // namespace mnemo::testing
