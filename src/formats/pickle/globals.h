// The names a PyTorch pickle uses — the allowed globals, the storage classes of each
// dtype, the persistent-id tags — in one table that the reader and the writer share.
//
// A global is a (module, name) pair that GLOBAL or STACK_GLOBAL puts on the stack. The
// reader resolves it here and nowhere else: a name in the table maps to a GlobalKind that
// the reader implements with a function building data; a name known to be unsupported
// maps to a reason; every other name is unknown and refused (or, when salvaging, kept as
// a mere name). No entry can reach code outside this library.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "mnemo/core/dtype.h"

namespace mnemo::pickle {

struct GlobalName {
  std::string_view module;
  std::string_view name;
};

// "module.name", as messages and salvaged objects spell a global.
std::string qualified_name(std::string_view module, std::string_view name);

// --- what the writer emits (torch.save in 1.13, protocol 2) ------------------------------
inline constexpr GlobalName kOrderedDictGlobal{"collections", "OrderedDict"};
inline constexpr GlobalName kRebuildTensorV2Global{"torch._utils", "_rebuild_tensor_v2"};
inline constexpr GlobalName kCodecsEncodeGlobal{"_codecs", "encode"};
// Protocol 2 spells the builtins module the Python 2 way (pickle's fix_imports).
inline constexpr GlobalName kEmptyBytesGlobal{"__builtin__", "bytes"};
inline constexpr std::string_view kStorageClassModule = "torch";
inline constexpr std::string_view kLatin1Encoding = "latin1";  // _codecs.encode's argument

// --- persistent ids ------------------------------------------------------------------------
inline constexpr std::string_view kStoragePidTag = "storage";  // ('storage', cls, key, ...)
inline constexpr std::string_view kModulePidTag = "module";    // legacy ('module', cls, ...)

// --- the table -------------------------------------------------------------------------------
enum class GlobalKind : std::uint8_t {
  kOrderedDict,                 // collections.OrderedDict
  kCounter,                     // collections.Counter: read as a dict
  kRebuildTensor,               // torch._utils._rebuild_tensor (old, 4 args)
  kRebuildTensorV2,             // torch._utils._rebuild_tensor_v2 (6 or 7 args)
  kRebuildTensorV3,             // torch._utils._rebuild_tensor_v3 (dtype argument)
  kRebuildParameter,            // torch._utils._rebuild_parameter
  kRebuildParameterWithState,   // torch._utils._rebuild_parameter_with_state
  kRebuildFromTypeV2,           // torch._tensor._rebuild_from_type_v2
  kParameterClass,              // torch.nn.parameter.Parameter
  kTensorClass,                 // torch.Tensor (an argument of _rebuild_from_type_v2)
  kStorageClass,                // torch.FloatStorage, ... (`dtype` says which)
  kUntypedStorage,              // torch.UntypedStorage: bytes
  kDType,                       // torch.float32, ...: read as the str "torch.float32"
  kSize,                        // torch.Size: a tuple of ints
  kDevice,                      // torch.device: the str "cuda:0"
  kCodecsEncode,                // _codecs.encode(str, 'latin1'): bytes
  kBytes,                       // builtins.bytes
  kByteArray,                   // builtins.bytearray: bytes
  kSet,                         // builtins.set: a list (Value has no set)
  kFrozenSet,                   // builtins.frozenset: a list
};

struct GlobalLookup {
  enum class Status : std::uint8_t {
    kAllowed,  // `kind` (and `dtype` for a storage class) says what it is
    kRefused,  // known, but unsupported: `reason` says why
    kUnknown,  // not in the table
  };
  Status status = Status::kUnknown;
  GlobalKind kind = GlobalKind::kOrderedDict;
  DType dtype = DType::kUInt8;
  std::string_view reason;
};

GlobalLookup lookup_global(std::string_view module, std::string_view name);

// True for a name that looks like a class (its last component starts with an upper-case
// letter): an unknown global of this shape is most likely a pickled nn.Module or object.
bool looks_like_class(std::string_view name);

// The 1.13 storage class of a dtype ("FloatStorage"); nullopt for a dtype that PyTorch
// 1.13 cannot save.
std::optional<std::string_view> storage_class_name(DType dtype);

}  // namespace mnemo::pickle
