#include "formats/pickle/object_graph.h"

#include <algorithm>
#include <utility>

#include "mnemo/limits.h"

namespace mnemo::pickle::detail {

void Context::fail(ErrorCode code, std::uint64_t offset, const std::string& what,
                   std::string_view tail) const {
  mnemo::fail(code, origin, ": ", what, " at byte ", offset, tail);
}

Node* ObjectGraph::node_of(const Item& item) {
  const NodeRef* ref = std::get_if<NodeRef>(&item);
  return ref ? &nodes_[ref->id] : nullptr;
}

const Node* ObjectGraph::node_of(const Item& item) const {
  const NodeRef* ref = std::get_if<NodeRef>(&item);
  return ref ? &nodes_[ref->id] : nullptr;
}

Node* ObjectGraph::node_of(const Item& item, NodeKind kind) {
  Node* node = node_of(item);
  return node && node->kind == kind ? node : nullptr;
}

std::optional<std::string_view> ObjectGraph::str_of(const Item& item) const {
  if (const auto* ref = std::get_if<TextRef>(&item)) return text(*ref);
  const Node* node = node_of(item);
  if (node && node->kind == NodeKind::kStr) return node->str();
  return std::nullopt;
}

void ObjectGraph::add_use(const Item& item) {
  if (Node* node = node_of(item)) ++node->uses;
}

namespace {

// The Value of an inline item (None, bool, int, float).
Value scalar_value(const Item& item) {
  if (const auto* b = std::get_if<bool>(&item)) return *b;
  if (const auto* i = std::get_if<std::int64_t>(&item)) return *i;
  if (const auto* d = std::get_if<double>(&item)) return *d;
  return none;
}

}  // namespace

void ObjectGraph::set_item(DictNode& dict, DictKey key, const Item& value) {
  const std::size_t key_text =
      std::holds_alternative<std::string>(key) ? std::get<std::string>(key).size() : 0;
  const std::size_t before = dict.entries.size();
  Node* node = node_of(value);
  if (std::holds_alternative<TextRef>(value) || (node && node->kind != NodeKind::kTensor)) {
    if (node) ++node->uses;
    dict.pending.insert_or_assign(key, value);
    dict.entries.insert_or_assign(std::move(key), none);
  } else {
    if (!dict.pending.empty()) {
      if (Item* waiting = dict.pending.find(key)) *waiting = none;
    }
    Value plain = node ? Value(std::get<Tensor>(node->data)) : scalar_value(value);
    dict.entries.insert_or_assign(std::move(key), std::move(plain));
  }
  if (dict.entries.size() > before) dict.key_bytes += key_text;
}

DictNode ObjectGraph::copy_entries(const DictNode& source) {
  DictNode copy;
  copy.entries = source.entries;
  copy.pending = source.pending;
  copy.key_bytes = source.key_bytes;
  for (const auto& [key, value] : copy.pending) add_use(value);
  return copy;
}

std::string ObjectGraph::type_name(const Item& item) const {
  if (std::holds_alternative<None>(item)) return "None";
  if (std::holds_alternative<TextRef>(item)) return "str";
  if (std::holds_alternative<bool>(item)) return "bool";
  if (std::holds_alternative<std::int64_t>(item)) return "int";
  if (std::holds_alternative<double>(item)) return "float";
  const Node& node = *node_of(item);
  switch (node.kind) {
    case NodeKind::kStr: return "str";
    case NodeKind::kBytes: return "bytes";
    case NodeKind::kBigInt: return "int";
    case NodeKind::kTensor: return "Tensor";
    case NodeKind::kList: return "list";
    case NodeKind::kSet: return "set";
    case NodeKind::kTuple: return "tuple";
    case NodeKind::kDict: return node.dict().ordered ? "OrderedDict" : "dict";
    case NodeKind::kGlobal: return "global '" + node.global().name + "'";
    case NodeKind::kStorage: return "storage";
    case NodeKind::kObject:
      return "object of class '" + node.object().class_name + "'";
  }
  return "unknown";
}

std::uint64_t ObjectGraph::offset_of(const Item& item, std::uint64_t fallback) const {
  const Node* node = node_of(item);
  return node ? node->offset : fallback;
}

void ObjectGraph::check_capacity(std::uint64_t offset) const {
  if (nodes_.size() >= kMaxPickleObjects) {
    context_.fail(ErrorCode::kLimit, offset,
                  "the pickle creates more than " + std::to_string(kMaxPickleObjects) +
                      " objects (limit kMaxPickleObjects)");
  }
}

namespace {

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  std::uint64_t sum = 0;
  return __builtin_add_overflow(a, b, &sum) ? UINT64_MAX : sum;
}

}  // namespace

void ObjectGraph::measure(const Item& item, std::size_t depth) {
  Node* node = node_of(item);
  if (!node) return;
  if (node->measured) {
    // Measured before, through another path: what lies below it may still nest too
    // deep from here. (Checking only where a node is first met would let a chain of
    // shared lists, each met first near the top, nest without bound, and the conversion
    // recurse as deep.)
    if (depth + node->height > limits::kMaxPickleDepth) {
      context_.fail(ErrorCode::kLimit, node->offset,
                    "containers nest deeper than " + std::to_string(limits::kMaxPickleDepth) +
                        " levels (limit kMaxPickleDepth), through containers held in more "
                        "than one place; one of them was made");
    }
    return;
  }
  if (depth > limits::kMaxPickleDepth) {
    context_.fail(ErrorCode::kLimit, node->offset,
                  "containers nest deeper than " + std::to_string(limits::kMaxPickleDepth) +
                      " levels (limit kMaxPickleDepth); the innermost was made");
  }
  if (node->visiting) {
    context_.fail(ErrorCode::kUnsupported, node->offset,
                  "a " + type_name(item) +
                      " that contains itself cannot be represented as a Value; it was made");
  }
  node->visiting = true;
  std::uint64_t values = 1;
  std::uint64_t bytes = 0;
  std::uint32_t height = 0;
  // What a child's tree holds beyond the child itself.
  auto add_below = [&](const Item& child) {
    if (const auto* ref = std::get_if<TextRef>(&child)) bytes = saturating_add(bytes, ref->size);
    const Node* child_node = node_of(child);
    if (!child_node) return;
    measure(child, depth + 1);
    height = std::max(height, child_node->height + 1);
    values = saturating_add(values, child_node->tree_values - 1);
    bytes = saturating_add(bytes, child_node->tree_bytes);
  };
  auto add = [&](const Item& child) {
    values = saturating_add(values, 1);
    add_below(child);
  };
  switch (node->kind) {
    case NodeKind::kStr: bytes = node->str().size(); break;
    case NodeKind::kBytes: bytes = std::get<Bytes>(node->data).size(); break;
    case NodeKind::kBigInt: bytes = std::get<BigInt>(node->data).le_bytes().size(); break;
    case NodeKind::kList:
    case NodeKind::kSet:
    case NodeKind::kTuple:
      for (const Item& child : node->items()) add(child);
      break;
    case NodeKind::kDict: {
      // Each entry is one value; those that wait add what they hold beyond that.
      const DictNode& dict = node->dict();
      values = saturating_add(values, dict.entries.size());
      bytes = dict.key_bytes;
      for (const auto& [key, value] : dict.pending) add_below(value);
      if (dict.attributes) add(*dict.attributes);
      break;
    }
    case NodeKind::kObject: {
      const ObjectNode& object = node->object();
      add(object.args);
      if (object.kwargs) add(*object.kwargs);
      add(object.state);
      break;
    }
    case NodeKind::kGlobal: bytes = node->global().name.size(); break;
    case NodeKind::kTensor:
    case NodeKind::kStorage: break;
  }
  node->visiting = false;
  node->measured = true;
  node->height = height;
  node->tree_values = values;
  node->tree_bytes = bytes;
}

Value ObjectGraph::to_value(const Item& root, std::uint64_t pickle_bytes) {
  measure(root, 0);
  if (const Node* node = node_of(root)) {
    const std::uint64_t per_byte = limits::kMaxPickleValuesPerByte * pickle_bytes;
    const std::uint64_t allowed =
        std::min(std::max(per_byte, limits::kPickleValuesAlwaysAllowed), kMaxPickleValues);
    if (node->tree_values > allowed) {
      std::string limit = "limit kMaxPickleValues";
      if (allowed < kMaxPickleValues) {
        limit = (per_byte < allowed ? "limits kPickleValuesAlwaysAllowed and " : "limit ") +
                std::string("kMaxPickleValuesPerByte: ") +
                std::to_string(limits::kMaxPickleValuesPerByte) + " per byte of its " +
                std::to_string(pickle_bytes) + " bytes";
      }
      context_.fail(ErrorCode::kLimit, node->offset,
                    "the pickle expands to more than " + std::to_string(allowed) + " values (" +
                        limit + "), through objects it references many times; its result was made");
    }
    if (node->tree_bytes > limits::kMaxPickleBytes) {
      context_.fail(ErrorCode::kLimit, node->offset,
                    "the pickle expands to more than " + std::to_string(limits::kMaxPickleBytes) +
                        " bytes of str and bytes (limit kMaxPickleBytes), through objects it "
                        "references many times; its result was made");
    }
  }
  return convert(root, /*may_move=*/true);
}

Value ObjectGraph::convert(const Item& item, bool may_move) {
  if (const auto* b = std::get_if<bool>(&item)) return *b;
  if (const auto* i = std::get_if<std::int64_t>(&item)) return *i;
  if (const auto* d = std::get_if<double>(&item)) return *d;
  if (std::holds_alternative<None>(item)) return none;
  if (const auto* ref = std::get_if<TextRef>(&item)) return std::string(text(*ref));
  Node& node = *node_of(item);
  // A node that only one container holds may give its contents away, unless an
  // enclosing container is itself being copied.
  return convert_node(node, may_move && node.uses <= 1);
}

Value ObjectGraph::convert_node(Node& node, bool move) {
  auto take = [&](auto& payload) {
    using T = std::decay_t<decltype(payload)>;
    return move ? T(std::move(payload)) : T(payload);
  };
  switch (node.kind) {
    case NodeKind::kStr: {
      auto& s = node.str();
      return take(s);
    }
    case NodeKind::kBytes: {
      auto& b = std::get<Bytes>(node.data);
      return take(b);
    }
    case NodeKind::kBigInt: {
      auto& big = std::get<BigInt>(node.data);
      return take(big);
    }
    case NodeKind::kTensor: return std::get<Tensor>(node.data);
    case NodeKind::kList:
    case NodeKind::kSet:
    case NodeKind::kTuple: {
      const auto& items = node.items();
      std::vector<Value> values;
      values.reserve(items.size());
      for (const Item& child : items) values.push_back(convert(child, move));
      if (node.kind == NodeKind::kTuple) return Tuple(std::make_move_iterator(values.begin()),
                                                      std::make_move_iterator(values.end()));
      return List(std::make_move_iterator(values.begin()), std::make_move_iterator(values.end()));
    }
    case NodeKind::kDict: {
      auto& dict = node.dict();
      Dict result = take(dict.entries);
      result.set_ordered_dict(dict.ordered);
      for (const auto& [key, value] : dict.pending) {
        if (!std::holds_alternative<None>(value)) *result.find(key) = convert(value, move);
      }
      if (dict.attributes) {
        Value attributes = convert(*dict.attributes, move);
        if (attributes.is_dict() && !attributes.as_dict().empty()) {
          result.set_attributes(std::move(attributes.as_dict()));
        }
      }
      return result;
    }
    case NodeKind::kGlobal: {
      auto& global = node.global();
      if (global.kind == GlobalKind::kDType) return global.name;  // "torch.float32"
      if (!global.kind) return global.name;  // salvage: a bare class or function
      context_.fail(ErrorCode::kUnsupported, node.offset,
                    "pickle global '" + global.name +
                        "' is left in the result as a class or function, which is not data; "
                        "it was named");
    }
    case NodeKind::kStorage: {
      auto& storage = node.storage();
      try {
        return Tensor(storage.storage, storage.dtype, {storage.numel}, {1}, 0);
      } catch (const Error& e) {
        context_.fail(ErrorCode::kCorrupt, node.offset,
                      "storage '" + storage.key + "' is smaller than its persistent id says (" +
                          e.what() + "); it was named");
      }
    }
    case NodeKind::kObject: {
      auto& object = node.object();
      Dict result;
      result.insert_or_assign(std::string("__class__"), object.class_name);
      result.insert_or_assign(std::string("__args__"), convert(object.args, move));
      if (object.kwargs) {
        result.insert_or_assign(std::string("__kwargs__"), convert(*object.kwargs, move));
      }
      result.insert_or_assign(std::string("__state__"), convert(object.state, move));
      return result;
    }
  }
  return none;
}

}  // namespace mnemo::pickle::detail
