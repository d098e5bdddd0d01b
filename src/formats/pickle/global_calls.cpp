#include "formats/pickle/global_calls.h"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "formats/pickle/opcodes.h"
#include "mnemo/limits.h"

namespace mnemo::pickle::detail {
namespace {

std::string with_article(const std::string& type) {
  if (type == "None") return type;
  const bool vowel = std::strchr("aeiouAEIOU", type.front()) != nullptr;
  return (vowel ? "an " : "a ") + type;
}

std::string_view call_op_name(CallOp op) {
  switch (op) {
    case CallOp::kReduce: return op_name(Op::kReduce);
    case CallOp::kNewObj: return op_name(Op::kNewObj);
    case CallOp::kNewObjEx: return op_name(Op::kNewObjEx);
  }
  return "?";
}

std::string shape_text(const Shape& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// A call's arguments, with accessors that check each one; messages name the callee and
// the argument.
class Args {
 public:
  // `callee` names the function in messages; it must outlive the Args.
  Args(ObjectGraph& graph, const Context& context, std::string_view callee,
       std::span<const Item> items, std::uint64_t offset)
      : graph_(graph), context_(context), callee_(callee), items_(items), offset_(offset) {}

  std::size_t size() const { return items_.size(); }
  const Item& operator[](std::size_t i) const { return items_[i]; }
  std::string callee() const { return std::string(callee_); }

  void expect_count(std::size_t low, std::size_t high) const {
    if (items_.size() < low || items_.size() > high) {
      const std::string range =
          low == high ? std::to_string(low) : std::to_string(low) + " to " + std::to_string(high);
      fail(ErrorCode::kCorrupt, callee() + " takes " + range + " arguments, got " +
                                    std::to_string(items_.size()));
    }
  }

  [[noreturn]] void fail(ErrorCode code, const std::string& what) const {
    context_.fail(code, offset_, what);
  }

  [[noreturn]] void fail_type(std::size_t i, std::string_view name, std::string_view expected) const {
    fail(ErrorCode::kCorrupt, callee() + ": argument " + std::to_string(i + 1) + " (" +
                                  std::string(name) + ") must be " + std::string(expected) +
                                  ", got " + with_article(graph_.type_name(items_[i])));
  }

  std::int64_t int_at(std::size_t i, std::string_view name) const {
    const auto* value = std::get_if<std::int64_t>(&items_[i]);
    if (!value) fail_type(i, name, "an int of 64 bits");
    return *value;
  }

  bool bool_at(std::size_t i, std::string_view name) const {
    const auto* value = std::get_if<bool>(&items_[i]);
    if (!value) fail_type(i, name, "a bool");
    return *value;
  }

  std::string_view str_at(std::size_t i, std::string_view name) const {
    const std::optional<std::string_view> text = graph_.str_of(items_[i]);
    if (!text) fail_type(i, name, "a str");
    return *text;
  }

  // A tuple (torch.Size included) of ints.
  Shape shape_at(std::size_t i, std::string_view name) const {
    const Node* node = graph_.node_of(items_[i], NodeKind::kTuple);
    if (!node) fail_type(i, name, "a tuple of ints");
    const auto& items = node->items();
    Shape shape;
    shape.reserve(items.size());
    for (const Item& item : items) {
      const auto* value = std::get_if<std::int64_t>(&item);
      if (!value) {
        fail(ErrorCode::kCorrupt, callee() + ": argument " + std::to_string(i + 1) + " (" +
                                      std::string(name) + ") must be a tuple of ints, but holds " +
                                      with_article(graph_.type_name(item)));
      }
      shape.push_back(*value);
    }
    return shape;
  }

  const Tensor& tensor_at(std::size_t i, std::string_view name) const {
    const Node* node = graph_.node_of(items_[i], NodeKind::kTensor);
    if (!node) fail_type(i, name, "a tensor");
    return std::get<Tensor>(node->data);
  }

  const StorageNode& storage_at(std::size_t i, std::string_view name) const {
    const Node* node = graph_.node_of(items_[i], NodeKind::kStorage);
    if (!node) fail_type(i, name, "a storage (a persistent id)");
    return node->storage();
  }

  const DictNode* dict_at(std::size_t i) const {
    const Node* node = graph_.node_of(items_[i], NodeKind::kDict);
    return node ? &node->dict() : nullptr;
  }

  bool is_empty_state(std::size_t i) const {
    if (std::holds_alternative<None>(items_[i])) return true;
    const DictNode* dict = dict_at(i);
    return dict && dict->entries.empty();
  }

 private:
  ObjectGraph& graph_;
  const Context& context_;
  std::string_view callee_;
  std::span<const Item> items_;
  std::uint64_t offset_;
};

}  // namespace

bool view_fits(const Shape& sizes, const Shape& strides, std::int64_t storage_offset, DType dtype,
               std::uint64_t storage_bytes) {
  bool ok = storage_offset >= 0;
  bool empty = false;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    ok = ok && sizes[i] >= 0 && strides[i] >= 0;
    empty = empty || sizes[i] == 0;
  }
  if (!ok || empty) return ok;
  // The last element's byte, computed without overflow, must lie inside the storage.
  std::int64_t last = storage_offset;
  for (std::size_t i = 0; i < sizes.size() && ok; ++i) {
    std::int64_t reach = 0;
    ok = !__builtin_mul_overflow(sizes[i] - 1, strides[i], &reach) &&
         !__builtin_add_overflow(last, reach, &last);
  }
  std::int64_t end = 0;
  return ok && !__builtin_add_overflow(last, 1, &last) &&
         !__builtin_mul_overflow(last, static_cast<std::int64_t>(element_size(dtype)), &end) &&
         static_cast<std::uint64_t>(end) <= storage_bytes;
}

namespace {

// A tensor viewing `storage`, with every number checked against the storage first.
Item make_tensor(ObjectGraph& graph, const Args& args, const StorageNode& storage, DType dtype,
                 std::int64_t storage_offset, Shape sizes, Shape strides,
                 bool requires_grad, std::uint64_t offset) {
  const auto view = [&] {
    return "size " + shape_text(sizes) + ", stride " + shape_text(strides) + " and offset " +
           std::to_string(storage_offset);
  };
  if (sizes.size() > limits::kMaxTensorRank) {
    args.fail(ErrorCode::kLimit, args.callee() + ": a tensor of rank " +
                                     std::to_string(sizes.size()) + " exceeds the limit of " +
                                     std::to_string(limits::kMaxTensorRank) + " (kMaxTensorRank)");
  }
  if (sizes.size() != strides.size()) {
    args.fail(ErrorCode::kCorrupt, args.callee() + ": a tensor of " + view() +
                                       " has sizes and strides of different lengths");
  }
  if (!storage.untyped && storage.dtype != dtype) {
    args.fail(ErrorCode::kCorrupt, args.callee() + ": storage '" + storage.key + "' holds " +
                                       std::string(dtype_name(storage.dtype)) +
                                       " elements, but the tensor is " +
                                       std::string(dtype_name(dtype)));
  }
  bool negative = storage_offset < 0;
  for (std::size_t i = 0; i < sizes.size(); ++i)
    negative = negative || sizes[i] < 0 || strides[i] < 0;
  if (negative)
    args.fail(ErrorCode::kCorrupt,
              args.callee() + ": a tensor of " + view() + " has a negative number");
  if (!view_fits(sizes, strides, storage_offset, dtype, storage.storage.nbytes())) {
    args.fail(ErrorCode::kCorrupt,
              args.callee() + ": " + with_article(std::string(dtype_name(dtype))) + " tensor of " +
                  view() + " reaches outside storage '" + storage.key + "' of " +
                  std::to_string(storage.storage.nbytes()) + " bytes");
  }
  if (requires_grad && !is_floating_point(dtype) && !is_complex(dtype)) {
    args.fail(ErrorCode::kCorrupt, args.callee() + ": " +
                                       with_article(std::string(dtype_name(dtype))) +
                                       " tensor cannot require grad (only floating point and "
                                       "complex tensors can)");
  }
  Tensor tensor;
  try {
    tensor = Tensor(storage.storage, dtype, std::move(sizes), std::move(strides), storage_offset);
  } catch (const Error& e) {
    args.fail(ErrorCode::kCorrupt, args.callee() + ": " + e.what());
  }
  if (requires_grad) tensor.set_requires_grad(true);
  return graph.add(NodeKind::kTensor, offset, std::move(tensor));
}

// 2.x's seventh argument of _rebuild_tensor_v2: {'conj': bool, 'neg': bool} when set.
void check_tensor_metadata(const Args& args, std::size_t i) {
  if (std::holds_alternative<None>(args[i])) return;
  const DictNode* metadata = args.dict_at(i);
  if (!metadata) args.fail_type(i, "metadata", "a dict");
  for (const auto& [key, value] : metadata->entries) {
    const auto* name = std::get_if<std::string>(&key);
    if (name && value.is_bool() && value.as_bool() && (*name == "conj" || *name == "neg")) {
      args.fail(ErrorCode::kUnsupported,
                args.callee() + ": tensors with the " + *name + " bit set are not supported; "
                                "call resolve_" + *name + "() on them before saving");
    }
  }
}

Item rebuild_tensor(ObjectGraph& graph, const Args& args, GlobalKind kind, std::uint64_t offset) {
  if (kind == GlobalKind::kRebuildTensor) {
    args.expect_count(4, 4);
  } else if (kind == GlobalKind::kRebuildTensorV2) {
    args.expect_count(6, 7);
  } else {
    args.expect_count(7, 8);
  }
  const StorageNode& storage = args.storage_at(0, "storage");
  const std::int64_t storage_offset = args.int_at(1, "storage_offset");
  Shape sizes = args.shape_at(2, "size");
  Shape strides = args.shape_at(3, "stride");
  bool requires_grad = false;
  if (kind != GlobalKind::kRebuildTensor) {
    requires_grad = args.bool_at(4, "requires_grad");
    if (!args.dict_at(5) && !std::holds_alternative<None>(args[5])) {
      args.fail_type(5, "backward_hooks", "a dict");
    }
  }
  DType dtype = storage.untyped ? DType::kUInt8 : storage.dtype;
  if (kind == GlobalKind::kRebuildTensorV2 && args.size() == 7) check_tensor_metadata(args, 6);
  if (kind == GlobalKind::kRebuildTensorV3) {
    const Node* node = graph.node_of(args[6], NodeKind::kGlobal);
    const GlobalNode* global = node ? &node->global() : nullptr;
    if (!global || global->kind != GlobalKind::kDType) args.fail_type(6, "dtype", "a torch.dtype");
    const std::optional<DType> named = dtype_from_name(global->name);
    if (!named) {
      args.fail(ErrorCode::kUnsupported, "tensors of dtype " + global->name + " are not supported");
    }
    dtype = *named;
    if (args.size() == 8) check_tensor_metadata(args, 7);
  }
  return make_tensor(graph, args, storage, dtype, storage_offset, std::move(sizes),
                     std::move(strides), requires_grad, offset);
}

// A new handle on the data's view (so that the data tensor keeps its own flag), as
// Parameter(data, requires_grad) wraps a tensor.
Item make_parameter(ObjectGraph& graph, const Args& args, bool requires_grad,
                    std::uint64_t offset) {
  Tensor parameter = args.tensor_at(0, "data").detach();
  if (requires_grad && !is_floating_point(parameter.dtype()) && !is_complex(parameter.dtype())) {
    args.fail(ErrorCode::kCorrupt, args.callee() + ": " +
                                       with_article(std::string(dtype_name(parameter.dtype()))) +
                                       " parameter cannot require grad");
  }
  parameter.set_requires_grad(requires_grad);
  return graph.add(NodeKind::kTensor, offset, std::move(parameter));
}

// set(iterable), frozenset(...): the items of a list, tuple or set. Only hashable items
// can be in a set, so containers other than tuples cannot.
Item make_set(ObjectGraph& graph, const Args& args, std::uint64_t offset) {
  args.expect_count(0, 1);
  Items items = graph.new_items();
  if (args.size() == 1) {
    const Node* source = graph.node_of(args[0]);
    if (!source || (source->kind != NodeKind::kList && source->kind != NodeKind::kTuple &&
                    source->kind != NodeKind::kSet)) {
      args.fail_type(0, "iterable", "a list, tuple or set");
    }
    items = source->items();
  }
  for (const Item& item : items) {
    const Node* node = graph.node_of(item);
    if (node && (node->kind == NodeKind::kList || node->kind == NodeKind::kDict ||
                 node->kind == NodeKind::kSet)) {
      args.fail(ErrorCode::kCorrupt, args.callee() + ": a set cannot hold " +
                                         with_article(graph.type_name(item)) + " (unhashable)");
    }
    graph.add_use(item);
  }
  return graph.add(NodeKind::kSet, offset, std::move(items));
}

// bytes(), bytes(b'...'), bytes([ints]), bytearray(...): the same bytes.
Item make_bytes(ObjectGraph& graph, const Args& args, std::uint64_t offset) {
  args.expect_count(0, 1);
  Bytes bytes;
  if (args.size() == 1) {
    const Node* source = graph.node_of(args[0]);
    if (source && source->kind == NodeKind::kBytes) {
      bytes = std::get<Bytes>(source->data);
    } else if (source && source->kind == NodeKind::kList) {
      for (const Item& item : source->items()) {
        const auto* value = std::get_if<std::int64_t>(&item);
        if (!value || *value < 0 || *value > 255) {
          args.fail(ErrorCode::kCorrupt, args.callee() + ": a list of bytes must hold ints 0 to 255");
        }
        bytes.push_back(static_cast<std::uint8_t>(*value));
      }
    } else {
      args.fail_type(0, "source", "bytes or a list of ints");
    }
  }
  return graph.add(NodeKind::kBytes, offset, std::move(bytes));
}

// _codecs.encode(str, encoding): how protocol 2 writes bytes (latin-1 maps each code
// point below 256 to one byte).
Item encode(ObjectGraph& graph, const Args& args, std::uint64_t offset) {
  args.expect_count(1, 2);
  const std::string_view text = args.str_at(0, "obj");
  const std::string_view encoding =
      args.size() == 2 ? args.str_at(1, "encoding") : std::string_view("utf-8");
  Bytes bytes;
  if (encoding == "latin1" || encoding == "latin-1" || encoding == "iso-8859-1") {
    bytes.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
      const auto c = static_cast<unsigned char>(text[i]);
      if (c < 0x80) {
        bytes.push_back(c);
      } else if ((c == 0xc2 || c == 0xc3) && i + 1 < text.size()) {  // U+0080..U+00FF
        bytes.push_back(static_cast<std::uint8_t>(((c & 0x03) << 6) | (text[++i] & 0x3f)));
      } else {
        args.fail(ErrorCode::kCorrupt, args.callee() + ": a character beyond U+00FF cannot be "
                                                       "encoded as latin-1");
      }
    }
  } else if (encoding == "utf-8" || encoding == "utf8") {
    bytes.assign(text.begin(), text.end());
  } else {
    args.fail(ErrorCode::kUnsupported,
              args.callee() + ": encoding '" + std::string(encoding) + "' is not supported");
  }
  return graph.add(NodeKind::kBytes, offset, std::move(bytes));
}

// torch.device('cuda', 0), torch.device('cuda:0'): its location tag as a str.
Item make_device(ObjectGraph& graph, const Args& args, std::uint64_t offset) {
  args.expect_count(1, 2);
  std::string tag(args.str_at(0, "type"));
  if (args.size() == 2 && !std::holds_alternative<None>(args[1])) {
    const std::int64_t index = args.int_at(1, "index");
    if (index < 0) args.fail(ErrorCode::kCorrupt, args.callee() + ": a negative device index");
    tag += ":" + std::to_string(index);
  }
  return graph.add(NodeKind::kStr, offset, std::move(tag));
}

// OrderedDict(), OrderedDict([(k, v), ...]), Counter(), Counter({...}).
Item make_dict(ObjectGraph& graph, const Context& context, const Args& args, bool ordered,
               std::uint64_t offset) {
  args.expect_count(0, 1);
  DictNode dict;
  dict.ordered = ordered;
  auto insert = [&](const Item& key_item, const Item& value) {
    DictKey key;
    if (const auto* i = std::get_if<std::int64_t>(&key_item)) {
      key = *i;
    } else if (const std::optional<std::string_view> text = graph.str_of(key_item)) {
      key = std::string(*text);
    } else {
      context.fail(ErrorCode::kUnsupported, offset,
                   "a dict key of type " + graph.type_name(key_item) + " (only str and int keys are)");
    }
    graph.set_item(dict, std::move(key), value);
  };
  if (args.size() == 1) {
    const Node* source = graph.node_of(args[0]);
    if (source && source->kind == NodeKind::kDict) {
      dict = graph.copy_entries(source->dict());
      dict.ordered = ordered;
    } else if (source && (source->kind == NodeKind::kList || source->kind == NodeKind::kTuple)) {
      for (const Item& pair : source->items()) {
        const Node* node = graph.node_of(pair, NodeKind::kTuple);
        if (!node || node->items().size() != 2) {
          args.fail(ErrorCode::kCorrupt, args.callee() + ": items must be (key, value) pairs");
        }
        const auto& kv = node->items();
        insert(kv[0], kv[1]);
      }
    } else {
      args.fail_type(0, "items", "a dict or a list of pairs");
    }
  }
  return graph.add(NodeKind::kDict, offset, std::move(dict));
}

}  // namespace

Item call_global(ObjectGraph& graph, const Context& context, const Item& callable,
                 const Item& args_item, const std::optional<Item>& kwargs, CallOp op,
                 std::uint64_t offset) {
  const Node* callee = graph.node_of(callable, NodeKind::kGlobal);
  if (!callee) {
    context.fail(ErrorCode::kCorrupt, offset,
                 std::string(call_op_name(op)) + " calls " + with_article(graph.type_name(callable)) +
                     ", which is not callable");
  }
  const GlobalNode& global = callee->global();
  const Node* tuple = graph.node_of(args_item, NodeKind::kTuple);
  if (!tuple) {
    context.fail(ErrorCode::kCorrupt, offset,
                 std::string(call_op_name(op)) + " of " + global.name +
                     " needs a tuple of arguments, got " + with_article(graph.type_name(args_item)));
  }
  const Args args(graph, context, global.name, tuple->items(), offset);

  if (!global.kind) {  // salvage: an instance of an unknown class, recorded, never made
    graph.add_use(args_item);
    ObjectNode object{global.name, args_item, std::nullopt, none};
    if (kwargs) {
      graph.add_use(*kwargs);
      object.kwargs = *kwargs;
    }
    return graph.add(NodeKind::kObject, offset, std::move(object));
  }
  if (kwargs) {
    const Node* node = graph.node_of(*kwargs, NodeKind::kDict);
    if (!node || !node->dict().entries.empty()) {
      args.fail(ErrorCode::kUnsupported, global.name + " called with keyword arguments");
    }
  }
  // NEWOBJ creates an instance of a class; the table's functions are not classes.
  const bool is_class = *global.kind == GlobalKind::kOrderedDict ||
                        *global.kind == GlobalKind::kCounter ||
                        *global.kind == GlobalKind::kParameterClass ||
                        *global.kind == GlobalKind::kBytes ||
                        *global.kind == GlobalKind::kByteArray ||
                        *global.kind == GlobalKind::kSet || *global.kind == GlobalKind::kFrozenSet;
  if (op != CallOp::kReduce && !is_class) {
    args.fail(ErrorCode::kCorrupt,
              std::string(call_op_name(op)) + " of " + global.name + ", which is not a class");
  }

  switch (*global.kind) {
    case GlobalKind::kOrderedDict: return make_dict(graph, context, args, true, offset);
    case GlobalKind::kCounter: return make_dict(graph, context, args, false, offset);
    case GlobalKind::kRebuildTensor:
    case GlobalKind::kRebuildTensorV2:
    case GlobalKind::kRebuildTensorV3: return rebuild_tensor(graph, args, *global.kind, offset);
    case GlobalKind::kRebuildParameter:
      args.expect_count(3, 3);
      return make_parameter(graph, args, args.bool_at(1, "requires_grad"), offset);
    case GlobalKind::kRebuildParameterWithState:
      // Python attributes of the parameter (its 4th argument) are dropped, as BUILD on a
      // tensor drops them: a Value tensor has none.
      args.expect_count(4, 4);
      return make_parameter(graph, args, args.bool_at(1, "requires_grad"), offset);
    case GlobalKind::kParameterClass:
      args.expect_count(1, 2);
      return make_parameter(graph, args, args.size() == 1 || args.bool_at(1, "requires_grad"),
                            offset);
    case GlobalKind::kRebuildFromTypeV2: {
      // (func, type, args, state): func(*args) as an instance of type; state dropped.
      args.expect_count(4, 4);
      const Node* type = graph.node_of(args[1], NodeKind::kGlobal);
      const GlobalNode* type_global = type ? &type->global() : nullptr;
      const bool plain = type_global && (type_global->kind == GlobalKind::kTensorClass ||
                                         type_global->kind == GlobalKind::kParameterClass);
      if (!plain && !(type_global && !type_global->kind)) {
        args.fail(ErrorCode::kUnsupported, "tensor subclasses are not supported (" +
                                               graph.type_name(args[1]) + ")");
      }
      // Only a rebuild function (or, salvaging, an unknown one) may be applied, which
      // also keeps this from recursing through nested calls of itself.
      const Node* func = graph.node_of(args[0], NodeKind::kGlobal);
      const GlobalNode* func_global = func ? &func->global() : nullptr;
      const bool rebuild = func_global && (!func_global->kind ||
                                           func_global->kind == GlobalKind::kRebuildTensor ||
                                           func_global->kind == GlobalKind::kRebuildTensorV2 ||
                                           func_global->kind == GlobalKind::kRebuildTensorV3 ||
                                           func_global->kind == GlobalKind::kRebuildParameter ||
                                           func_global->kind == GlobalKind::kRebuildParameterWithState);
      if (!rebuild) args.fail_type(0, "func", "a tensor rebuild function");
      return call_global(graph, context, args[0], args[2], std::nullopt, CallOp::kReduce, offset);
    }
    case GlobalKind::kSize: {
      args.expect_count(0, 1);
      if (args.size() == 0) return graph.add(NodeKind::kTuple, offset, graph.new_items());
      args.shape_at(0, "sizes");  // checks it is a tuple of ints
      return args[0];
    }
    case GlobalKind::kDevice: return make_device(graph, args, offset);
    case GlobalKind::kCodecsEncode: return encode(graph, args, offset);
    case GlobalKind::kBytes:
    case GlobalKind::kByteArray: return make_bytes(graph, args, offset);
    case GlobalKind::kSet:
    case GlobalKind::kFrozenSet: return make_set(graph, args, offset);
    case GlobalKind::kTensorClass:
    case GlobalKind::kStorageClass:
    case GlobalKind::kUntypedStorage:
    case GlobalKind::kDType: break;
  }
  args.fail(ErrorCode::kUnsupported, std::string(call_op_name(op)) + " of " + global.name +
                                          " (calling it is not supported)");
}

namespace {

[[noreturn]] void refuse_build(const ObjectGraph& graph, const Context& context,
                               const Item& target, const Item& state, std::uint64_t offset) {
  context.fail(ErrorCode::kUnsupported, offset,
               "BUILD on " + with_article(graph.type_name(target)) + " (with " +
                   with_article(graph.type_name(state)) + " as its state)");
}

}  // namespace

void build_object(ObjectGraph& graph, const Context& context, const Item& target,
                  const Item& state, std::uint64_t offset) {
  Node* node = graph.node_of(target);
  const auto refuse = [&] { refuse_build(graph, context, target, state, offset); };
  if (!node) refuse_build(graph, context, target, state, offset);
  const Node* state_node = graph.node_of(state);
  const bool empty_state =
      std::holds_alternative<None>(state) ||
      (state_node && state_node->kind == NodeKind::kDict && state_node->dict().entries.empty());
  switch (node->kind) {
    case NodeKind::kDict: {
      DictNode& dict = node->dict();
      if (empty_state) return;
      // OrderedDict.__reduce__ gives its instance __dict__ ({'_metadata': ...}); a plain
      // dict has no attributes to set.
      if (!dict.ordered || !state_node || state_node->kind != NodeKind::kDict) refuse();
      if (dict.attributes) refuse();  // a second BUILD: Python would merge; none writes it
      graph.add_use(state);
      dict.attributes = state;
      return;
    }
    case NodeKind::kTensor:
      // A tensor's Python attributes (set by BUILD or _rebuild_parameter_with_state)
      // have no place in a Value: the tensor is kept, its attributes dropped.
      return;
    case NodeKind::kObject: {
      graph.add_use(state);
      node->object().state = state;
      return;
    }
    default: break;
  }
  refuse();
}

Item load_persistent(ObjectGraph& graph, const Context& context, const Item& pid,
                     const StorageLoader& load_storage, std::uint64_t offset) {
  const Node* tuple = graph.node_of(pid, NodeKind::kTuple);
  const Items* items = tuple ? &tuple->items() : nullptr;
  const std::optional<std::string_view> tag =
      items && !items->empty() ? graph.str_of((*items)[0]) : std::nullopt;
  if (!tag) {
    context.fail(ErrorCode::kCorrupt, offset,
                 "a persistent id must be a tuple ('storage', ...), got " +
                     with_article(graph.type_name(pid)));
  }
  const std::string_view kind = *tag;
  std::string built;
  std::string_view callee = "persistent id ('storage', ...)";
  if (kind != kStoragePidTag) {
    built = "persistent id ('" + std::string(kind) + "', ...)";
    callee = built;
  }
  const Args args(graph, context, callee, *items, offset);
  if (kind == kModulePidTag) {
    // The legacy format names the class of a pickled module with its source code.
    args.expect_count(4, 4);
    const Node* cls = graph.node_of((*items)[1], NodeKind::kGlobal);
    if (context.salvage && cls) return (*items)[1];
    context.fail(ErrorCode::kUnsupported, offset,
                 "a persistent id naming the source of pickled module class " +
                     graph.type_name((*items)[1]),
                 ": the file holds a whole pickled module; mnemo does not run pickled code: "
                 "save model.state_dict() instead, or load with salvage = true to recover "
                 "its tensors");
  }
  if (kind != kStoragePidTag) {
    context.fail(ErrorCode::kUnsupported, offset,
                 "a persistent id of kind '" + std::string(kind) + "'");
  }
  args.expect_count(5, 6);
  const Node* cls = graph.node_of((*items)[1], NodeKind::kGlobal);
  const GlobalNode* storage_class = cls ? &cls->global() : nullptr;
  if (!storage_class || (storage_class->kind != GlobalKind::kStorageClass &&
                         storage_class->kind != GlobalKind::kUntypedStorage)) {
    args.fail_type(1, "storage_type", "a storage class");
  }
  StorageRef ref;
  ref.untyped = storage_class->kind == GlobalKind::kUntypedStorage;
  ref.dtype = ref.untyped ? DType::kUInt8 : storage_class->dtype;
  ref.key = args.str_at(2, "key");
  ref.location = args.str_at(3, "location");
  ref.numel = args.int_at(4, "numel");
  ref.byte_offset = offset;
  std::int64_t nbytes = 0;
  if (ref.numel < 0 ||
      __builtin_mul_overflow(ref.numel, static_cast<std::int64_t>(element_size(ref.dtype)), &nbytes)) {
    args.fail(ErrorCode::kCorrupt, "storage '" + std::string(ref.key) +
                                       "' has an impossible size of " + std::to_string(ref.numel) +
                                       " elements");
  }
  if (!load_storage) {
    args.fail(ErrorCode::kUnsupported, "the pickle names storage '" + std::string(ref.key) +
                                           "', but no storage loader was given");
  }
  StorageNode storage{load_storage(ref), ref.dtype, ref.untyped, ref.numel, std::string(ref.key)};
  if (!storage.storage.defined() || storage.storage.nbytes() < static_cast<std::uint64_t>(nbytes)) {
    args.fail(ErrorCode::kCorrupt,
              "storage '" + std::string(ref.key) + "' holds " +
                  std::to_string(storage.storage.defined() ? storage.storage.nbytes() : 0) +
                  " bytes, but its persistent id says " + std::to_string(ref.numel) +
                  " elements (" + std::to_string(nbytes) + " bytes)");
  }
  if (items->size() == 6 && !std::holds_alternative<None>((*items)[5])) {
    // The legacy format's view of a storage: (view_key, offset, size) in elements.
    const Node* view = graph.node_of((*items)[5], NodeKind::kTuple);
    const auto* view_items = view ? &view->items() : nullptr;
    if (!view_items || view_items->size() != 3) args.fail_type(5, "view_metadata", "None or a 3-tuple");
    const Args view_args(graph, context, "storage view", *view_items, offset);
    const std::string view_key(view_args.str_at(0, "view_key"));
    const std::int64_t view_offset = view_args.int_at(1, "offset");
    const std::int64_t view_size = view_args.int_at(2, "size");
    if (view_offset < 0 || view_size < 0 || view_offset > ref.numel ||
        view_size > ref.numel - view_offset) {
      args.fail(ErrorCode::kCorrupt,
                "storage view '" + view_key + "' (offset " + std::to_string(view_offset) +
                    ", size " + std::to_string(view_size) + ") lies outside storage '" +
                    std::string(ref.key) + "' of " + std::to_string(ref.numel) + " elements");
    }
    const std::size_t element = element_size(ref.dtype);
    storage.storage = storage.storage.slice(static_cast<std::size_t>(view_offset) * element,
                                            static_cast<std::size_t>(view_size) * element);
    storage.numel = view_size;
    storage.key = view_key;
  }
  return graph.add(NodeKind::kStorage, offset, std::move(storage));
}

}  // namespace mnemo::pickle::detail
