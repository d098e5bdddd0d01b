// The subcommands of the mnemo CLI. Each prints its result to stdout and returns the
// process exit code; errors propagate as mnemo::Error to main, which prints one line.
#pragma once

#include <cstdint>
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
};
int run_inspect(const InspectArgs& args);

struct VerifyArgs {
  std::string file;
};
int run_verify(const VerifyArgs& args);

struct ConvertArgs {
  std::string input;
  std::string output;
  bool no_fsync = false;
  std::string select;                 // "KEY/KEY": convert only this sub-tree
  std::vector<std::string> metadata;  // "KEY=VALUE" for a .safetensors output
};
int run_convert(const ConvertArgs& args);

// "1.5 KiB", "12 B".
std::string human_bytes(std::uint64_t bytes);
// "1,234,567".
std::string grouped(std::uint64_t n);

}  // namespace mnemo::cli
