// The objects an unpickle builds, before they become a Value.
//
// Pickle objects have reference semantics: the memo hands out the same list or dict
// again (BINGET), and APPEND, SETITEM and BUILD change an object that the memo and other
// containers already hold. Value has value semantics, so the reader first builds a graph
// of nodes — containers hold Items, which are small scalars inline, strs that lie in
// the pickle's bytes, or references to nodes — and converts it to a Value once, at STOP
// (ObjectGraph::to_value). That conversion is where sharing becomes copying, so before
// it allocates anything it measures what it would produce: depth (kMaxPickleDepth), the
// number of values and the bytes of str and bytes, with shared objects counted once per
// reference (a "billion laughs" pickle of nested BINGETs is refused here), and cycles,
// which a Value cannot hold.
//
// Nodes live in an arena and refer to each other by index, so that no chain of nodes,
// however long, is destroyed recursively. The arena grows by chunks of a fixed power of
// two, so a node is found with a shift and a mask, and never moves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "formats/pickle/globals.h"
#include "mnemo/core/error.h"
#include "mnemo/core/ordered_map.h"
#include "mnemo/core/storage.h"
#include "mnemo/core/tensor.h"
#include "mnemo/core/value.h"
#include "mnemo/limits.h"

namespace mnemo::pickle::detail {

using limits::kMaxPickleObjects;
using limits::kMaxPickleValues;

// Where a pickle comes from, for messages: "<origin>: <what> at byte <offset><tail>".
struct Context {
  std::string origin;
  bool salvage = false;

  [[noreturn]] void fail(ErrorCode code, std::uint64_t offset, const std::string& what,
                         std::string_view tail = {}) const;
};

struct NodeRef {
  std::uint32_t id;
};

// A str whose UTF-8 text lies as it is in the pickle (BINUNICODE and its kin): where.
// It costs no node and no copy until the result is built. (A pickle is at most
// kMaxPickleBytes, which 32 bits reach.)
struct TextRef {
  std::uint32_t offset;
  std::uint32_t size;
};

// A stack, memo or container slot: a scalar inline, a str in the pickle, or a node.
using Item = std::variant<None, bool, std::int64_t, double, NodeRef, TextRef>;

// The items of a list, set or tuple. Made by ObjectGraph::new_items, they live in the
// graph's arena and are freed with it: a tuple costs no heap allocation of its own.
using Items = std::pmr::vector<Item>;

enum class NodeKind : std::uint8_t {
  kStr,      // a str not in the pickle as it is (latin-1, or built by a call)
  kBytes,
  kBigInt,   // wider than 64 bits (narrower ones are inline int64)
  kTensor,
  kList,
  kSet,      // set and frozenset: read as a list
  kTuple,
  kDict,
  kGlobal,   // a table entry, or (salvage) the name of an unknown class or function
  kStorage,  // what a persistent id names
  kObject,   // salvage: an instance of an unknown class
};

// A dict, kept as much as it can be as the Dict it becomes: a state_dict of many
// tensors is then built once, and its conversion is a move.
struct DictNode {
  // Every entry, in order. A value that no later opcode can change and that costs no
  // more to copy than to hold — None, a bool, an int, a float or a tensor — is stored as
  // it will be in the result. Any other value (a str, whose copies must be counted
  // before they are made, or a container, which APPEND or SETITEMS may still change)
  // waits in `pending`, its entry holding None until the conversion.
  Dict entries;
  // The value of each entry that waits; None once a later SETITEM gave the key a plain
  // value (a plain value never waits).
  mnemo::detail::OrderedMap<DictKey, Item> pending;
  std::uint64_t key_bytes = 0;         // of the str keys, for ObjectGraph's measuring
  bool ordered = false;                // collections.OrderedDict
  std::optional<Item> attributes;      // an OrderedDict's BUILD state
};

struct GlobalNode {
  std::optional<GlobalKind> kind;      // nullopt: a salvage placeholder
  DType dtype = DType::kUInt8;         // a storage class's dtype
  std::string name;                    // "module.name"
};

struct StorageNode {
  Storage storage;
  DType dtype = DType::kUInt8;
  bool untyped = false;
  std::int64_t numel = 0;              // elements of dtype (bytes when untyped)
  std::string key;
};

struct ObjectNode {
  std::string class_name;
  Item args;                           // a tuple
  std::optional<Item> kwargs;          // NEWOBJ_EX's keyword arguments
  Item state;                          // None until BUILD
};

// A payload boxed in the graph's arena: destroyed with its node, its memory released
// with the arena.
struct ArenaDestroy {
  template <class T>
  void operator()(T* payload) const {
    payload->~T();
  }
};
template <class T>
using Boxed = std::unique_ptr<T, ArenaDestroy>;

// The rarer, larger payloads are boxed, so that a node stays small: a pickle may make
// millions of them.
using NodeData = std::variant<std::string, Bytes, BigInt, Tensor, Items, Boxed<DictNode>,
                              Boxed<GlobalNode>, Boxed<StorageNode>, Boxed<ObjectNode>>;

struct Node {
  NodeKind kind;
  std::uint32_t uses = 0;              // how many containers hold it
  bool visiting = false;               // on the measuring path (cycle check)
  bool measured = false;
  std::uint32_t height = 0;            // levels of containers below it, once measured
  std::uint64_t offset = 0;            // where it was created, for messages
  std::uint64_t tree_values = 0;       // values the conversion makes of it (saturating)
  std::uint64_t tree_bytes = 0;        // bytes of str, bytes and ints among them
  NodeData data;

  // Typed access; REQUIRES: the payload is of that type (kind says which).
  std::string& str() { return std::get<std::string>(data); }
  const std::string& str() const { return std::get<std::string>(data); }
  Items& items() { return std::get<Items>(data); }
  const Items& items() const { return std::get<Items>(data); }
  DictNode& dict() { return *std::get<Boxed<DictNode>>(data); }
  const DictNode& dict() const { return *std::get<Boxed<DictNode>>(data); }
  GlobalNode& global() { return *std::get<Boxed<GlobalNode>>(data); }
  const GlobalNode& global() const { return *std::get<Boxed<GlobalNode>>(data); }
  StorageNode& storage() { return *std::get<Boxed<StorageNode>>(data); }
  const StorageNode& storage() const { return *std::get<Boxed<StorageNode>>(data); }
  ObjectNode& object() { return *std::get<Boxed<ObjectNode>>(data); }
  const ObjectNode& object() const { return *std::get<Boxed<ObjectNode>>(data); }
};

// Nodes by index, in chunks that never move once allocated.
class NodeArena {
 public:
  std::size_t size() const { return size_; }
  Node& emplace_back() {
    if ((size_ & kChunkMask) == 0) {
      chunks_.emplace_back();
      chunks_.back().reserve(kChunk);  // filled up to capacity, never reallocated
    }
    ++size_;
    return chunks_.back().emplace_back();
  }
  Node& operator[](std::size_t i) { return chunks_[i >> kChunkBits][i & kChunkMask]; }
  const Node& operator[](std::size_t i) const { return chunks_[i >> kChunkBits][i & kChunkMask]; }

 private:
  static constexpr std::size_t kChunkBits = 10;
  static constexpr std::size_t kChunk = std::size_t{1} << kChunkBits;
  static constexpr std::size_t kChunkMask = kChunk - 1;
  std::vector<std::vector<Node>> chunks_;
  std::size_t size_ = 0;
};

class ObjectGraph {
 public:
  // `pickle`: the bytes that TextRefs point into.
  ObjectGraph(const Context& context, std::span<const std::byte> pickle)
      : context_(context), pickle_(pickle) {}

  template <class T>
  NodeRef add(NodeKind kind, std::uint64_t offset, T&& data) {
    check_capacity(offset);
    using Payload = std::decay_t<T>;
    Node& node = nodes_.emplace_back();
    node.kind = kind;
    node.offset = offset;
    if constexpr (std::is_same_v<Payload, DictNode> || std::is_same_v<Payload, GlobalNode> ||
                  std::is_same_v<Payload, StorageNode> || std::is_same_v<Payload, ObjectNode>) {
      void* memory = arena_.allocate(sizeof(Payload), alignof(Payload));
      node.data = Boxed<Payload>(new (memory) Payload(std::forward<T>(data)));
    } else {
      node.data = std::forward<T>(data);
    }
    return NodeRef{static_cast<std::uint32_t>(nodes_.size() - 1)};
  }

  // An empty list of items, allocating from the graph's arena.
  Items new_items() { return Items(&arena_); }

  // References stay valid while nodes are added (the arena never moves a node).
  Node& node(NodeRef ref) { return nodes_[ref.id]; }
  const Node& node(NodeRef ref) const { return nodes_[ref.id]; }
  // The node an item refers to, or nullptr for an inline scalar.
  Node* node_of(const Item& item);
  const Node* node_of(const Item& item) const;
  // The node when the item is one of `kind`, else nullptr.
  Node* node_of(const Item& item, NodeKind kind);
  // The text of a str, whether in the pickle or in a node; nullopt for anything else.
  // The view lives as long as the graph.
  std::optional<std::string_view> str_of(const Item& item) const;
  std::string_view text(TextRef ref) const {
    return {reinterpret_cast<const char*>(pickle_.data()) + ref.offset, ref.size};
  }

  // Records that a container now holds `item` (shared nodes are copied, not moved, when
  // the graph becomes a Value).
  void add_use(const Item& item);

  // dict[key] = value, as SETITEM does it: a new key goes at the end, an existing one
  // keeps its place.
  void set_item(DictNode& dict, DictKey key, const Item& value);
  // A copy of `source`'s entries (not its attributes), as OrderedDict(source) makes.
  DictNode copy_entries(const DictNode& source);

  // Python's word for the item's type, for messages: "str", "list", "OrderedDict",
  // "global 'os.system'", "object of class '__main__.Net'", ...
  std::string type_name(const Item& item) const;
  // Where the item was made (its node's offset), or `fallback` for a scalar.
  std::uint64_t offset_of(const Item& item, std::uint64_t fallback) const;

  // The Value the graph holds at `root`. Globals left in it are refused (dtypes become
  // their name, and salvage placeholders "module.Name"); a bare storage becomes a 1-D
  // tensor over it. `pickle_bytes`: how long the pickle that made it is (up to its STOP),
  // which bounds how far it may expand (kMaxPickleValuesPerByte).
  Value to_value(const Item& root, std::uint64_t pickle_bytes);

 private:
  void check_capacity(std::uint64_t offset) const;
  // Fills tree_values and tree_bytes of the item's node and those below it.
  void measure(const Item& item, std::size_t depth);
  Value convert(const Item& item, bool may_move);
  Value convert_node(Node& node, bool may_move);

  const Context& context_;
  std::span<const std::byte> pickle_;
  // Memory for Items and boxed payloads, released at once when the graph goes; declared
  // before nodes_, so that it outlives them.
  std::pmr::monotonic_buffer_resource arena_;
  NodeArena nodes_;
};

}  // namespace mnemo::pickle::detail
