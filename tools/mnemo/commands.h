// The subcommands of the mnemo CLI. Each prints its result to stdout and returns the
// process exit code; errors propagate as mnemo::Error to main, which prints one line.
// Progress goes to stderr, and only when stderr is a terminal (see progress.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mnemo::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitBadInput = 1;  // invalid, damaged or differing input
inline constexpr int kExitUsage = 2;

struct InspectArgs {
  std::string file;
  bool json = false;
  bool hash = false;
  std::optional<int> depth;  // levels of the tree to show; nullopt: as many as fit
  std::string filter;        // fnmatch pattern on each leaf's dotted key
  bool all = false;          // no collapsing of wide levels, no automatic depth
  bool quiet = false;
};
int run_inspect(const InspectArgs& args);

struct VerifyArgs {
  std::string file;
  bool quiet = false;
};
int run_verify(const VerifyArgs& args);

struct ConvertArgs {
  std::string input;
  std::string output;
  bool no_fsync = false;
  bool quiet = false;
  std::string only;                        // "KEY/KEY": convert only this sub-tree
  bool strip_training_state = false;       // keep only the model's state_dict
  std::vector<std::string> rename_prefix;  // "OLD=NEW", first match wins per key
  std::string dtype;                       // "bf16", "f16", "f32" (floating tensors only)
  std::vector<std::string> metadata;       // "KEY=VALUE" for a .safetensors output
};
int run_convert(const ConvertArgs& args);

struct DiffArgs {
  std::string a;
  std::string b;
  double atol = 0;
  double rtol = 0;
  bool json = false;
  bool all = false;  // list every key, not the first few of each section
  bool quiet = false;
};
int run_diff(const DiffArgs& args);

// "1.5 KiB", "12 B".
std::string human_bytes(std::uint64_t bytes);
// "1,234,567".
std::string grouped(std::uint64_t n);
// A count to read at a glance: exact below 10,000 ("1,234"), then "12.3 k", "1.2 M",
// "7.0 B".
std::string human_count(std::uint64_t n);
// "1 tensor", "2 tensors": `n` grouped, then the noun, with an "s" unless n is 1.
std::string plural(std::uint64_t n, const std::string& noun);

}  // namespace mnemo::cli
