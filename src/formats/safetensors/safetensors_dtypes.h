// The safetensors dtype names ("F32", "BF16", ...) in one table, shared by the reader and
// the writer: each name's mnemo dtype, and its place in the reference implementation's
// Dtype enum, whose order the reference writer sorts tensors by (reference §9).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "mnemo/core/dtype.h"

namespace mnemo::safetensors {

struct DTypeLookup {
  enum class Status : std::uint8_t {
    kSupported,    // `dtype` is mnemo's dtype for the name
    kUnsupported,  // a safetensors dtype mnemo has no dtype for (F4, F8_E8M0, ...)
    kUnknown,      // not a safetensors dtype at all
  };
  Status status = Status::kUnknown;
  DType dtype = DType::kUInt8;
};

DTypeLookup lookup_dtype(std::string_view name);

// The safetensors name of a dtype; nullopt for complex128, which the format lacks.
std::optional<std::string_view> wire_name(DType dtype);

// The dtype's position in the reference's Dtype enum (BOOL first, U64 last). The reference
// writer puts tensors in descending order of it, then in ascending order of their names.
// REQUIRES: wire_name(dtype) has a value.
int enum_position(DType dtype);

// "BOOL, U8, I8, ...": the names mnemo reads and writes, for messages.
std::string supported_names();

}  // namespace mnemo::safetensors
