#include "formats/pickle/pickler.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

#include "formats/pickle/globals.h"
#include "formats/pickle/opcodes.h"
#include "formats/text_arena.h"
#include "mnemo/core/error.h"
#include "mnemo/core/ordered_map.h"

namespace mnemo::pickle {
namespace {

// CPython pickles lists, dicts and dict items in batches of this many.
constexpr std::size_t kBatchSize = 1000;

constexpr std::string_view kMetadataAttribute = "_metadata";

// How a str is memoised (pickler.h, rule 3).
enum class StrKind : std::uint8_t {
  kText,       // interned when empty, one cached character, or identifier-like
  kFreshText,  // made at save time: shared only when empty or one cached character
};

bool is_cached_character(std::string_view s) {
  if (s.size() == 1) return true;
  // U+0080..U+00FF take two bytes in UTF-8, led by 0xC2 or 0xC3.
  return s.size() == 2 && (static_cast<unsigned char>(s[0]) == 0xc2 ||
                           static_cast<unsigned char>(s[0]) == 0xc3);
}

// CPython interns a code constant made only of these characters (all_name_chars).
bool is_name_chars(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_';
    if (!ok) return false;
  }
  return true;
}

bool is_scalar(const Value& v) {
  return v.is_none() || v.is_bool() || v.is_int() || v.is_big_int() || v.is_double() ||
         v.is_string();
}

// Tuples already written under each key of the dicts of one list (pickler.h, rule 4).
struct SharedTuple {
  DictKey key;
  const Tuple* tuple;
  std::uint32_t memo;
};
using SharedTuples = std::vector<SharedTuple>;

class Pickler {
 public:
  explicit Pickler(const StorageNamer& name_storage) : name_storage_(name_storage) {}

  std::vector<std::byte> run(const Value& value) {
    op(Op::kProto);
    byte(kWriteProtocol);
    write(value);
    op(Op::kStop);
    out_.resize(size_);
    return std::move(out_);
  }

 private:
  // --- bytes -------------------------------------------------------------------------
  // out_ is grown ahead of the bytes (size_ of it are written), so that appending a
  // byte is a store, not a push_back's bookkeeping.
  std::byte* room(std::size_t n) {
    if (out_.size() - size_ < n) [[unlikely]]
      grow(n);
    std::byte* at = out_.data() + size_;
    size_ += n;
    return at;
  }
  [[gnu::noinline]] void grow(std::size_t n) {
    out_.resize(std::max(out_.size() * 2, size_ + n + 4096));
  }
  void byte(std::uint8_t b) { *room(1) = static_cast<std::byte>(b); }
  void op(Op o) { byte(static_cast<std::uint8_t>(o)); }
  void uint_le(std::uint64_t v, int n) {
    std::byte* at = room(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) at[i] = static_cast<std::byte>(v >> (8 * i));
  }
  void raw(std::string_view s) {
    if (!s.empty()) std::memcpy(room(s.size()), s.data(), s.size());
  }

  // --- memo --------------------------------------------------------------------------
  std::uint32_t put() {
    const std::uint32_t index = memo_size_++;
    if (index < 256) {
      op(Op::kBinPut);
      byte(static_cast<std::uint8_t>(index));
    } else {
      op(Op::kLongBinPut);
      uint_le(index, 4);
    }
    return index;
  }
  void get(std::uint32_t index) {
    if (index < 256) {
      op(Op::kBinGet);
      byte(static_cast<std::uint8_t>(index));
    } else {
      op(Op::kLongBinGet);
      uint_le(index, 4);
    }
  }

  // --- values ------------------------------------------------------------------------
  void write(const Value& value, SharedTuples* shared = nullptr);
  void write_int(std::int64_t v);
  void write_big_int(const BigInt& v);
  void write_double(double v);
  // Returns the str's memo index when it is memoised (a later equal str fetches it).
  std::optional<std::uint32_t> write_str(std::string_view s, StrKind kind);
  // A str every tensor writes ('storage', the location): the memo index of its last
  // text is kept, since the memo never forgets a str, so that most tensors skip the
  // memo's hashing.
  struct RepeatedStr {
    std::string text;
    std::optional<std::uint32_t> memo;
  };
  void write_repeated_str(std::string_view s, RepeatedStr& last);
  // The key of a tensor's storage, written once per storage and then fetched (rule 2).
  void write_storage_key(const StorageId& id);
  void write_bytes(const Bytes& bytes);
  std::optional<std::uint32_t> write_tuple(const std::vector<Value>& items);
  void write_shape(const Shape& shape);
  void write_list(const List& list);
  void write_dict(const Dict& dict, StrKind key_kind, SharedTuples* shared);
  void write_items(const Dict& dict, StrKind key_kind, SharedTuples* shared, bool exact);
  void write_item(const DictKey& key, const Value& value, StrKind key_kind, SharedTuples* shared);
  void write_global(GlobalName global);  // `global` views constants: it is kept
  void write_tensor(const Tensor& tensor);

  // --- messages ----------------------------------------------------------------------
  // Where the value being written is, as subscripts: built only for a message.
  struct PathPart {
    const DictKey* key;  // a dict item, or nullptr for a list or tuple index
    std::size_t index;
    bool attribute;      // an OrderedDict attribute: ".attributes[...]"
  };
  class PathScope {  // pushes a part for the lifetime of the scope
   public:
    PathScope(std::vector<PathPart>& path, PathPart part) : path_(path) { path_.push_back(part); }
    ~PathScope() { path_.pop_back(); }
    PathScope(const PathScope&) = delete;
    PathScope& operator=(const PathScope&) = delete;

   private:
    std::vector<PathPart>& path_;
  };
  std::string path() const {
    if (path_.empty()) return "the top level";
    std::string out;
    for (const PathPart& part : path_) {
      if (part.attribute) out += ".attributes";
      out += "[" + (part.key ? key_repr(*part.key) : std::to_string(part.index)) + "]";
    }
    return out;
  }

  const StorageNamer& name_storage_;
  std::vector<std::byte> out_;
  std::size_t size_ = 0;  // bytes of out_ written
  std::uint32_t memo_size_ = 0;
  struct WrittenGlobal {
    GlobalName global;  // views of constants
    std::uint32_t memo;
  };
  std::vector<WrittenGlobal> globals_;
  RepeatedStr storage_tag_, location_;
  // Memoised strs by their text (rule 3). Some are temporaries (locations), so the keys
  // view copies kept in memo_text_.
  formats::TextArena memo_text_;
  mnemo::detail::OrderedMap<std::string_view, std::uint32_t> interned_;
  std::vector<std::uint32_t> storage_key_memo_;  // by storage number (rule 2)
  // Tensors written so far, as handles in the value being pickled. Distinct tensors may
  // share a data address (views), so each links to the one written before it at the
  // same address.
  static constexpr std::uint32_t kNoTensor = std::numeric_limits<std::uint32_t>::max();
  struct WrittenTensor {
    const Tensor* tensor;
    std::uint32_t memo;
    std::uint32_t previous_at_address;  // index in written_tensors_, or kNoTensor
  };
  std::vector<WrittenTensor> written_tensors_;
  mnemo::detail::OrderedMap<const void*, std::uint32_t> last_tensor_at_;
  std::vector<PathPart> path_;  // "['model']['fc.weight']", for messages
};

void Pickler::write(const Value& value, SharedTuples* shared) {
  switch (value.type()) {
    case ValueType::kNone: op(Op::kNone); return;
    case ValueType::kBool: op(value.as_bool() ? Op::kNewTrue : Op::kNewFalse); return;
    case ValueType::kInt: write_int(value.as_int()); return;
    case ValueType::kBigInt: write_big_int(value.as_big_int()); return;
    case ValueType::kDouble: write_double(value.as_double()); return;
    case ValueType::kString: write_str(value.as_string(), StrKind::kText); return;
    case ValueType::kBytes: write_bytes(value.as_bytes()); return;
    case ValueType::kList: write_list(value.as_list()); return;
    case ValueType::kTuple: write_tuple(value.as_tuple()); return;
    case ValueType::kDict: write_dict(value.as_dict(), StrKind::kText, shared); return;
    case ValueType::kTensor: write_tensor(value.as_tensor()); return;
  }
}

void Pickler::write_int(std::int64_t v) {
  if (v >= 0 && v <= 0xff) {
    op(Op::kBinInt1);
    byte(static_cast<std::uint8_t>(v));
  } else if (v >= 0 && v <= 0xffff) {
    op(Op::kBinInt2);
    uint_le(static_cast<std::uint64_t>(v), 2);
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    op(Op::kBinInt);
    uint_le(static_cast<std::uint64_t>(v), 4);
  } else {
    write_big_int(BigInt(v));
  }
}

void Pickler::write_big_int(const BigInt& v) {
  // Minimal two's complement, little-endian: exactly BigInt's own encoding.
  const std::vector<std::uint8_t>& bytes = v.le_bytes();
  if (bytes.size() < 256) {
    op(Op::kLong1);
    byte(static_cast<std::uint8_t>(bytes.size()));
  } else {
    op(Op::kLong4);
    uint_le(bytes.size(), 4);
  }
  for (std::uint8_t b : bytes) byte(b);
}

void Pickler::write_double(double v) {
  op(Op::kBinFloat);
  const auto bits = std::bit_cast<std::uint64_t>(v);
  for (int i = 7; i >= 0; --i) byte(static_cast<std::uint8_t>(bits >> (8 * i)));
}

std::optional<std::uint32_t> Pickler::write_str(std::string_view s, StrKind kind) {
  const bool interned =
      s.empty() || is_cached_character(s) || (kind == StrKind::kText && is_name_chars(s));
  if (interned) {
    if (const std::uint32_t* index = interned_.find(s)) {
      get(*index);
      return *index;
    }
  }
  op(Op::kBinUnicode);
  uint_le(s.size(), 4);
  raw(s);
  const std::uint32_t index = put();
  if (!interned) return std::nullopt;
  interned_.insert_or_assign(memo_text_.keep(s), index);
  return index;
}

void Pickler::write_storage_key(const StorageId& id) {
  if (id.number < storage_key_memo_.size()) {
    get(storage_key_memo_[id.number]);
    return;
  }
  MNEMO_CHECK(id.number == storage_key_memo_.size(), "the storage namer numbered a new storage ",
              id.number, " after ", storage_key_memo_.size(), " storages; numbers count up from 0");
  op(Op::kBinUnicode);
  uint_le(id.key.size(), 4);
  raw(id.key);
  storage_key_memo_.push_back(put());
}

void Pickler::write_repeated_str(std::string_view s, RepeatedStr& last) {
  if (last.memo && last.text == s) {
    get(*last.memo);
    return;
  }
  last.text.assign(s);
  last.memo = write_str(s, StrKind::kText);
}

void Pickler::write_bytes(const Bytes& bytes) {
  if (bytes.empty()) {
    write_global(kEmptyBytesGlobal);
    op(Op::kEmptyTuple);
    op(Op::kReduce);
    put();
    return;
  }
  write_global(kCodecsEncodeGlobal);
  std::string latin1;  // each byte as the code point of its value, in UTF-8
  latin1.reserve(bytes.size());
  for (std::uint8_t b : bytes) {
    if (b < 0x80) {
      latin1 += static_cast<char>(b);
    } else {
      latin1 += static_cast<char>(0xc0 | (b >> 6));
      latin1 += static_cast<char>(0x80 | (b & 0x3f));
    }
  }
  write_str(latin1, StrKind::kFreshText);
  write_str(kLatin1Encoding, StrKind::kText);
  op(Op::kTuple2);
  put();
  op(Op::kReduce);
  put();
}

std::optional<std::uint32_t> Pickler::write_tuple(const std::vector<Value>& items) {
  if (items.empty()) {
    op(Op::kEmptyTuple);
    return std::nullopt;
  }
  if (items.size() > 3) op(Op::kMark);
  for (std::size_t i = 0; i < items.size(); ++i) {
    const PathScope scope(path_, {nullptr, i, false});
    write(items[i]);
  }
  switch (items.size()) {
    case 1: op(Op::kTuple1); break;
    case 2: op(Op::kTuple2); break;
    case 3: op(Op::kTuple3); break;
    default: op(Op::kTuple); break;
  }
  return put();
}

// What write_tuple writes for a tuple of ints, without making Values of them.
void Pickler::write_shape(const Shape& shape) {
  if (shape.empty()) {
    op(Op::kEmptyTuple);
    return;
  }
  if (shape.size() > 3) op(Op::kMark);
  for (const std::int64_t v : shape) write_int(v);
  switch (shape.size()) {
    case 1: op(Op::kTuple1); break;
    case 2: op(Op::kTuple2); break;
    case 3: op(Op::kTuple3); break;
    default: op(Op::kTuple); break;
  }
  put();
}

void Pickler::write_list(const List& list) {
  op(Op::kEmptyList);
  put();
  SharedTuples shared;
  auto item = [&](std::size_t i) {
    const PathScope scope(path_, {nullptr, i, false});
    write(list[i], &shared);
  };
  if (list.size() == 1) {
    item(0);
    op(Op::kAppend);
    return;
  }
  for (std::size_t start = 0; start < list.size(); start += kBatchSize) {
    op(Op::kMark);
    for (std::size_t i = start; i < std::min(list.size(), start + kBatchSize); ++i) item(i);
    op(Op::kAppends);
  }
}

void Pickler::write_dict(const Dict& dict, StrKind key_kind, SharedTuples* shared) {
  if (!dict.is_ordered_dict()) {
    if (dict.attributes() && !dict.attributes()->empty()) {
      fail(ErrorCode::kUnsupported, "cannot pickle the dict at ", path(),
           ": only an OrderedDict can carry attributes (", dict.attributes()->size(),
           " given); make it an OrderedDict");
    }
    op(Op::kEmptyDict);
    put();
    write_items(dict, key_kind, shared, /*exact=*/true);
    return;
  }
  write_global(kOrderedDictGlobal);
  op(Op::kEmptyTuple);
  op(Op::kReduce);
  put();
  write_items(dict, key_kind, nullptr, /*exact=*/false);
  const Dict* attributes = dict.attributes();
  if (!attributes || attributes->empty()) return;
  // OrderedDict.__reduce__'s state: the instance __dict__, a plain dict.
  op(Op::kEmptyDict);
  put();
  auto attribute = [&](const DictKey& key, const Value& value) {
    const auto* name = std::get_if<std::string>(&key);
    const PathScope scope(path_, {&key, 0, true});
    if (name && *name == kMetadataAttribute && value.is_dict()) {
      // '_metadata' keys are module prefixes sliced at save time (pickler.h, rule 3).
      write_str(*name, StrKind::kText);
      write_dict(value.as_dict(), StrKind::kFreshText, nullptr);
    } else {
      write_item(key, value, StrKind::kText, nullptr);
    }
  };
  if (attributes->size() == 1) {
    attribute(attributes->begin()->first, attributes->begin()->second);
    op(Op::kSetItem);
  } else {
    std::size_t n = 0;
    for (const auto& [key, value] : *attributes) {
      if (n % kBatchSize == 0) {
        if (n) op(Op::kSetItems);
        op(Op::kMark);
      }
      attribute(key, value);
      ++n;
    }
    op(Op::kSetItems);
  }
  op(Op::kBuild);
}

// CPython batches an exact dict as MARK ... SETITEMS per 1000 items (a dict of one item
// is a lone SETITEM, and a dict of 1000 * k items ends with an empty batch), and a dict
// subclass from its items iterator, where a last batch of one item is a lone SETITEM too.
void Pickler::write_items(const Dict& dict, StrKind key_kind, SharedTuples* shared, bool exact) {
  const std::size_t size = dict.size();
  if (size == 0) return;
  auto it = dict.begin();
  auto item = [&]() {
    {
      const PathScope scope(path_, {&it->first, 0, false});
      write_item(it->first, it->second, key_kind, shared);
    }
    ++it;
  };
  if (size == 1) {
    item();
    op(Op::kSetItem);
    return;
  }
  for (std::size_t start = 0; start < size; start += kBatchSize) {
    const std::size_t batch = std::min(kBatchSize, size - start);
    if (batch == 1 && !exact) {
      item();
      op(Op::kSetItem);
      break;
    }
    op(Op::kMark);
    for (std::size_t i = 0; i < batch; ++i) item();
    op(Op::kSetItems);
  }
  // CPython's loop for an exact dict goes round once more after a full batch.
  if (exact && size % kBatchSize == 0) {
    op(Op::kMark);
    op(Op::kSetItems);
  }
}

void Pickler::write_item(const DictKey& key, const Value& value, StrKind key_kind,
                         SharedTuples* shared) {
  if (const auto* i = std::get_if<std::int64_t>(&key)) {
    write_int(*i);
  } else {
    write_str(std::get<std::string>(key), key_kind);
  }
  if (shared && value.is_tuple() && !value.as_tuple().empty()) {
    const Tuple& tuple = value.as_tuple();
    const bool scalars = std::all_of(tuple.begin(), tuple.end(), is_scalar);
    if (scalars) {
      for (const SharedTuple& earlier : *shared) {
        if (earlier.key == key && *earlier.tuple == tuple) {
          get(earlier.memo);
          return;
        }
      }
      shared->push_back({key, &tuple, *write_tuple(tuple)});
      return;
    }
  }
  write(value);
}

void Pickler::write_global(GlobalName global) {
  // A pickle names a handful of globals, all constants: a short list beats hashing, and
  // the same constant is told by its address before its text is compared.
  const auto same = [](std::string_view a, std::string_view b) {
    return (a.data() == b.data() && a.size() == b.size()) || a == b;
  };
  for (const auto& [written, index] : globals_) {
    if (same(written.name, global.name) && same(written.module, global.module)) {
      get(index);
      return;
    }
  }
  op(Op::kGlobal);
  raw(global.module);
  byte('\n');
  raw(global.name);
  byte('\n');
  globals_.push_back({global, put()});
}

void Pickler::write_tensor(const Tensor& tensor) {
  if (!tensor.defined()) {
    op(Op::kNone);
    return;
  }
  const void* const address = tensor.data_ptr();
  const std::uint32_t* last_at_address = last_tensor_at_.find(address);
  for (std::uint32_t i = last_at_address ? *last_at_address : kNoTensor; i != kNoTensor;
       i = written_tensors_[i].previous_at_address) {
    if (written_tensors_[i].tensor->is_same(tensor)) {
      get(written_tensors_[i].memo);
      return;
    }
  }
  const std::uint32_t previous_at_address = last_at_address ? *last_at_address : kNoTensor;
  const std::optional<std::string_view> storage_class = storage_class_name(tensor.dtype());
  if (!storage_class) {
    // PyTorch 2.x pickles these dtypes with _rebuild_tensor_v3 and an UntypedStorage,
    // which 1.13 cannot load; mnemo writes what 1.13 reads.
    fail(ErrorCode::kUnsupported, "cannot save the ", dtype_name(tensor.dtype()), " tensor at ",
         path(), " as .pt: PyTorch 1.13 has no storage class for dtype ",
         dtype_name(tensor.dtype()), ", so it could not load the file; convert the tensor first "
         "(e.g. tensor.to(DType::kFloat32)), or save as .safetensors, which holds this dtype");
  }
  const StorageId id = name_storage_(tensor);
  write_global(kRebuildTensorV2Global);
  op(Op::kMark);
  op(Op::kMark);  // the persistent id
  write_repeated_str(kStoragePidTag, storage_tag_);
  write_global({kStorageClassModule, *storage_class});
  write_storage_key(id);
  write_repeated_str(id.location, location_);
  write_int(id.numel);
  op(Op::kTuple);
  put();
  op(Op::kBinPersId);
  write_int(tensor.storage_offset());
  write_shape(tensor.sizes());
  write_shape(tensor.strides());
  op(tensor.requires_grad() ? Op::kNewTrue : Op::kNewFalse);
  write_global(kOrderedDictGlobal);  // backward_hooks: OrderedDict()
  op(Op::kEmptyTuple);
  op(Op::kReduce);
  put();
  op(Op::kTuple);
  put();
  op(Op::kReduce);
  written_tensors_.push_back({&tensor, put(), previous_at_address});
  last_tensor_at_.insert_or_assign(address,
                                   static_cast<std::uint32_t>(written_tensors_.size() - 1));
}

}  // namespace

std::vector<std::byte> pickle(const Value& value, const StorageNamer& name_storage) {
  return Pickler(name_storage).run(value);
}

}  // namespace mnemo::pickle
