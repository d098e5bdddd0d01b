// mnemo convert: re-writes a checkpoint in the format its output name asks for, keeping
// structure, dtypes, shared storages, views and device tags.
#include <algorithm>
#include <iostream>

#include "commands.h"
#include "mnemo/serialize.h"

namespace mnemo::cli {
namespace {

constexpr std::string_view kPtExtensions[] = {".pt", ".pth", ".bin", ".ckpt"};

}  // namespace

int run_convert(const ConvertArgs& args) {
  const std::string extension = std::filesystem::path(args.output).extension().string();
  if (std::find(std::begin(kPtExtensions), std::end(kPtExtensions), extension) ==
      std::end(kPtExtensions)) {
    std::cerr << "mnemo convert: cannot tell the output format from '" << args.output
              << "': use a .pt, .pth, .bin or .ckpt name (PyTorch zip format)\n";
    return kExitUsage;
  }
  const Value content = load(args.input, {.map_location = MapLocation::keep_saved(),
                                          .mmap = true,
                                          .mmap_mode = MapMode::kReadOnly,
                                          .verify_crc = true});
  save(content, args.output, {.fsync = !args.no_fsync});
  std::cout << args.input << " -> " << args.output << " (pt-zip)\n";
  return kExitOk;
}

}  // namespace mnemo::cli
