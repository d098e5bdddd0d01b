// A pickler that writes protocol 2 exactly as torch.save in PyTorch 1.13 does: the same
// opcodes, the same batching, the same memo entries, so that a state_dict saved by
// mnemo is byte-identical to the same state_dict saved by PyTorch (reference §2.6-§2.8).
//
// Tensors become _rebuild_tensor_v2(persistent id, offset, size, stride, requires_grad,
// OrderedDict()); the caller names each tensor's storage.
//
// What each Value becomes (CPython's C pickler at protocol 2):
//   None, bool          NONE, NEWTRUE / NEWFALSE
//   int                 BININT1 (0..255), BININT2 (..65535), BININT (int32), LONG1, LONG4
//   float               BINFLOAT (big-endian)
//   str                 BINUNICODE
//   bytes               _codecs.encode(<latin-1 str>, 'latin1'); b'' is bytes()
//   list                EMPTY_LIST, then APPEND (one item) or MARK ... APPENDS per 1000
//   tuple               EMPTY_TUPLE, TUPLE1-3, MARK ... TUPLE
//   dict                EMPTY_DICT, then SETITEM (one item) or MARK ... SETITEMS per 1000
//                       (and an empty MARK SETITEMS after 1000 * k items)
//   OrderedDict         OrderedDict() by REDUCE, items batched as CPython batches a
//                       dict subclass (a last batch of one is a lone SETITEM), then its
//                       attributes ({'_metadata': ...}) as a dict and BUILD
//   Tensor              _rebuild_tensor_v2 as above; an undefined tensor is None
// Every memoisable object (all but None, bools, ints, floats and the empty tuple) is
// followed by BINPUT n (LONG_BINPUT from n = 256), n counting up from 0.
//
// The memo: CPython memoises by object identity, and a Value has no identity, so these
// rules say when PyTorch would have met the same object again (a BINGET instead of a
// second copy). They make torch.save's output for state_dicts, optimizer state_dicts
// and training checkpoints of plain data byte-identical:
//  1. A global is memoised by (module, name): it is one class or function object.
//  2. A storage key is memoised by storage: torch.save makes one key str per storage,
//     so tensors sharing a storage repeat it.
//  3. A str that CPython interns or caches is memoised by value: the empty str, a str
//     of one code point below 256 (CPython's cached characters), and a str made only of
//     ASCII letters, digits and '_' (source literals of this shape are interned, so keys
//     like 'lr', 'betas', 'step', 'exp_avg', 'version', '_metadata', the pid tag
//     'storage', the location 'cpu', and 'latin1' all repeat). Two exceptions: the keys
//     of a state_dict's '_metadata' ('fc1', '10', built by slicing module prefixes) and
//     the latin-1 text of bytes (decoded at save time) are fresh objects unless empty or
//     of one character; 'cuda:0' and other strs with other characters are always fresh.
//  4. In a list of dicts (an optimizer's param_groups), a non-empty tuple of scalars
//     under a key whose value in an earlier dict of the list was an equal tuple is that
//     same tuple: groups share their optimizer's defaults, e.g. Adam's betas.
//  5. A Tensor that appears twice (the same handle, Tensor::is_same) is written once and
//     then fetched from the memo, as PyTorch does for one tensor object.
// Everything else is written afresh at each occurrence. Where the rules guess wrong —
// a runtime-built identifier-like str that repeats, two equal tuples that were distinct
// objects, a list or dict that Python shared — the output still loads to the same data;
// only its bytes differ from PyTorch's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/core/tensor.h"
#include "mnemo/core/value.h"

namespace mnemo::pickle {

// How a tensor's storage is referenced: key "0", "1", ... (the caller assigns keys,
// reusing one for tensors that share a storage), location tag, and the storage's size in
// elements of the tensor's dtype. The texts need only last until the namer is called
// again: the pickler writes them before that.
struct StorageId {
  std::string_view key;
  std::string_view location;
  std::int64_t numel = 0;
  // The storages counted 0, 1, 2, ... in the order the namer first meets them: a storage
  // met before keeps its number (and its key), a new one gets the next number. The
  // pickler tells a repeated storage by it (rule 2 above).
  std::size_t number = 0;
};

// Called once for every distinct tensor met (by Tensor::is_same), in pickling order.
using StorageNamer = std::function<StorageId(const Tensor&)>;

// Throws kUnsupported naming the path for what PyTorch could not load back (a dtype with
// no storage class in PyTorch 1.13, a plain dict carrying attributes).
std::vector<std::byte> pickle(const Value& value, const StorageNamer& name_storage);

}  // namespace mnemo::pickle
