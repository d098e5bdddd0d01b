#include "mnemo/core/dtype.h"

#include <array>
#include <cstring>
#include <utility>

namespace mnemo {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::size_t size;
};

// Indexed by the enumerator's value.
constexpr std::array<DTypeInfo, 17> kInfo = {{
    {DType::kFloat32, "float32", 4},
    {DType::kFloat64, "float64", 8},
    {DType::kFloat16, "float16", 2},
    {DType::kBFloat16, "bfloat16", 2},
    {DType::kInt8, "int8", 1},
    {DType::kUInt8, "uint8", 1},
    {DType::kInt16, "int16", 2},
    {DType::kInt32, "int32", 4},
    {DType::kInt64, "int64", 8},
    {DType::kBool, "bool", 1},
    {DType::kComplex64, "complex64", 8},
    {DType::kComplex128, "complex128", 16},
    {DType::kUInt16, "uint16", 2},
    {DType::kUInt32, "uint32", 4},
    {DType::kUInt64, "uint64", 8},
    {DType::kFloat8E4M3FN, "float8_e4m3fn", 1},
    {DType::kFloat8E5M2, "float8_e5m2", 1},
}};

// PyTorch's aliases (torch.float is float32, torch.long is int64, ...).
constexpr std::pair<std::string_view, DType> kAliases[] = {
    {"float", DType::kFloat32},     {"double", DType::kFloat64},
    {"half", DType::kFloat16},      {"short", DType::kInt16},
    {"int", DType::kInt32},         {"long", DType::kInt64},
    {"cfloat", DType::kComplex64},  {"cdouble", DType::kComplex128},
};

constexpr bool indexed_by_value() {
  for (std::size_t i = 0; i < kInfo.size(); ++i) {
    if (static_cast<std::size_t>(kInfo[i].dtype) != i) return false;
  }
  return true;
}
static_assert(indexed_by_value(), "kInfo must list the dtypes in enumerator order");

const DTypeInfo& info(DType dtype) { return kInfo[static_cast<std::size_t>(dtype)]; }

}  // namespace

std::string_view dtype_name(DType dtype) { return info(dtype).name; }

std::size_t element_size(DType dtype) { return info(dtype).size; }

std::optional<DType> dtype_from_name(std::string_view name) {
  if (name.starts_with("torch.")) name.remove_prefix(6);
  for (const auto& entry : kInfo) {
    if (entry.name == name) return entry.dtype;
  }
  for (const auto& [alias, dtype] : kAliases) {
    if (alias == name) return dtype;
  }
  return std::nullopt;
}

bool is_floating_point(DType dtype) {
  return dtype == DType::kFloat32 || dtype == DType::kFloat64 || dtype == DType::kFloat16 ||
         dtype == DType::kBFloat16 || dtype == DType::kFloat8E4M3FN ||
         dtype == DType::kFloat8E5M2;
}

bool is_complex(DType dtype) {
  return dtype == DType::kComplex64 || dtype == DType::kComplex128;
}

bool is_integral(DType dtype, bool include_bool) {
  switch (dtype) {
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kUInt16:
    case DType::kUInt32:
    case DType::kUInt64: return true;
    case DType::kBool: return include_bool;
    default: return false;
  }
}

void convert_elements(const void* src, DType src_dtype, void* dst, DType dst_dtype,
                      std::size_t count) {
  if (count == 0) return;
  if (src_dtype == DType::kBool && dst_dtype == DType::kBool) {
    // Bool bytes may come from a file: write canonical 0/1 so that the result can be read
    // as bool without undefined behaviour. src == dst is allowed.
    const auto* in = static_cast<const std::uint8_t*>(src);
    auto* out = static_cast<std::uint8_t*>(dst);
    for (std::size_t i = 0; i < count; ++i) out[i] = in[i] != 0 ? 1 : 0;
    return;
  }
  if (src_dtype == dst_dtype) {
    if (src != dst) std::memcpy(dst, src, count * element_size(src_dtype));
    return;
  }
  visit_dtype(src_dtype, [&](auto src_tag) {
    using From = decltype(src_tag);
    visit_dtype(dst_dtype, [&](auto dst_tag) {
      using To = decltype(dst_tag);
      auto* out = static_cast<To*>(dst);
      if constexpr (std::is_same_v<From, bool>) {
        // Bool bytes may come from a file: any non-zero byte is true, never UB.
        const auto* in = static_cast<const std::uint8_t*>(src);
        for (std::size_t i = 0; i < count; ++i) out[i] = convert_element<To>(in[i] != 0);
      } else {
        const auto* in = static_cast<const From*>(src);
        for (std::size_t i = 0; i < count; ++i) out[i] = convert_element<To>(in[i]);
      }
    });
  });
}

}  // namespace mnemo
