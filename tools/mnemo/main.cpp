// mnemo: inspect, verify, compare and convert checkpoints. Exit codes: 0 success, 1 bad,
// damaged or differing input, 2 usage error. Errors are one line on stderr.
#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string_view>

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

std::string human_count(std::uint64_t n) {
  if (n < 10000) return grouped(n);
  static constexpr const char* kUnits[] = {"k", "M", "B", "T"};
  double value = static_cast<double>(n);
  int unit = -1;
  while (value >= 1000 && unit < 3) {
    value /= 1000;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f %s", value, kUnits[unit]);
  return buffer;
}

std::string plural(std::uint64_t n, const std::string& noun) {
  return grouped(n) + " " + noun + (n == 1 ? "" : "s");
}

namespace {

constexpr std::string_view kCommands[] = {"inspect", "verify", "diff", "convert", "help"};

// Each footer starts with a newline, so that it reads here as it prints; the + 1 where it
// is set skips that newline.
constexpr const char* kMainFooter = R"(
Examples:
  mnemo inspect model.pt                   what model.pt holds, as a tree of modules
  mnemo diff model.pt model.safetensors    what differs, and why one won't load where
                                           the other does
  mnemo convert --strip-training-state ckpt.pt model.safetensors
                                           the weights of a training checkpoint, for
                                           deployment
  mnemo verify ckpt.pt                     every CRC-32 and every tensor's bounds

'mnemo help COMMAND' (or 'mnemo COMMAND --help') shows a command's options and examples.
Every command reads .pt (torch.save, zip or legacy) and .safetensors files.
Exit codes: 0 success, 1 bad, damaged or differing input, 2 usage error.)";

constexpr const char* kInspectFooter = R"(
The tree groups dotted keys by module (layer1.0.conv.weight under layer1, then 0, then
conv) with tensor, parameter and byte counts per subtree. A level with more than 50
entries is summarised on one line ("layers.0 ... layers.99: 100 subtrees, ..."), and a
tree longer than a screenful is shown only as deep as fits: --depth and --all show more.

Examples:
  mnemo inspect model.pt
  mnemo inspect --depth 2 model.safetensors        the top two levels only
  mnemo inspect --filter '*.bias' model.pt         the biases (fnmatch on dotted keys)
  mnemo inspect --filter 'layers.3.*' --all model.pt
  mnemo inspect --json --hash model.pt             machine-readable, with sha256s)";

constexpr const char* kVerifyFooter = R"(
Examples:
  mnemo verify ckpt.pt
  mnemo verify model.safetensors && echo intact)";

constexpr const char* kDiffFooter = R"(
Both files are flattened to dotted keys (model_state_dict.fc.weight), so a nested .pt
compares against a flat .safetensors. Two values are equal when
|a - b| <= atol + rtol * |b|, as torch.allclose with b as the reference; with both
tolerances 0 (the default) they must match exactly. NaN equals NaN at the same position;
an infinity equals only itself. Values are compared as double (integers exactly), across
dtypes too: a dtype change is reported, and the values are still compared. A key that
differs only in its prefix (module.) or a training checkpoint against a state_dict gets a
hint with the mnemo convert command that makes them match.

Exit codes: 0 equal within the tolerance, 1 different (or unreadable), 2 usage error.

Examples:
  mnemo diff model.pt model.safetensors
  mnemo diff --rtol 1e-3 model-f32.pt model-bf16.safetensors
  mnemo diff ckpt.pt model.pt          a training checkpoint against a state_dict
  mnemo diff --json a.pt b.pt > diff.json)";

constexpr const char* kConvertFooter = R"(
The output's extension picks its format: .pt, .pth, .bin, .ckpt write PyTorch's zip
format (what torch.save writes), .safetensors writes safetensors. Options apply in this
order: --only or --strip-training-state, then --rename-prefix, then --dtype.

--rename-prefix renames the keys of every dict that holds tensors (a state_dict, also the
one inside a training checkpoint), and the module names of its _metadata; each key is
renamed by the first rule whose OLD it starts with. Two keys renamed to one name are an
error, and nothing is written.

Examples:
  mnemo convert model.pt model.safetensors
  mnemo convert --strip-training-state ckpt.pt weights.pt
  mnemo convert --only model_state_dict ckpt.pt model.safetensors
  mnemo convert --rename-prefix module.= ddp.pt plain.pt     DataParallel's prefix off
  mnemo convert --dtype bf16 model.pt model-bf16.safetensors
  mnemo convert --metadata format=pt model.pt model.safetensors)";

constexpr const char* kHelpFooter = R"(
Examples:
  mnemo help
  mnemo help diff)";

bool known_command(std::string_view name) {
  for (std::string_view command : kCommands) {
    if (command == name) return true;
  }
  return false;
}

int usage_error(const std::string& command, const std::string& message) {
  std::cerr << "mnemo " << command << ": " << message << "\n";
  return kExitUsage;
}

int run(int argc, char** argv) {
  CLI::App app{
      "mnemo: inspect, verify, compare and convert PyTorch checkpoints (.pt, .safetensors)",
      "mnemo"};
  app.set_version_flag("--version", std::string("mnemo ") + kVersion);
  app.require_subcommand(1);
  app.footer(kMainFooter + 1);
  // Parse errors as one line that names the command, like the commands' own usage errors.
  app.failure_message([](const CLI::App* root, const CLI::Error& e) {
    const auto selected = root->get_subcommands();
    const std::string command = selected.empty() ? "" : " " + selected.front()->get_name();
    const std::string help = selected.empty() ? "mnemo --help" : "mnemo help" + command;
    return "mnemo" + command + ": " + e.what() + " (see '" + help + "')\n";
  });

  InspectArgs inspect;
  CLI::App* inspect_cmd = app.add_subcommand("inspect", "Show what a checkpoint holds");
  inspect_cmd->add_option("FILE", inspect.file, "The checkpoint")->required();
  inspect_cmd
      ->add_option("--depth", inspect.depth, "Show N levels of the tree (0: the totals only)")
      ->type_name("N")
      ->check(
          [](const std::string& text) {
            int value = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
            return ec == std::errc() && end == text.data() + text.size() && value >= 0
                       ? std::string()
                       : "must be a whole number >= 0, got '" + text + "'";
          },
          "");
  inspect_cmd
      ->add_option("--filter", inspect.filter,
                   "Only keys matching GLOB (fnmatch on the whole dotted key: * matches "
                   "dots too)")
      ->type_name("GLOB");
  inspect_cmd->add_flag("--all", inspect.all, "Show every entry: no summarised levels, any depth");
  inspect_cmd->add_flag("--json", inspect.json, "Machine-readable output (see docs/cli.md)");
  inspect_cmd->add_flag("--hash", inspect.hash, "With --json: each tensor's sha256");
  inspect_cmd->add_flag("-q,--quiet", inspect.quiet, "No progress on stderr");
  inspect_cmd->footer(kInspectFooter + 1);

  VerifyArgs verify;
  CLI::App* verify_cmd = app.add_subcommand(
      "verify", "Check structure, every CRC-32 (.pt) and every tensor's bounds; exit 1 if invalid");
  verify_cmd->add_option("FILE", verify.file, "The checkpoint")->required();
  verify_cmd->add_flag("-q,--quiet", verify.quiet, "No progress on stderr");
  verify_cmd->footer(kVerifyFooter + 1);

  DiffArgs diff;
  CLI::App* diff_cmd = app.add_subcommand(
      "diff", "Compare two checkpoints, in any formats: keys, dtypes, shapes and values");
  diff_cmd->add_option("A", diff.a, "The first checkpoint (the reference)")->required();
  diff_cmd->add_option("B", diff.b, "The second checkpoint")->required();
  diff_cmd->add_option("--atol", diff.atol, "Absolute tolerance (default 0)")->type_name("X");
  diff_cmd->add_option("--rtol", diff.rtol, "Relative tolerance, times |b| (default 0)")
      ->type_name("Y");
  diff_cmd->add_flag("--json", diff.json, "Machine-readable output (see docs/cli.md)");
  diff_cmd->add_flag("--all", diff.all, "List every key (the text lists 20 per section)");
  diff_cmd->add_flag("-q,--quiet", diff.quiet, "No progress on stderr");
  diff_cmd->footer(kDiffFooter + 1);

  ConvertArgs convert;
  CLI::App* convert_cmd =
      app.add_subcommand("convert", "Re-write IN in the format OUT's extension names");
  convert_cmd->add_option("IN", convert.input, "The checkpoint to read")->required();
  convert_cmd
      ->add_option("OUT", convert.output,
                   "The file to write (.pt, .pth, .bin, .ckpt: PyTorch zip; .safetensors)")
      ->required();
  convert_cmd
      ->add_option("--only,--select", convert.only,
                   "Write only the sub-tree under KEY (nested keys separated by '/'), e.g. "
                   "model_state_dict")
      ->type_name("KEY");
  convert_cmd->add_flag("--strip-training-state", convert.strip_training_state,
                        "Write only the model's weights of a training checkpoint (its "
                        "model_state_dict, state_dict or model), dropping optimizer state, "
                        "epoch and the rest");
  convert_cmd
      ->add_option("--rename-prefix", convert.rename_prefix,
                   "Rename keys starting with OLD to start with NEW (repeatable); "
                   "module.= removes DataParallel's 'module.'")
      ->type_name("OLD=NEW")
      ->allow_extra_args(false);
  convert_cmd
      ->add_option("--dtype", convert.dtype,
                   "Cast floating-point tensors to bf16, f16 or f32 (integer, bool and "
                   "complex tensors are kept)")
      ->type_name("DTYPE");
  convert_cmd
      ->add_option("--metadata", convert.metadata,
                   "KEY=VALUE for the safetensors __metadata__ (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  convert_cmd->add_flag("--no-fsync", convert.no_fsync,
                        "Skip flushing to disk (faster; still never half-written)");
  convert_cmd->add_flag("-q,--quiet", convert.quiet, "No progress on stderr");
  convert_cmd->footer(kConvertFooter + 1);

  std::string topic;
  CLI::App* help_cmd = app.add_subcommand("help", "Show the help of mnemo or of a command");
  help_cmd->add_option("COMMAND", topic, "inspect, verify, diff or convert");
  help_cmd->footer(kHelpFooter + 1);

  // A misspelt command is named as such, rather than as an unexpected argument.
  if (argc > 1 && argv[1][0] != '-' && !known_command(argv[1])) {
    std::cerr << "mnemo: unknown command '" << argv[1]
              << "': the commands are inspect, verify, diff, convert and help (see 'mnemo "
                 "--help')\n";
    return kExitUsage;
  }
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

  if (help_cmd->parsed()) {
    if (topic.empty() || topic == "help") {
      // app.help() would describe the command parsed, "help" itself.
      std::cout << (topic.empty()
                        ? app.get_formatter()->make_help(&app, "mnemo", CLI::AppFormatMode::Normal)
                        : help_cmd->help("mnemo"));
      return kExitOk;
    }
    for (CLI::App* command : {inspect_cmd, verify_cmd, diff_cmd, convert_cmd}) {
      if (command->get_name() == topic) {
        std::cout << command->help("mnemo");
        return kExitOk;
      }
    }
    return usage_error(
        "help", "no command '" + topic + "': the commands are inspect, verify, diff and convert");
  }
  if (inspect_cmd->parsed()) {
    if (inspect.hash && !inspect.json) return usage_error("inspect", "--hash needs --json");
    if (inspect.json && (inspect.depth || !inspect.filter.empty() || inspect.all)) {
      return usage_error("inspect",
                         "--depth, --filter and --all shape the text tree; --json always "
                         "writes the whole content");
    }
    return run_inspect(inspect);
  }
  if (verify_cmd->parsed()) return run_verify(verify);
  if (diff_cmd->parsed()) {
    for (const auto& [name, value] :
         {std::pair{"--atol", diff.atol}, std::pair{"--rtol", diff.rtol}}) {
      if (!(value >= 0) || std::isinf(value)) {
        return usage_error("diff", std::string(name) + " must be a finite number >= 0");
      }
    }
    return run_diff(diff);
  }
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
