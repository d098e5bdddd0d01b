// One libFuzzer target: MNEMO_FUZZ_ENTRY names the entry point (fuzz/entry_points.h).
#include <cstddef>
#include <cstdint>
#include <span>

#include "entry_points.h"

#ifndef MNEMO_FUZZ_ENTRY
#error "define MNEMO_FUZZ_ENTRY to the entry point this target fuzzes"
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mnemo::fuzz::MNEMO_FUZZ_ENTRY(std::as_bytes(std::span(data, size)));
  return 0;
}
