// A data-only unpickler for the pickles inside PyTorch checkpoints (data.pkl of a .pt
// zip, the pickles of the legacy format).
//
// It interprets a closed set of opcodes (protocols 2 to 5) and resolves GLOBAL and
// STACK_GLOBAL against a fixed table of allowed names — tensor rebuild functions,
// storage classes, OrderedDict, dtypes, torch.Size, torch.device, _codecs.encode and a
// few builtins — each mapped to a function of this file that builds data. Nothing else
// can be named, so nothing else can be called: there is no path from the bytes to code.
// Every refusal is kUnsupported or kCorrupt naming the opcode or the global and its byte
// offset; stack, memo, nesting and sizes are bounded by mnemo/limits.h (kLimit).
// Messages read "<origin>: <what> at byte <offset>".
//
// How Python objects map to Value, where Value has no exact counterpart:
//  - set and frozenset become a List (Value has no set); complex numbers are refused.
//  - torch.dtype becomes the str "torch.float32"; torch.device the str "cuda:0";
//    torch.Size a Tuple of ints; bytearray, and bytes written as _codecs.encode, Bytes.
//  - BINSTRING (a Python 2 str) is decoded as UTF-8, as torch.load does, and as latin-1
//    when its bytes are not UTF-8.
//  - nn.Parameter becomes a Tensor with requires_grad. Python attributes of a tensor or
//    parameter (BUILD on a tensor, _rebuild_parameter_with_state's state,
//    _rebuild_from_type_v2's state) are dropped: the tensor is kept.
//  - requires_grad on a tensor whose dtype is neither floating point nor complex is
//    refused as corrupt (PyTorch itself cannot load it).
//  - An OrderedDict's BUILD state ({'_metadata': ...}) becomes Dict::attributes().
//  - A storage outside a tensor (torch.save(t.storage())) becomes a 1-D tensor over it.
//  - Objects the pickle shares (BINGET) become copies in the Value; tensors stay one
//    handle, so tensors sharing a storage share it. A container holding itself is refused.
//  - A tensor with the conj or neg bit, sparse, quantized, meta, nested and subclass
//    tensors are refused, naming what they are.
//
// A global that is not in the table is refused as "pickle global 'os.system' at byte N
// is not allowed"; when its name looks like a class ('__main__.Net') the message says
// the file holds a pickled object and how to recover its tensors (salvage, below).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "mnemo/core/storage.h"
#include "mnemo/core/value.h"

namespace mnemo::pickle {

// What a persistent id names: ('storage', <torch.XStorage>, key, location, numel) in the
// zip format, with a sixth item (view metadata) in the legacy format. Its texts are
// views into the pickle or the objects read from it, valid during the loader's call: a
// loader that keeps a key copies it.
struct StorageRef {
  DType dtype = DType::kFloat32;  // from the storage class (UntypedStorage: uint8)
  bool untyped = false;           // torch.UntypedStorage: numel counts bytes
  std::string_view key;
  std::string_view location;      // "cpu", "cuda:0", ...
  std::int64_t numel = 0;         // elements of dtype (bytes when untyped)
  std::uint64_t byte_offset = 0;  // where the persistent id sits in the pickle, for messages
};

// Returns the bytes of the storage a persistent id names. Called at every occurrence;
// it must return the same Storage for the same key, so that tensors viewing one storage
// share it. It checks the storage's size and throws for a bad reference.
using StorageLoader = std::function<Storage(const StorageRef&)>;

struct UnpickleOptions {
  // Read instances of classes outside the table (a whole pickled nn.Module) as generic
  // objects instead of refusing them. Still no code runs: an object is recorded as
  // Dict{"__class__": "module.Name", "__args__": Tuple, "__state__": <BUILD state>}.
  bool salvage = false;
  // Describes the pickle's origin in messages ("model.pt: data.pkl").
  std::string origin = "pickle";
  // Read torch.save's bytes for a tensor without building the objects of its arguments
  // (tensor_pattern.h). The result is the same either way; tests compare the two.
  bool fast_tensors = true;
};

// Salvage mode, in full: every global outside the table becomes a mere name. Calling it
// (REDUCE, NEWOBJ, NEWOBJ_EX) records Dict{"__class__": "module.Name", "__args__":
// Tuple, "__state__": None} (plus "__kwargs__" for NEWOBJ_EX) and BUILD sets
// "__state__"; a name left uncalled (a class or function stored as a value) becomes the
// str "module.Name". Names in the table keep their meaning (OrderedDict, Parameter, the
// tensor rebuilds), and the refused ones (sparse, quantized, ...) stay refused. Nothing
// is imported or called, whatever the name: "os.system" is just a str.
// salvage_state_dict (module_salvage.h) turns a salvaged nn.Module into its state_dict.

struct UnpickleResult {
  Value value;
  std::size_t bytes_read = 0;  // up to and including STOP (the legacy format chains pickles)
};

UnpickleResult unpickle(std::span<const std::byte> data, const StorageLoader& load_storage,
                        const UnpickleOptions& options = {});

}  // namespace mnemo::pickle
