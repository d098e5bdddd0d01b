#include "formats/safetensors/safetensors_dtypes.h"

#include "mnemo/core/error.h"

namespace mnemo::safetensors {
namespace {

struct Entry {
  std::string_view name;
  std::optional<DType> dtype;  // nullopt: valid in the format, not supported by mnemo
};

// In the order of the reference's Dtype enum (safetensors/src/tensor.rs). The sub-byte
// and exotic float formats have no mnemo dtype.
constexpr Entry kTable[] = {
    {"BOOL", DType::kBool},
    {"F4", std::nullopt},
    {"F6_E2M3", std::nullopt},
    {"F6_E3M2", std::nullopt},
    {"U8", DType::kUInt8},
    {"I8", DType::kInt8},
    {"F8_E5M2", DType::kFloat8E5M2},
    {"F8_E4M3", DType::kFloat8E4M3FN},  // PyTorch's float8_e4m3fn (safetensors torch.py)
    {"F8_E8M0", std::nullopt},
    {"F8_E4M3FNUZ", std::nullopt},
    {"F8_E5M2FNUZ", std::nullopt},
    {"I16", DType::kInt16},
    {"U16", DType::kUInt16},
    {"F16", DType::kFloat16},
    {"BF16", DType::kBFloat16},
    {"I32", DType::kInt32},
    {"U32", DType::kUInt32},
    {"F32", DType::kFloat32},
    {"C64", DType::kComplex64},
    {"F64", DType::kFloat64},
    {"I64", DType::kInt64},
    {"U64", DType::kUInt64},
};

// Compared inline, character by character: the names are a few bytes, for which a call
// to memcmp per candidate costs more than the comparison.
bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

}  // namespace

DTypeLookup lookup_dtype(std::string_view name) {
  for (const Entry& entry : kTable) {
    if (!same_name(entry.name, name)) continue;
    if (!entry.dtype) return {DTypeLookup::Status::kUnsupported, DType::kUInt8};
    return {DTypeLookup::Status::kSupported, *entry.dtype};
  }
  return {};
}

std::optional<std::string_view> wire_name(DType dtype) {
  for (const Entry& entry : kTable) {
    if (entry.dtype == dtype) return entry.name;
  }
  return std::nullopt;
}

int enum_position(DType dtype) {
  for (std::size_t i = 0; i < std::size(kTable); ++i) {
    if (kTable[i].dtype == dtype) return static_cast<int>(i);
  }
  fail(ErrorCode::kInvalidArgument, "safetensors has no name for dtype ", mnemo::dtype_name(dtype));
}

std::string supported_names() {
  std::string out;
  for (const Entry& entry : kTable) {
    if (!entry.dtype) continue;
    if (!out.empty()) out += ", ";
    out += entry.name;
  }
  return out;
}

}  // namespace mnemo::safetensors
