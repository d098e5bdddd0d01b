// Value: the tree a checkpoint is made of — what a pickle holds, restricted to data.
//
//   None, bool, int (64-bit, and wider integers kept exactly as BigInt), float (double),
//   str, bytes, list, tuple, dict (insertion-ordered, string or int keys; optionally an
//   OrderedDict with attributes, as PyTorch's state_dicts are), Tensor.
//
// Values have value semantics: copying a Value copies its lists and dicts (tensors are
// handles, so their data is shared, as in PyTorch). Build them with initializer lists:
//
//   mnemo::Value ckpt = mnemo::Dict{{"epoch", 5}, {"loss", 0.12},
//                                   {"model_state_dict", net.state_dict()}};
//   std::int64_t epoch = ckpt["epoch"].as_int();
//   mnemo::Tensor w = ckpt["model_state_dict"]["fc1.weight"].as_tensor();
//
// Typed accessors throw kInvalidArgument naming the path and the actual type, e.g.
// "expected a Tensor at ['model_state_dict']['fc1.weight'], got a dict".
#pragma once

#include <concepts>
#include <functional>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "mnemo/core/ordered_map.h"
#include "mnemo/core/tensor.h"

namespace mnemo {

class Value;
class StateDict;

struct None {
  friend bool operator==(None, None) { return true; }
};
inline constexpr None none{};

// An integer of any width, as two's-complement little-endian bytes of minimal length
// (pickle's LONG1/LONG4 encoding).
class BigInt {
 public:
  BigInt() = default;  // zero
  explicit BigInt(std::int64_t value);
  static BigInt from_le_bytes(std::span<const std::uint8_t> bytes);

  const std::vector<std::uint8_t>& le_bytes() const { return bytes_; }
  bool is_negative() const { return !bytes_.empty() && (bytes_.back() & 0x80); }
  bool fits_int64() const { return bytes_.size() <= 8; }
  std::int64_t to_int64() const;  // REQUIRES: fits_int64()
  std::string to_string() const;  // decimal

  friend bool operator==(const BigInt&, const BigInt&) = default;

 private:
  std::vector<std::uint8_t> bytes_;  // empty for zero
};

using Bytes = std::vector<std::uint8_t>;

class List : public std::vector<Value> {
 public:
  using std::vector<Value>::vector;
};

class Tuple : public std::vector<Value> {
 public:
  using std::vector<Value>::vector;
};

using DictKey = std::variant<std::int64_t, std::string>;
std::string key_repr(const DictKey& key);  // 'name' or 12

class Dict {
 public:
  using Item = std::pair<DictKey, Value>;

  Dict() = default;
  // Later items with an existing key replace the earlier value, as in Python.
  Dict(std::initializer_list<Item> items);

  std::size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }
  auto begin() { return map_.begin(); }
  auto end() { return map_.end(); }
  auto begin() const { return map_.begin(); }
  auto end() const { return map_.end(); }

  bool contains(const DictKey& key) const { return map_.contains(key); }
  const Value* find(const DictKey& key) const { return map_.find(key); }
  Value* find(const DictKey& key) { return map_.find(key); }
  // Throws kInvalidArgument when the key is absent.
  const Value& at(const DictKey& key) const;
  Value& at(const DictKey& key);
  // Inserts at the end, or replaces the value in place when the key exists.
  Value& insert_or_assign(DictKey key, Value value);
  bool erase(const DictKey& key) { return map_.erase(key); }
  void reserve(std::size_t n) { map_.reserve(n); }
  std::vector<DictKey> keys() const;

  // A collections.OrderedDict rather than a plain dict (pickled differently).
  bool is_ordered_dict() const { return ordered_; }
  void set_ordered_dict(bool ordered) { ordered_ = ordered; }
  // The instance attributes an OrderedDict carries (a state_dict's "_metadata");
  // nullptr when there are none.
  const Dict* attributes() const { return attributes_.get(); }
  void set_attributes(Dict attributes);
  void clear_attributes() { attributes_.reset(); }

  friend bool operator==(const Dict& a, const Dict& b);

 private:
  detail::OrderedMap<DictKey, Value> map_;
  bool ordered_ = false;
  std::shared_ptr<const Dict> attributes_;
};

enum class ValueType : std::uint8_t {
  kNone, kBool, kInt, kBigInt, kDouble, kString, kBytes, kList, kTuple, kDict, kTensor,
};

// Python's word for the type, for messages: "None", "bool", "int", "float", "str", ...
std::string_view value_type_name(ValueType type);

class ValueRef;

namespace detail {
// An integer subscript as int64; unsigned values past INT64_MAX stay out of range rather
// than wrapping to a negative index (which would count from the end).
template <std::integral T>
std::int64_t to_index(T value) {
  if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
    if (value > static_cast<T>(INT64_MAX)) return INT64_MAX;
  }
  return static_cast<std::int64_t>(value);
}

// A T as a Value holds it: by pointer, for the types that would make every Value larger
// (a Dict takes 72 bytes, a std::string 32), since every item of every dict and list is a
// Value: it takes 32 bytes. Copies are deep; a moved-from box reads as an empty T.
template <class T>
class Boxed {
 public:
  explicit Boxed(T value) : value_(std::make_unique<T>(std::move(value))) {}
  Boxed(const Boxed& other) : value_(std::make_unique<T>(other.get())) {}
  Boxed(Boxed&&) noexcept = default;
  Boxed& operator=(const Boxed& other) {
    if (this != &other) value_ = std::make_unique<T>(other.get());
    return *this;
  }
  Boxed& operator=(Boxed&&) noexcept = default;
  ~Boxed() = default;

  const T& get() const {
    static const T empty;
    return value_ ? *value_ : empty;
  }
  T& get() {
    if (!value_) value_ = std::make_unique<T>();
    return *value_;
  }
  friend bool operator==(const Boxed& a, const Boxed& b) { return a.get() == b.get(); }

 private:
  std::unique_ptr<T> value_;
};
}  // namespace detail

class Value {
 public:
  Value() = default;
  Value(None) {}
  Value(bool v) : data_(v) {}
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  Value(T v);
  Value(double v) : data_(v) {}
  Value(float v) : data_(static_cast<double>(v)) {}
  Value(const char* v) : data_(detail::Boxed<std::string>(v)) {}
  Value(std::string v) : data_(detail::Boxed<std::string>(std::move(v))) {}
  Value(std::string_view v) : data_(detail::Boxed<std::string>(std::string(v))) {}
  Value(BigInt v);  // kept as an int when it fits in 64 bits
  Value(Bytes v) : data_(std::move(v)) {}
  Value(List v) : data_(std::move(v)) {}
  Value(Tuple v) : data_(std::move(v)) {}
  Value(Dict v) : data_(detail::Boxed<Dict>(std::move(v))) {}
  Value(Tensor v) : data_(std::move(v)) {}
  Value(const StateDict& state_dict);  // an OrderedDict with its "_metadata"

  ValueType type() const { return static_cast<ValueType>(data_.index()); }
  bool is_none() const { return type() == ValueType::kNone; }
  bool is_bool() const { return type() == ValueType::kBool; }
  bool is_int() const { return type() == ValueType::kInt; }  // fits in int64
  bool is_big_int() const { return type() == ValueType::kBigInt; }
  bool is_double() const { return type() == ValueType::kDouble; }
  bool is_string() const { return type() == ValueType::kString; }
  bool is_bytes() const { return type() == ValueType::kBytes; }
  bool is_list() const { return type() == ValueType::kList; }
  bool is_tuple() const { return type() == ValueType::kTuple; }
  bool is_dict() const { return type() == ValueType::kDict; }
  bool is_tensor() const { return type() == ValueType::kTensor; }

  // Typed access; each throws kInvalidArgument naming the actual type.
  bool as_bool() const;
  std::int64_t as_int() const;
  BigInt as_big_int() const;  // any int
  double as_double() const;   // a float only
  double to_double() const;   // a float or an int, as Python accepts both
  const std::string& as_string() const;
  const Bytes& as_bytes() const;
  const List& as_list() const;
  const Tuple& as_tuple() const;
  const Dict& as_dict() const;
  const Tensor& as_tensor() const;
  List& as_list();
  Tuple& as_tuple();
  Dict& as_dict();
  // A dict of tensors (with "_metadata" when it is an OrderedDict carrying one).
  StateDict to_state_dict() const;

  // Subscripts that remember their path for error messages: dict keys, list/tuple
  // indices (negative from the end), or int keys of a dict.
  ValueRef operator[](std::string_view key) const;
  ValueRef operator[](const char* key) const;
  ValueRef operator[](std::int64_t index_or_key) const;
  // Any other integer type, so that v[0] (0 could also be a null const char*) and
  // v[size_t] are unambiguous.
  template <std::integral T>
    requires(!std::same_as<T, bool> && !std::same_as<T, std::int64_t>)
  ValueRef operator[](T index_or_key) const;

  // Python's repr(): {'epoch': 5, 'w': tensor([1., 2.])}.
  std::string repr() const;
  // repr() cut to its first `max_chars` characters and "..." when longer, built no
  // further than that: for messages about values read from files, whose whole repr can
  // be far larger than the file (one object referenced a million times).
  std::string repr(std::size_t max_chars) const;

  // Deep equality: same types and values; tensors by Tensor::equal.
  friend bool operator==(const Value& a, const Value& b);

 private:
  friend class ValueRef;
  using Data = std::variant<None, bool, std::int64_t, BigInt, double, detail::Boxed<std::string>,
                            Bytes, List, Tuple, detail::Boxed<Dict>, Tensor>;
  Data data_;
};

// A Value seen through a path of subscripts from some root, so that a failed access says
// where it failed. Valid while the root Value lives and is not modified.
class ValueRef {
 public:
  ValueRef(const Value& value, std::string path) : value_(&value), path_(std::move(path)) {}

  const Value& value() const { return *value_; }
  operator const Value&() const { return *value_; }
  // "['model_state_dict']['fc1.weight']", or "" at the root.
  const std::string& path() const { return path_; }

  ValueType type() const { return value_->type(); }
  bool as_bool() const;
  std::int64_t as_int() const;
  BigInt as_big_int() const;
  double as_double() const;
  double to_double() const;
  const std::string& as_string() const;
  const Bytes& as_bytes() const;
  const List& as_list() const;
  const Tuple& as_tuple() const;
  const Dict& as_dict() const;
  const Tensor& as_tensor() const;
  StateDict to_state_dict() const;

  bool contains(std::string_view key) const;
  ValueRef operator[](std::string_view key) const;
  ValueRef operator[](const char* key) const { return (*this)[std::string_view(key)]; }
  ValueRef operator[](std::int64_t index_or_key) const;
  template <std::integral T>
    requires(!std::same_as<T, bool> && !std::same_as<T, std::int64_t>)
  ValueRef operator[](T index_or_key) const {
    return (*this)[detail::to_index(index_or_key)];
  }

 private:
  template <class T> const T& get(ValueType expected) const;
  [[noreturn]] void fail_type(std::string_view expected) const;

  const Value* value_;
  std::string path_;
};

std::ostream& operator<<(std::ostream& out, const Value& value);

// Calls fn(path, tensor) for every tensor in `value`, depth first in stored order, with
// the path written as subscripts ("['model_state_dict']['fc1.weight']", "[0]").
void for_each_tensor(const Value& value,
                     const std::function<void(const std::string& path, const Tensor&)>& fn);

// Python's repr() of a float: shortest round-trip digits, "1.0", "1e-08", "inf", "nan".
std::string repr_double(double value);

// ---------------------------------------------------------------------------------------

template <std::integral T>
  requires(!std::same_as<T, bool>)
Value::Value(T v) {
  if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
    if (v > static_cast<T>(INT64_MAX)) {
      std::uint8_t bytes[9] = {};
      for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(v >> (8 * i));
      data_ = BigInt::from_le_bytes(bytes);  // the 9th byte keeps it positive
      return;
    }
  }
  data_ = static_cast<std::int64_t>(v);
}

inline bool Value::as_bool() const { return ValueRef(*this, "").as_bool(); }
inline std::int64_t Value::as_int() const { return ValueRef(*this, "").as_int(); }
inline BigInt Value::as_big_int() const { return ValueRef(*this, "").as_big_int(); }
inline double Value::as_double() const { return ValueRef(*this, "").as_double(); }
inline double Value::to_double() const { return ValueRef(*this, "").to_double(); }
inline const std::string& Value::as_string() const { return ValueRef(*this, "").as_string(); }
inline const Bytes& Value::as_bytes() const { return ValueRef(*this, "").as_bytes(); }
inline const List& Value::as_list() const { return ValueRef(*this, "").as_list(); }
inline const Tuple& Value::as_tuple() const { return ValueRef(*this, "").as_tuple(); }
inline const Dict& Value::as_dict() const { return ValueRef(*this, "").as_dict(); }
inline const Tensor& Value::as_tensor() const { return ValueRef(*this, "").as_tensor(); }
inline List& Value::as_list() { return const_cast<List&>(std::as_const(*this).as_list()); }
inline Tuple& Value::as_tuple() { return const_cast<Tuple&>(std::as_const(*this).as_tuple()); }
inline Dict& Value::as_dict() {
  std::as_const(*this).as_dict();  // refuses another type
  return std::get<detail::Boxed<Dict>>(data_).get();
}
inline ValueRef Value::operator[](std::string_view key) const { return ValueRef(*this, "")[key]; }
inline ValueRef Value::operator[](const char* key) const { return ValueRef(*this, "")[key]; }
inline ValueRef Value::operator[](std::int64_t index_or_key) const {
  return ValueRef(*this, "")[index_or_key];
}
template <std::integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, std::int64_t>)
ValueRef Value::operator[](T index_or_key) const {
  return ValueRef(*this, "")[detail::to_index(index_or_key)];
}

}  // namespace mnemo
