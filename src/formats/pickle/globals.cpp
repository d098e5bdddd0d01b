#include "formats/pickle/globals.h"

#include <cctype>

namespace mnemo::pickle {
namespace {

using Kind = GlobalKind;

struct Allowed {
  GlobalName global;
  GlobalKind kind;
};

// Globals with a fixed module. Builtins are listed under both spellings: protocol 2
// writes "__builtin__", protocols 3 and later write "builtins".
constexpr Allowed kAllowed[] = {
    {{"collections", "OrderedDict"}, Kind::kOrderedDict},
    {{"collections", "Counter"}, Kind::kCounter},
    {{"torch._utils", "_rebuild_tensor"}, Kind::kRebuildTensor},
    {{"torch._utils", "_rebuild_tensor_v2"}, Kind::kRebuildTensorV2},
    {{"torch._utils", "_rebuild_tensor_v3"}, Kind::kRebuildTensorV3},
    {{"torch._utils", "_rebuild_parameter"}, Kind::kRebuildParameter},
    {{"torch._utils", "_rebuild_parameter_with_state"}, Kind::kRebuildParameterWithState},
    {{"torch._tensor", "_rebuild_from_type_v2"}, Kind::kRebuildFromTypeV2},
    {{"torch.nn.parameter", "Parameter"}, Kind::kParameterClass},
    {{"torch", "Tensor"}, Kind::kTensorClass},
    {{"torch._tensor", "Tensor"}, Kind::kTensorClass},
    {{"torch", "UntypedStorage"}, Kind::kUntypedStorage},
    {{"torch.storage", "UntypedStorage"}, Kind::kUntypedStorage},
    {{"torch", "_UntypedStorage"}, Kind::kUntypedStorage},  // its name in 1.12
    {{"torch", "Size"}, Kind::kSize},
    {{"torch", "device"}, Kind::kDevice},
    {{"_codecs", "encode"}, Kind::kCodecsEncode},
    {{"__builtin__", "bytes"}, Kind::kBytes},
    {{"builtins", "bytes"}, Kind::kBytes},
    {{"__builtin__", "bytearray"}, Kind::kByteArray},
    {{"builtins", "bytearray"}, Kind::kByteArray},
    {{"__builtin__", "set"}, Kind::kSet},
    {{"builtins", "set"}, Kind::kSet},
    {{"__builtin__", "frozenset"}, Kind::kFrozenSet},
    {{"builtins", "frozenset"}, Kind::kFrozenSet},
};

struct Refused {
  GlobalName global;
  std::string_view reason;
};

constexpr std::string_view kSparse = "sparse tensors are not supported";
constexpr std::string_view kQuantized = "quantized tensors are not supported";

constexpr Refused kRefused[] = {
    {{"torch.serialization", "_get_layout"}, kSparse},
    {{"torch._utils", "_rebuild_sparse_tensor"}, kSparse},
    {{"torch._utils", "_rebuild_sparse_csr_tensor"}, kSparse},
    {{"torch._utils", "_rebuild_qtensor"}, kQuantized},
    {{"torch", "per_tensor_affine"}, kQuantized},
    {{"torch", "per_tensor_symmetric"}, kQuantized},
    {{"torch", "per_channel_affine"}, kQuantized},
    {{"torch", "per_channel_symmetric"}, kQuantized},
    {{"torch", "per_channel_affine_float_qparams"}, kQuantized},
    {{"torch._utils", "_rebuild_meta_tensor_no_storage"},
     "meta tensors (which hold no data) are not supported"},
    {{"torch._utils", "_rebuild_device_tensor_from_numpy"},
     "tensors of XLA/ORT/HPU devices are not supported"},
    {{"torch._utils", "_rebuild_device_tensor_from_cpu_tensor"},
     "tensors of XLA/ORT/HPU devices are not supported"},
    {{"torch._utils", "_rebuild_nested_tensor"}, "nested tensors are not supported"},
    {{"torch._utils", "_rebuild_wrapper_subclass"},
     "tensor subclasses (wrapper subclasses) are not supported"},
    {{"__builtin__", "complex"}, "complex numbers are not supported outside tensors"},
    {{"builtins", "complex"}, "complex numbers are not supported outside tensors"},
    {{"numpy.core.multiarray", "_reconstruct"},
     "numpy arrays are not supported; save them as tensors"},
    {{"numpy.core.multiarray", "scalar"},
     "numpy scalars are not supported; save them as Python numbers"},
};

// torch.storage._dtype_to_storage_type_map (1.13 and 2.x).
struct StorageClass {
  DType dtype;
  std::string_view name;
};
constexpr StorageClass kStorageClasses[] = {
    {DType::kFloat64, "DoubleStorage"},
    {DType::kFloat32, "FloatStorage"},
    {DType::kFloat16, "HalfStorage"},
    {DType::kBFloat16, "BFloat16Storage"},
    {DType::kInt64, "LongStorage"},
    {DType::kInt32, "IntStorage"},
    {DType::kInt16, "ShortStorage"},
    {DType::kInt8, "CharStorage"},
    {DType::kUInt8, "ByteStorage"},
    {DType::kBool, "BoolStorage"},
    {DType::kComplex128, "ComplexDoubleStorage"},
    {DType::kComplex64, "ComplexFloatStorage"},
};
constexpr std::string_view kQuantizedStorageClasses[] = {
    "QInt8Storage", "QUInt8Storage", "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage",
};

// Every torch.dtype a pickle may name (GLOBAL 'torch <name>'), canonical names only:
// pickle writes dtypes by their canonical name.
constexpr std::string_view kTorchDTypes[] = {
    "float32", "float64", "float16", "bfloat16", "complex32", "complex64", "complex128",
    "uint8", "int8", "int16", "int32", "int64", "bool", "qint8", "quint8", "qint32",
    "quint4x2", "quint2x4", "float8_e5m2", "float8_e4m3fn", "float8_e5m2fnuz",
    "float8_e4m3fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2", "uint16", "uint32", "uint64",
    "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16", "int1", "int2", "int3", "int4",
    "int5", "int6", "int7", "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7",
};

}  // namespace

std::string qualified_name(std::string_view module, std::string_view name) {
  std::string out(module);
  out += '.';
  out += name;
  return out;
}

GlobalLookup lookup_global(std::string_view module, std::string_view name) {
  using Status = GlobalLookup::Status;
  for (const Allowed& entry : kAllowed) {
    if (entry.global.module == module && entry.global.name == name) {
      return {Status::kAllowed, entry.kind, DType::kUInt8, {}};
    }
  }
  for (const Refused& entry : kRefused) {
    if (entry.global.module == module && entry.global.name == name) {
      return {Status::kRefused, GlobalKind::kOrderedDict, DType::kUInt8, entry.reason};
    }
  }
  {
    // PyTorch maps a storage class name to its storage type whatever the module, so that
    // torch.cuda.FloatStorage of old files loads too. Only a dtype comes of it.
    for (const StorageClass& entry : kStorageClasses) {
      if (entry.name == name) return {Status::kAllowed, GlobalKind::kStorageClass, entry.dtype, {}};
    }
    for (std::string_view quantized : kQuantizedStorageClasses) {
      if (quantized == name) return {Status::kRefused, GlobalKind::kOrderedDict, DType::kUInt8, kQuantized};
    }
  }
  if (module == "torch") {
    for (std::string_view dtype : kTorchDTypes) {
      if (dtype == name) return {Status::kAllowed, GlobalKind::kDType, DType::kUInt8, {}};
    }
  }
  return {};
}

bool looks_like_class(std::string_view name) {
  const std::size_t dot = name.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? name : name.substr(dot + 1);
  return !last.empty() && std::isupper(static_cast<unsigned char>(last.front()));
}

std::optional<std::string_view> storage_class_name(DType dtype) {
  for (const StorageClass& entry : kStorageClasses) {
    if (entry.dtype == dtype) return entry.name;
  }
  return std::nullopt;
}

}  // namespace mnemo::pickle
