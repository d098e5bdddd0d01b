#include "formats/pickle/unpickler.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "formats/pickle/global_calls.h"
#include "formats/pickle/globals.h"
#include "formats/pickle/object_graph.h"
#include "formats/pickle/opcodes.h"
#include "formats/pickle/tensor_pattern.h"
#include "mnemo/limits.h"

namespace mnemo::pickle {
namespace {

using detail::CallOp;
using detail::DictNode;
using detail::GlobalNode;
using detail::Item;
using detail::Node;
using detail::NodeKind;
using detail::NodeRef;

enum class Utf8 { kValid, kInvalid, kSurrogate };

// Strict UTF-8: no overlong forms, nothing past U+10FFFF; surrogates (which pickle's
// "surrogatepass" can write) are told apart, as a Value str cannot hold them.
Utf8 check_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return Utf8::kInvalid;
    }
    if (s.size() - i <= n) return Utf8::kInvalid;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xc0) != 0x80) return Utf8::kInvalid;
      cp = (cp << 6) | (next & 0x3f);
    }
    static constexpr std::uint32_t kMinimum[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinimum[n] || cp > 0x10ffff) return Utf8::kInvalid;
    if (cp >= 0xd800 && cp <= 0xdfff) return Utf8::kSurrogate;
    i += n + 1;
  }
  return Utf8::kValid;
}

std::string latin1_to_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out += ch;
    } else {
      out += static_cast<char>(0xc0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3f));
    }
  }
  return out;
}

std::string hex_byte(std::uint8_t byte) {
  static constexpr char kDigits[] = "0123456789abcdef";
  return std::string("0x") + kDigits[byte >> 4] + kDigits[byte & 15];
}

class Unpickler {
 public:
  // The most memo entries reserved ahead: 64 MiB of address space, not memory.
  static constexpr std::size_t kMemoReserveLimit = std::size_t{1} << 22;

  Unpickler(std::span<const std::byte> data, const StorageLoader& load_storage,
            const UnpickleOptions& options)
      : data_(data.first(std::min<std::size_t>(data.size(), limits::kMaxPickleBytes))),
        clamped_(data.size() > limits::kMaxPickleBytes),
        load_storage_(load_storage),
        context_{options.origin, options.salvage},
        graph_(context_, data_),
        fast_tensors_(options.fast_tensors) {
    // torch.save puts a memo entry for every 11 bytes of its pickles or so. Room for one
    // per 8 bytes spares the memo its regrowth (copies, and a fault per page each time);
    // memory that is reserved and not used is never touched.
    memo_.reserve(std::min<std::size_t>(data_.size() / 8, kMemoReserveLimit));
  }

  UnpickleResult run();

 private:
  // --- reading the opcode's operands --------------------------------------------------
  const std::byte* take(std::uint64_t n);
  std::uint8_t u8() { return static_cast<std::uint8_t>(*take(1)); }
  std::uint64_t uint_le(std::size_t n);
  std::string_view bytes(std::uint64_t n) {
    return {reinterpret_cast<const char*>(take(n)), static_cast<std::size_t>(n)};
  }
  std::uint64_t size_operand(std::size_t width);  // a length, checked against the limit
  std::string_view line();
  [[noreturn]] void fail(ErrorCode code, const std::string& what, std::string_view tail = {}) const {
    context_.fail(code, op_offset_, what, tail);
  }
  // The pickle needs bytes past the end of data_: it is truncated, or, where data_ was
  // cut at kMaxPickleBytes, longer than the limit. Cold, so that the readers of operands
  // that call it stay small.
  [[noreturn, gnu::cold, gnu::noinline]] void fail_short(const std::string& what,
                                                         std::string_view tail = {}) const;

  // --- the stack ------------------------------------------------------------------------
  void push(Item item);
  Item pop();
  Item& top() { return below(stack_.size()); }
  // The item just below stack position `position`, which must be above the last MARK.
  Item& below(std::size_t position);
  // Removes the last MARK and returns the stack position it marked.
  std::size_t pop_mark();
  detail::Items pop_to_mark();
  std::size_t fence() const { return marks_.empty() ? 0 : marks_.back(); }

  // --- objects --------------------------------------------------------------------------
  Item str(std::string text) { return graph_.add(NodeKind::kStr, op_offset_, std::move(text)); }
  // A str whose text is `text`, a view into the pickle's bytes.
  detail::TextRef text_ref(std::string_view text) const {
    return {
        static_cast<std::uint32_t>(reinterpret_cast<const std::byte*>(text.data()) - data_.data()),
        static_cast<std::uint32_t>(text.size())};
  }
  Item unicode(std::string_view utf8);
  Item integer(std::string_view le_bytes);
  Item container(NodeKind kind, detail::Items items);
  Item resolve_global(std::string_view module, std::string_view name);
  // The item on top of the stack, which must be a node of `kind` (what APPEND, SETITEM
  // and their kin change); target_below: the one just below stack position `position`.
  Node& target(NodeKind kind, std::string_view what);
  Node& target_below(std::size_t position, NodeKind kind, std::string_view what);
  DictKey dict_key(const Item& key);
  void set_items(DictNode& dict, std::span<const Item> items);
  void check_hashable(const Item& item);
  void memo_put(std::uint64_t index);
  void memo_get(std::uint64_t index);

  // --- the fast path for torch.save's tensors (tensor_pattern.h) ---------------------
  // After a memo fetch: when it put _rebuild_tensor_v2 on the stack and the bytes that
  // follow are torch.save's pattern, builds the tensor without the tuples and dicts of
  // its arguments, and returns true. Returns false, having changed nothing, for anything
  // else, and the general path reads the same bytes.
  bool read_tensor_pattern();
  // At a str: while the bytes that start there are items of a state_dict as torch.save
  // writes them (a str key and its BINPUT, the fetch of _rebuild_tensor_v2, the pattern),
  // pushes each key and tensor as the general path would, and returns true when it read
  // at least one. Returns false, having changed nothing, otherwise.
  bool read_tensor_items();
  // The tensor of the pattern at `pos` (the MARK after the rebuild function), whose memo
  // entries are to be put from index `first_put` on: true with `p` matched and `tensor`
  // built when everything the general path checks passes; false otherwise, with nothing
  // changed but a storage loaded (which the general path loads again, to the same).
  bool build_pattern_tensor(std::size_t pos, std::size_t first_put, detail::TensorPattern& p,
                            Tensor& tensor);
  // Puts the pattern's memo entries, the tensor's last, and returns the tensor's item.
  Item commit_pattern_tensor(const detail::TensorPattern& p, Tensor tensor);
  // The memo entry a pattern's BINGET names: a node of `kind`, or nullptr.
  const Node* fetched_node(std::size_t index, NodeKind kind);
  // A pattern's str: the node it fetches, or its text checked as the general path checks
  // it (nullopt when either fails).
  std::optional<std::string_view> pattern_str(const detail::StrOperand& operand);

  // Called once, from run()'s loop: inlined there, it costs no call per opcode.
  [[gnu::always_inline]] inline void step(std::uint8_t byte);

  // The bytes the pickle may use: those given, up to kMaxPickleBytes. (The legacy format
  // hands over the rest of the file, in which the pickle is followed by storages.)
  std::span<const std::byte> data_;
  bool clamped_;
  const StorageLoader& load_storage_;
  detail::Context context_;
  detail::ObjectGraph graph_;
  std::size_t pos_ = 0;
  std::uint64_t op_offset_ = 0;
  std::string_view op_name_;
  std::vector<Item> stack_;
  std::vector<std::size_t> marks_;
  std::vector<Item> memo_;
  std::unordered_map<std::uint64_t, Item> sparse_memo_;
  bool stopped_ = false;
  bool fast_tensors_;
  // What the fast path memoises for the objects it does not build. torch.save never
  // fetches them; a pickle that does is read again without the fast path (unpickle()).
  std::optional<NodeRef> placeholder_;
  bool is_placeholder(const Item& item) const {
    const auto* ref = std::get_if<NodeRef>(&item);
    return placeholder_ && ref && ref->id == placeholder_->id;
  }
};

// Thrown when a pickle fetches a placeholder.
struct PlaceholderFetched {};

void Unpickler::fail_short(const std::string& what, std::string_view tail) const {
  if (clamped_) {
    fail(ErrorCode::kLimit, "the pickle runs past " + std::to_string(limits::kMaxPickleBytes) +
                                " bytes (limit kMaxPickleBytes)");
  }
  fail(ErrorCode::kCorrupt, what, tail);
}

const std::byte* Unpickler::take(std::uint64_t n) {
  const std::size_t remaining = data_.size() - pos_;
  if (n > remaining) {
    fail_short("truncated pickle: " + std::string(op_name_) + " needs " + std::to_string(n) +
               " more bytes, " + std::to_string(remaining) + " remain, for the opcode");
  }
  const std::byte* p = data_.data() + pos_;
  pos_ += static_cast<std::size_t>(n);
  return p;
}

std::uint64_t Unpickler::uint_le(std::size_t n) {
  const std::byte* p = take(n);
  std::uint64_t value = 0;
  for (std::size_t i = n; i-- > 0;) value = (value << 8) | static_cast<std::uint8_t>(p[i]);
  return value;
}

std::uint64_t Unpickler::size_operand(std::size_t width) {
  const std::uint64_t n = uint_le(width);
  if (n > limits::kMaxStringBytes) {
    fail(ErrorCode::kLimit, std::string(op_name_) + " of " + std::to_string(n) +
                                " bytes exceeds the limit of " +
                                std::to_string(limits::kMaxStringBytes) + " (kMaxStringBytes)");
  }
  return n;
}

std::string_view Unpickler::line() {
  const std::size_t remaining = data_.size() - pos_;
  const void* newline = std::memchr(data_.data() + pos_, '\n', remaining);
  if (!newline) {
    fail_short("truncated pickle: " + std::string(op_name_) + " has no end of line in the " +
               std::to_string(remaining) + " bytes that remain, for the opcode");
  }
  const std::size_t length = static_cast<const std::byte*>(newline) - (data_.data() + pos_);
  std::string_view text = bytes(length);
  take(1);
  return text;
}

void Unpickler::push(Item item) {
  if (stack_.size() >= limits::kMaxPickleStack) {
    fail(ErrorCode::kLimit, "the pickle stack exceeds " + std::to_string(limits::kMaxPickleStack) +
                                " values (limit kMaxPickleStack)");
  }
  stack_.push_back(std::move(item));
}

Item Unpickler::pop() {
  if (stack_.size() <= fence()) {
    fail(ErrorCode::kCorrupt, std::string(op_name_) + " pops from an empty stack" +
                                  (marks_.empty() ? "" : " (above the last MARK)"));
  }
  Item item = std::move(stack_.back());
  stack_.pop_back();
  return item;
}

Item& Unpickler::below(std::size_t position) {
  if (position <= fence()) {
    fail(ErrorCode::kCorrupt, std::string(op_name_) + " needs a value on the stack" +
                                  (marks_.empty() ? "" : " above the last MARK") + ", found none");
  }
  return stack_[position - 1];
}

std::size_t Unpickler::pop_mark() {
  if (marks_.empty()) fail(ErrorCode::kCorrupt, std::string(op_name_) + " without a MARK");
  const std::size_t mark = marks_.back();
  marks_.pop_back();
  return mark;
}

detail::Items Unpickler::pop_to_mark() {
  const std::size_t mark = pop_mark();
  detail::Items items = graph_.new_items();
  items.assign(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(mark)),
               std::make_move_iterator(stack_.end()));
  stack_.resize(mark);
  return items;
}

Item Unpickler::unicode(std::string_view utf8) {
  switch (check_utf8(utf8)) {
    case Utf8::kValid: break;
    case Utf8::kInvalid: fail(ErrorCode::kCorrupt, std::string(op_name_) + " holds invalid UTF-8");
    case Utf8::kSurrogate:
      fail(ErrorCode::kUnsupported,
           std::string(op_name_) + " holds a lone surrogate, which a UTF-8 str cannot hold");
  }
  return text_ref(utf8);
}

Item Unpickler::integer(std::string_view le_bytes) {
  BigInt value = BigInt::from_le_bytes(
      {reinterpret_cast<const std::uint8_t*>(le_bytes.data()), le_bytes.size()});
  if (value.fits_int64()) return value.to_int64();
  return graph_.add(NodeKind::kBigInt, op_offset_, std::move(value));
}

Item Unpickler::container(NodeKind kind, detail::Items items) {
  for (const Item& item : items) graph_.add_use(item);
  return graph_.add(kind, op_offset_, std::move(items));
}

Item Unpickler::resolve_global(std::string_view module, std::string_view name) {
  const std::string qualified = qualified_name(module, name);
  const GlobalLookup lookup = lookup_global(module, name);
  switch (lookup.status) {
    case GlobalLookup::Status::kAllowed: {
      // A dtype reads as its name, "torch.float32".
      return graph_.add(NodeKind::kGlobal, op_offset_,
                        GlobalNode{lookup.kind, lookup.dtype, qualified});
    }
    case GlobalLookup::Status::kRefused:
      fail(ErrorCode::kUnsupported, std::string(lookup.reason) + " (pickle global '" + qualified + "')");
    case GlobalLookup::Status::kUnknown: break;
  }
  if (context_.salvage) {
    return graph_.add(NodeKind::kGlobal, op_offset_, GlobalNode{std::nullopt, DType::kUInt8, qualified});
  }
  if (looks_like_class(qualified)) {
    fail(ErrorCode::kUnsupported, "a pickled object of class '" + qualified + "'",
         ": the file holds a whole pickled module or other class instance (as "
         "torch.save(model) writes); mnemo does not run pickled code: save "
         "model.state_dict() instead, or load with salvage = true to recover its tensors");
  }
  fail(ErrorCode::kUnsupported, "pickle global '" + qualified + "'",
       " is not allowed (mnemo reads data only)");
}

Node& Unpickler::target(NodeKind kind, std::string_view what) {
  return target_below(stack_.size(), kind, what);
}

Node& Unpickler::target_below(std::size_t position, NodeKind kind, std::string_view what) {
  Item& item = below(position);
  Node* node = graph_.node_of(item, kind);
  if (!node) {
    const std::string type = graph_.type_name(item);
    fail(ErrorCode::kCorrupt, std::string(op_name_) + " onto " +
                                  (type == "None" ? type : "a " + type) + " (it needs " +
                                  std::string(what) + ")");
  }
  return *node;
}

DictKey Unpickler::dict_key(const Item& key) {
  if (const auto* i = std::get_if<std::int64_t>(&key)) return *i;
  if (const std::optional<std::string_view> text = graph_.str_of(key)) return std::string(*text);
  fail(ErrorCode::kUnsupported, "a dict key of type " + graph_.type_name(key) +
                                    " (mnemo's dicts have str or int keys)");
}

void Unpickler::set_items(DictNode& dict, std::span<const Item> items) {
  if (items.size() % 2 != 0) {
    fail(ErrorCode::kCorrupt, std::string(op_name_) + " with an odd number (" +
                                  std::to_string(items.size()) + ") of keys and values");
  }
  for (std::size_t i = 0; i < items.size(); i += 2) {
    graph_.set_item(dict, dict_key(items[i]), items[i + 1]);
  }
}

void Unpickler::check_hashable(const Item& item) {
  const Node* node = graph_.node_of(item);
  if (node && (node->kind == NodeKind::kList || node->kind == NodeKind::kDict ||
               node->kind == NodeKind::kSet)) {
    fail(ErrorCode::kCorrupt, std::string(op_name_) + " puts a " + graph_.type_name(item) +
                                  " in a set (it is unhashable)");
  }
}

void Unpickler::memo_put(std::uint64_t index) {
  const Item& item = top();
  // Picklers number memo entries 0, 1, 2, ...: those go to a vector; any other index to
  // a map, so that a far index costs one entry, not a vector reaching it.
  if (index < memo_.size()) {
    memo_[static_cast<std::size_t>(index)] = item;
    return;
  }
  auto sparse = sparse_memo_.find(index);
  if (sparse != sparse_memo_.end()) {
    sparse->second = item;
    return;
  }
  if (memo_.size() + sparse_memo_.size() >= limits::kMaxPickleMemo) {
    fail(ErrorCode::kLimit, "the memo exceeds " + std::to_string(limits::kMaxPickleMemo) +
                                " entries (limit kMaxPickleMemo)");
  }
  if (index == memo_.size()) {
    memo_.push_back(item);
  } else {
    sparse_memo_.emplace(index, item);
  }
}

void Unpickler::memo_get(std::uint64_t index) {
  if (index < memo_.size()) {
    const Item& item = memo_[static_cast<std::size_t>(index)];
    if (is_placeholder(item)) throw PlaceholderFetched{};
    push(item);
    return;
  }
  auto sparse = sparse_memo_.find(index);
  if (sparse == sparse_memo_.end()) {
    fail(ErrorCode::kCorrupt, std::string(op_name_) + " of memo index " + std::to_string(index) +
                                  ", which was never set");
  }
  push(sparse->second);
}

const Node* Unpickler::fetched_node(std::size_t index, NodeKind kind) {
  if (index >= memo_.size()) return nullptr;
  return graph_.node_of(memo_[index], kind);
}

std::optional<std::string_view> Unpickler::pattern_str(const detail::StrOperand& operand) {
  if (operand.fetched != detail::kNoMemo) {
    if (operand.fetched >= memo_.size()) return std::nullopt;
    return graph_.str_of(memo_[operand.fetched]);
  }
  if (operand.text.size() > limits::kMaxStringBytes || check_utf8(operand.text) != Utf8::kValid) {
    return std::nullopt;
  }
  return operand.text;
}

bool Unpickler::read_tensor_pattern() {
  if (!fast_tensors_ || pos_ >= data_.size() || static_cast<Op>(data_[pos_]) != Op::kMark) {
    return false;
  }
  const Node* callee = graph_.node_of(stack_.back(), NodeKind::kGlobal);
  if (!callee || callee->global().kind != GlobalKind::kRebuildTensorV2) return false;
  detail::TensorPattern p;
  Tensor tensor;
  if (!build_pattern_tensor(pos_, memo_.size(), p, tensor)) return false;
  stack_.back() = commit_pattern_tensor(p, std::move(tensor));  // REDUCE replaces the callable
  pos_ = p.end;
  return true;
}

bool Unpickler::read_tensor_items() {
  if (!fast_tensors_) return false;
  std::size_t at = pos_ - 1;  // the str's opcode
  bool read = false;
  detail::TensorItem item;
  detail::TensorPattern p;
  while (detail::match_tensor_item(data_, at, item)) {
    // What the general path checks of the str, its BINPUT and the fetch, then the rest.
    const Node* callee = fetched_node(item.rebuild, NodeKind::kGlobal);
    if (!callee || callee->global().kind != GlobalKind::kRebuildTensorV2 ||
        item.key_put != memo_.size() || item.key.size() > limits::kMaxStringBytes ||
        check_utf8(item.key) != Utf8::kValid || stack_.size() + 2 > limits::kMaxPickleStack) {
      break;
    }
    Tensor tensor;
    if (!build_pattern_tensor(item.pattern, memo_.size() + 1, p, tensor)) break;
    const Item key = text_ref(item.key);
    memo_.push_back(key);
    stack_.push_back(key);
    stack_.push_back(commit_pattern_tensor(p, std::move(tensor)));
    at = p.end;
    read = true;
  }
  if (read) pos_ = at;
  return read;
}

bool Unpickler::build_pattern_tensor(std::size_t pos, std::size_t first_put,
                                     detail::TensorPattern& p, Tensor& tensor) {
  if (!detail::match_tensor_pattern(data_, pos, p)) return false;

  // Everything the general path would check, checked before anything changes.
  const Node* storage_class = fetched_node(p.storage_class, NodeKind::kGlobal);
  const Node* ordered_dict = fetched_node(p.ordered_dict, NodeKind::kGlobal);
  const std::optional<std::string_view> tag = pattern_str(p.tag);
  const std::optional<std::string_view> key = pattern_str(p.key);
  const std::optional<std::string_view> location = pattern_str(p.location);
  if (!storage_class || !ordered_dict || !tag || !key || !location || *tag != kStoragePidTag ||
      ordered_dict->global().kind != GlobalKind::kOrderedDict) {
    return false;
  }
  const std::optional<GlobalKind> class_kind = storage_class->global().kind;
  if (class_kind != GlobalKind::kStorageClass && class_kind != GlobalKind::kUntypedStorage) {
    return false;
  }
  // The memo grows one entry per BINPUT, in order, as torch.save numbers them.
  std::size_t next = first_put;
  for (const std::size_t put : {p.tag.put, p.key.put, p.location.put, p.pid_put, p.sizes.put,
                                p.strides.put, p.hooks_put, p.args_put, p.tensor_put}) {
    if (put != detail::kNoMemo && put != next++) return false;
  }
  if (!sparse_memo_.empty() || next > limits::kMaxPickleMemo ||
      marks_.size() + 2 > limits::kMaxPickleDepth) {  // the general path's limits
    return false;
  }
  if (p.sizes.size != p.strides.size) return false;

  StorageRef ref;
  ref.untyped = class_kind == GlobalKind::kUntypedStorage;
  ref.dtype = ref.untyped ? DType::kUInt8 : storage_class->global().dtype;
  ref.key = *key;
  ref.location = *location;
  ref.numel = p.numel;
  ref.byte_offset = p.persid_offset;
  if (!load_storage_) return false;
  // Loading is idempotent per key (StorageLoader's contract), so the general path may
  // still take over after it.
  Storage storage = load_storage_(ref);
  const std::uint64_t nbytes = static_cast<std::uint64_t>(p.numel) * element_size(ref.dtype);
  if (!storage.defined() || storage.nbytes() < nbytes) return false;
  Shape sizes(p.sizes.items.begin(), p.sizes.items.begin() + p.sizes.size);
  Shape strides(p.strides.items.begin(), p.strides.items.begin() + p.strides.size);
  if (p.requires_grad && !is_floating_point(ref.dtype) && !is_complex(ref.dtype)) return false;
  try {
    // Tensor checks the view against the storage as the general path does (view_fits):
    // a view that does not fit goes there, for its message.
    tensor = Tensor(std::move(storage), ref.dtype, std::move(sizes), std::move(strides),
                    p.storage_offset);
  } catch (const Error&) {
    return false;
  }
  if (p.requires_grad) tensor.set_requires_grad(true);
  return true;
}

Item Unpickler::commit_pattern_tensor(const detail::TensorPattern& p, Tensor tensor) {
  // The memo entries in the order of their indices, checked by build_pattern_tensor, the
  // strs as the general path makes them.
  if (!placeholder_)
    placeholder_ = graph_.add(NodeKind::kTuple, p.reduce_offset, graph_.new_items());
  const Item result = graph_.add(NodeKind::kTensor, p.reduce_offset, std::move(tensor));
  for (const detail::StrOperand* operand : {&p.tag, &p.key, &p.location}) {
    if (operand->put != detail::kNoMemo) memo_.push_back(text_ref(operand->text));
  }
  for (const std::size_t put : {p.pid_put, p.sizes.put, p.strides.put, p.hooks_put, p.args_put}) {
    if (put != detail::kNoMemo) memo_.push_back(*placeholder_);
  }
  memo_.push_back(result);  // at p.tensor_put, which the pattern always has
  return result;
}

UnpickleResult Unpickler::run() {
  while (!stopped_) {
    op_offset_ = pos_;
    op_name_ = "the next opcode";
    if (pos_ >= data_.size()) {
      fail_short("truncated pickle: it ends without STOP", ", where the next opcode belongs");
    }
    const auto byte = static_cast<std::uint8_t>(data_[pos_++]);
    step(byte);
  }
  if (stack_.size() != 1 || !marks_.empty()) {
    fail(ErrorCode::kCorrupt, "STOP leaves " + std::to_string(stack_.size()) + " values and " +
                                  std::to_string(marks_.size()) + " marks on the stack (expected "
                                  "one value and no mark)");
  }
  UnpickleResult result;
  result.value = graph_.to_value(stack_.back(), pos_);
  result.bytes_read = pos_;
  return result;
}

void Unpickler::step(std::uint8_t byte) {
  const OpInfo* info = find_op(byte);
  if (!info) {
    fail(ErrorCode::kCorrupt, "unknown pickle opcode " + hex_byte(byte));
  }
  op_name_ = info->name;
  if (!info->supported) {
    fail(ErrorCode::kUnsupported,
         "pickle opcode '" + std::string(info->name) + "' (" + hex_byte(byte) + ")",
         " is not supported");
  }
  switch (info->op) {
    case Op::kProto: {
      const std::uint8_t protocol = u8();
      if (protocol > kMaxReadProtocol) {
        fail(ErrorCode::kUnsupported, "pickle protocol " + std::to_string(protocol) +
                                          " (mnemo reads 2 to " + std::to_string(kMaxReadProtocol) + ")");
      }
      return;
    }
    case Op::kFrame: {
      // A hint for buffered readers; the frame must lie within the data.
      const std::uint64_t length = uint_le(8);
      if (length > data_.size() - pos_) {
        fail_short("truncated pickle: FRAME of " + std::to_string(length) + " bytes, " +
                   std::to_string(data_.size() - pos_) + " remain");
      }
      return;
    }
    case Op::kStop: stopped_ = true; return;
    case Op::kMark:
      if (marks_.size() >= limits::kMaxPickleDepth) {
        fail(ErrorCode::kLimit, "MARKs nest deeper than " + std::to_string(limits::kMaxPickleDepth) +
                                    " (limit kMaxPickleDepth)");
      }
      marks_.push_back(stack_.size());
      return;
    case Op::kPop:
      // POP takes the MARK when one sits at the top (as CPython does).
      if (!marks_.empty() && marks_.back() == stack_.size()) {
        marks_.pop_back();
      } else {
        pop();
      }
      return;
    case Op::kPopMark: pop_to_mark(); return;
    case Op::kDup: push(Item(top())); return;
    case Op::kNone: push(none); return;
    case Op::kNewTrue: push(true); return;
    case Op::kNewFalse: push(false); return;
    case Op::kBinInt: push(static_cast<std::int64_t>(static_cast<std::int32_t>(uint_le(4)))); return;
    case Op::kBinInt1: push(static_cast<std::int64_t>(u8())); return;
    case Op::kBinInt2: push(static_cast<std::int64_t>(uint_le(2))); return;
    case Op::kLong1: push(integer(bytes(u8()))); return;
    case Op::kLong4: {
      const auto n = static_cast<std::int32_t>(uint_le(4));
      if (n < 0) fail(ErrorCode::kCorrupt, "LONG4 with a negative length " + std::to_string(n));
      if (static_cast<std::uint64_t>(n) > limits::kMaxBigIntBytes) {
        fail(ErrorCode::kLimit, "LONG4 of " + std::to_string(n) + " bytes exceeds the limit of " +
                                    std::to_string(limits::kMaxBigIntBytes) + " (kMaxBigIntBytes)");
      }
      push(integer(bytes(static_cast<std::uint64_t>(n))));
      return;
    }
    case Op::kBinFloat: {
      const std::byte* p = take(8);  // big-endian, unlike every other operand
      std::uint64_t bits = 0;
      for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<std::uint8_t>(p[i]);
      push(std::bit_cast<double>(bits));
      return;
    }
    case Op::kShortBinUnicode:
      if (read_tensor_items()) return;
      push(unicode(bytes(size_operand(1))));
      return;
    case Op::kBinUnicode:
      if (read_tensor_items()) return;
      push(unicode(bytes(size_operand(4))));
      return;
    case Op::kBinUnicode8: push(unicode(bytes(size_operand(8)))); return;
    case Op::kShortBinString:
    case Op::kBinString: {
      std::uint64_t n = 0;
      if (info->op == Op::kShortBinString) {
        n = u8();
      } else {
        const auto length = static_cast<std::int32_t>(uint_le(4));
        if (length < 0) fail(ErrorCode::kCorrupt, "BINSTRING with a negative length");
        n = static_cast<std::uint64_t>(length);
        if (n > limits::kMaxStringBytes) {
          fail(ErrorCode::kLimit, "BINSTRING of " + std::to_string(n) +
                                      " bytes exceeds the limit of " +
                                      std::to_string(limits::kMaxStringBytes) + " (kMaxStringBytes)");
        }
      }
      // A Python 2 str: torch.load decodes it as UTF-8; bytes that are not UTF-8 are
      // read as latin-1, one code point per byte.
      const std::string_view raw = bytes(n);
      if (check_utf8(raw) == Utf8::kValid) {
        push(text_ref(raw));
      } else {
        push(str(latin1_to_utf8(raw)));
      }
      return;
    }
    case Op::kShortBinBytes:
    case Op::kBinBytes:
    case Op::kBinBytes8:
    case Op::kByteArray8: {
      const std::size_t width = info->op == Op::kShortBinBytes ? 1 : info->op == Op::kBinBytes ? 4 : 8;
      const std::string_view raw = bytes(size_operand(width));
      push(graph_.add(NodeKind::kBytes, op_offset_, Bytes(raw.begin(), raw.end())));
      return;
    }
    case Op::kEmptyTuple:
      push(container(NodeKind::kTuple, graph_.new_items()));
      return;
    case Op::kTuple: push(container(NodeKind::kTuple, pop_to_mark())); return;
    case Op::kTuple1:
    case Op::kTuple2:
    case Op::kTuple3: {
      const std::size_t n = info->op == Op::kTuple1 ? 1 : info->op == Op::kTuple2 ? 2 : 3;
      detail::Items items = graph_.new_items();
      items.resize(n);
      for (std::size_t i = n; i-- > 0;) items[i] = pop();
      push(container(NodeKind::kTuple, std::move(items)));
      return;
    }
    case Op::kEmptyList:
      push(container(NodeKind::kList, graph_.new_items()));
      return;
    case Op::kList: push(container(NodeKind::kList, pop_to_mark())); return;
    case Op::kAppend: {
      Item item = pop();
      Node& list = target(NodeKind::kList, "a list");
      graph_.add_use(item);
      list.items().push_back(std::move(item));
      return;
    }
    case Op::kAppends: {
      detail::Items items = pop_to_mark();
      Node& list = target(NodeKind::kList, "a list");
      auto& children = list.items();
      for (Item& item : items) {
        graph_.add_use(item);
        children.push_back(std::move(item));
      }
      return;
    }
    case Op::kEmptyDict: push(graph_.add(NodeKind::kDict, op_offset_, DictNode{})); return;
    case Op::kDict: {
      detail::Items items = pop_to_mark();
      DictNode dict;
      set_items(dict, items);
      push(graph_.add(NodeKind::kDict, op_offset_, std::move(dict)));
      return;
    }
    case Op::kSetItem: {
      Item value = pop();
      Item key = pop();
      const Item pair[] = {key, value};
      set_items(target(NodeKind::kDict, "a dict").dict(), pair);
      return;
    }
    case Op::kSetItems: {
      // The keys and values are read where they lie on the stack, not copied off it: a
      // state_dict comes in batches of a thousand.
      const std::size_t mark = pop_mark();
      const std::span<const Item> items(stack_.data() + mark, stack_.size() - mark);
      set_items(target_below(mark, NodeKind::kDict, "a dict").dict(), items);
      stack_.resize(mark);
      return;
    }
    case Op::kEmptySet:
      push(container(NodeKind::kSet, graph_.new_items()));
      return;
    case Op::kFrozenSet: {
      detail::Items items = pop_to_mark();
      for (const Item& item : items) check_hashable(item);
      push(container(NodeKind::kSet, std::move(items)));
      return;
    }
    case Op::kAddItems: {
      detail::Items items = pop_to_mark();
      Node& set = target(NodeKind::kSet, "a set");
      auto& children = set.items();
      for (Item& item : items) {
        check_hashable(item);
        graph_.add_use(item);
        children.push_back(std::move(item));
      }
      return;
    }
    case Op::kGlobal: {
      const std::string_view module = line();
      const std::string_view name = line();
      if (check_utf8(module) != Utf8::kValid || check_utf8(name) != Utf8::kValid) {
        fail(ErrorCode::kCorrupt, "GLOBAL with a name that is not UTF-8");
      }
      push(resolve_global(module, name));
      return;
    }
    case Op::kStackGlobal: {
      const Item name = pop();
      const Item module = pop();
      const std::optional<std::string_view> name_text = graph_.str_of(name);
      const std::optional<std::string_view> module_text = graph_.str_of(module);
      if (!name_text || !module_text) {
        fail(ErrorCode::kCorrupt, "STACK_GLOBAL needs two str, got " + graph_.type_name(module) +
                                      " and " + graph_.type_name(name));
      }
      push(resolve_global(*module_text, *name_text));
      return;
    }
    case Op::kReduce: {
      Item args = pop();
      Item callable = pop();
      push(detail::call_global(graph_, context_, callable, args, std::nullopt, CallOp::kReduce,
                               op_offset_));
      return;
    }
    case Op::kNewObj: {
      Item args = pop();
      Item cls = pop();
      push(detail::call_global(graph_, context_, cls, args, std::nullopt, CallOp::kNewObj, op_offset_));
      return;
    }
    case Op::kNewObjEx: {
      Item kwargs = pop();
      Item args = pop();
      Item cls = pop();
      push(detail::call_global(graph_, context_, cls, args, kwargs, CallOp::kNewObjEx, op_offset_));
      return;
    }
    case Op::kBuild: {
      Item state = pop();
      detail::build_object(graph_, context_, top(), state, op_offset_);
      return;
    }
    case Op::kBinPersId: {
      Item pid = pop();
      push(detail::load_persistent(graph_, context_, pid, load_storage_, op_offset_));
      return;
    }
    case Op::kBinGet:
      memo_get(u8());
      read_tensor_pattern();
      return;
    case Op::kLongBinGet:
      memo_get(uint_le(4));
      read_tensor_pattern();
      return;
    case Op::kBinPut: memo_put(u8()); return;
    case Op::kLongBinPut: memo_put(uint_le(4)); return;
    case Op::kMemoize: memo_put(memo_.size() + sparse_memo_.size()); return;  // len(memo)
    default: break;
  }
  fail(ErrorCode::kUnsupported, "pickle opcode '" + std::string(info->name) + "' (" +
                                    hex_byte(byte) + ")", " is not supported");
}

}  // namespace

UnpickleResult unpickle(std::span<const std::byte> data, const StorageLoader& load_storage,
                        const UnpickleOptions& options) {
  try {
    return Unpickler(data, load_storage, options).run();
  } catch (const PlaceholderFetched&) {
    // The pickle fetches an argument of a tensor that the fast path did not build:
    // read it again, building everything. Storages load once per key, so reading twice
    // loads nothing twice.
    UnpickleOptions general = options;
    general.fast_tensors = false;
    return Unpickler(data, load_storage, general).run();
  }
}

}  // namespace mnemo::pickle
