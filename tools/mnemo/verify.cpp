// mnemo verify: every record's CRC (.pt zip), the structure and every tensor's bounds.
#include <iostream>

#include "commands.h"
#include "mnemo/serialize.h"
#include "progress.h"

namespace mnemo::cli {

int run_verify(const VerifyArgs& args) {
  VerifyReport report;
  {
    CallProgress progress(bar_label("verifying", args.file), args.quiet);
    report = verify(args.file, {.progress = progress.function()});
  }
  std::cout << args.file << ": OK (" << file_format_name(report.format);
  if (report.format == FileFormat::kPtZip) {
    std::cout << ", " << grouped(report.records) << " records with valid CRC-32";
  }
  std::cout << ", " << plural(report.tensors, "tensor") << " within bounds, "
            << human_bytes(report.storage_bytes) << " of storage)\n";
  return kExitOk;
}

}  // namespace mnemo::cli
