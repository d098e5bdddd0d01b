// mnemo: inspect, verify and convert checkpoints. Exit codes: 0 success, 1 bad or
// mismatched input, 2 usage error. Errors are one line on stderr.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "commands.h"
#include "mnemo/core/error.h"
#include "mnemo/version.h"

namespace mnemo::cli {

std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) {
    digits.insert(static_cast<std::size_t>(i), ",");
  }
  return digits;
}

std::string human_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  int unit = -1;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f %s", value, kUnits[unit]);
  return buffer;
}

namespace {

int run(int argc, char** argv) {
  CLI::App app{"mnemo: inspect, verify and convert checkpoints (.pt, .safetensors)", "mnemo"};
  app.set_version_flag("--version", std::string("mnemo ") + kVersion);
  app.require_subcommand(1);

  InspectArgs inspect;
  CLI::App* inspect_cmd = app.add_subcommand("inspect", "Show what a checkpoint holds");
  inspect_cmd->add_option("FILE", inspect.file, "The checkpoint")->required();
  inspect_cmd->add_flag("--json", inspect.json, "Machine-readable output (see docs/cli.md)");
  inspect_cmd->add_flag("--hash", inspect.hash, "With --json: each tensor's sha256");

  VerifyArgs verify;
  CLI::App* verify_cmd = app.add_subcommand(
      "verify",
      "Check structure, every CRC-32 (.pt) and every tensor's bounds; exit 1 if invalid");
  verify_cmd->add_option("FILE", verify.file, "The checkpoint")->required();

  ConvertArgs convert;
  CLI::App* convert_cmd =
      app.add_subcommand("convert", "Re-write IN in the format OUT's extension names");
  convert_cmd->add_option("IN", convert.input, "The checkpoint to read")->required();
  convert_cmd
      ->add_option("OUT", convert.output,
                   "The file to write (.pt, .pth, .bin, .ckpt: PyTorch zip; .safetensors)")
      ->required();
  convert_cmd->add_option("--select", convert.select,
                          "Convert only the sub-tree under KEY (nested keys separated by '/'), "
                          "e.g. model_state_dict");
  convert_cmd->add_option("--metadata", convert.metadata,
                          "KEY=VALUE for the safetensors __metadata__ (repeatable)")
      ->allow_extra_args(false);
  convert_cmd->add_flag("--no-fsync", convert.no_fsync,
                        "Skip flushing to disk (faster; still never half-written)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  if (inspect_cmd->parsed()) {
    if (inspect.hash && !inspect.json) {
      std::cerr << "mnemo inspect: --hash needs --json\n";
      return kExitUsage;
    }
    return run_inspect(inspect);
  }
  if (verify_cmd->parsed()) return run_verify(verify);
  return run_convert(convert);
}

}  // namespace
}  // namespace mnemo::cli

int main(int argc, char** argv) {
  try {
    return mnemo::cli::run(argc, argv);
  } catch (const mnemo::Error& e) {
    std::cerr << "mnemo: error: " << e.what() << "\n";
    return mnemo::cli::kExitBadInput;
  } catch (const std::bad_alloc&) {
    std::cerr << "mnemo: error: out of memory\n";
    return mnemo::cli::kExitBadInput;
  } catch (const std::exception& e) {
    std::cerr << "mnemo: error: " << e.what() << "\n";
    return mnemo::cli::kExitBadInput;
  }
}
