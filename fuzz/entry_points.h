// The entry points of the fuzz targets: each feeds untrusted bytes to one reader. They
// return normally when the reader succeeds or refuses the input with a mnemo::Error;
// anything else — another exception, a crash, a sanitizer report — is a bug.
//
// The fuzzers (fuzz/*_fuzzer.cpp) and the regression replay (tests/regress/) call the
// same functions, so that a crash found by one is reproduced by the other.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace mnemo::fuzz {

// The zip reader: the directory, then every entry read with CRC checks.
void zip_reader(std::span<const std::byte> data);
// The unpickler, as data.pkl, with storages of the size each persistent id asks for (up
// to a cap), in strict and salvage modes; and with and without the fast paths for
// torch.save's tensors, which must give the same value or the same refusal.
void unpickler(std::span<const std::byte> data);
// mnemo::load from bytes, end to end (format detection, then any reader), and the .pt
// zip reader again as from a file (local headers deferred to the bulk read) and with
// tensors viewing the bytes, as an mmap load.
void pt_load(std::span<const std::byte> data);
// The legacy .pt reader (pickles chained with raw storages).
void pt_legacy(std::span<const std::byte> data);
// The safetensors reader, copying and viewing.
void safetensors(std::span<const std::byte> data);

struct Target {
  std::string_view name;  // the fuzzer is <name>_fuzzer; its corpus fuzz/corpus/<name>
  void (*run)(std::span<const std::byte>);
};

// Every target, in a fixed order.
std::span<const Target> targets();

}  // namespace mnemo::fuzz
