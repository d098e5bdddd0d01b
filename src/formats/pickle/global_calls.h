// What the allowed globals do when a pickle calls them (REDUCE, NEWOBJ, NEWOBJ_EX), what
// BUILD does to the objects that accept state, and how a persistent id becomes a storage.
// Each is a function of this library that builds data from data; every argument is
// checked for type and range before it is believed.
#pragma once

#include <cstdint>
#include <optional>

#include "formats/pickle/object_graph.h"
#include "formats/pickle/unpickler.h"

namespace mnemo::pickle::detail {

enum class CallOp : std::uint8_t { kReduce, kNewObj, kNewObjEx };

// Calls `callable` (a global) with `args` (a tuple) and, for NEWOBJ_EX, `kwargs`.
Item call_global(ObjectGraph& graph, const Context& context, const Item& callable,
                 const Item& args, const std::optional<Item>& kwargs, CallOp op,
                 std::uint64_t offset);

// BUILD: gives `state` to `target` (an OrderedDict's attributes, a salvaged object's
// state; a tensor's Python attributes are dropped).
void build_object(ObjectGraph& graph, const Context& context, const Item& target,
                  const Item& state, std::uint64_t offset);

// True when a view of `sizes`, `strides` and `storage_offset` (elements of `dtype`) has
// no negative number and, unless empty, its last element ends within `storage_bytes`
// (computed without overflow). REQUIRES: sizes and strides of one length.
bool view_fits(const Shape& sizes, const Shape& strides, std::int64_t storage_offset, DType dtype,
               std::uint64_t storage_bytes);

// BINPERSID: the storage that a ('storage', cls, key, location, numel[, view]) id names.
Item load_persistent(ObjectGraph& graph, const Context& context, const Item& pid,
                     const StorageLoader& load_storage, std::uint64_t offset);

}  // namespace mnemo::pickle::detail
