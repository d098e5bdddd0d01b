#include "mnemo/core/value.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>

#include "mnemo/core/state_dict.h"

namespace mnemo {
namespace {

// Drops bytes that only repeat the sign, so each integer has one encoding.
void normalise(std::vector<std::uint8_t>& bytes) {
  while (!bytes.empty()) {
    const std::uint8_t last = bytes.back();
    const bool below_negative = bytes.size() > 1 && (bytes[bytes.size() - 2] & 0x80);
    if ((last == 0x00 && (bytes.size() == 1 || !below_negative)) ||
        (last == 0xff && bytes.size() > 1 && below_negative)) {
      bytes.pop_back();
    } else {
      break;
    }
  }
}

std::string string_repr(std::string_view s) {
  const bool use_double = s.find('\'') != std::string_view::npos &&
                          s.find('"') == std::string_view::npos;
  const char quote = use_double ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c == static_cast<unsigned char>(quote)) {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
          char buffer[8];
          std::snprintf(buffer, sizeof(buffer), "\\x%02x", c);
          out += buffer;
        } else {
          out += static_cast<char>(c);  // UTF-8 passes through, as Python prints it
        }
    }
  }
  return out + quote;
}

std::string bytes_repr(const Bytes& bytes) {
  // Python picks the quotes as for str: double quotes when there is a ' and no ".
  const bool has_single = std::find(bytes.begin(), bytes.end(), '\'') != bytes.end();
  const bool has_double = std::find(bytes.begin(), bytes.end(), '"') != bytes.end();
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out = std::string("b") + quote;
  for (std::uint8_t c : bytes) {
    if (c == '\\' || c == quote) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7f) {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "\\x%02x", c);
      out += buffer;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + quote;
}

// Python's float(n) of an integer: correctly rounded; nullopt past the double range.
std::optional<double> big_int_to_double(const BigInt& value) {
  const std::vector<std::uint8_t>& bytes = value.le_bytes();
  std::vector<std::uint8_t> magnitude(bytes);  // little-endian, unsigned
  const bool negative = value.is_negative();
  if (negative) {  // two's complement: invert and add one
    for (auto& b : magnitude) b = static_cast<std::uint8_t>(~b);
    for (auto& b : magnitude) {
      if (++b != 0) break;
    }
  }
  while (!magnitude.empty() && magnitude.back() == 0) magnitude.pop_back();
  if (magnitude.empty()) return 0.0;
  const int top_bits = std::bit_width(magnitude.back());
  const std::size_t bit_length = (magnitude.size() - 1) * 8 + static_cast<std::size_t>(top_bits);
  // The top 64 bits, with any lower non-zero bit folded into the last one ("sticky"), so
  // that converting them rounds exactly as converting the whole number would.
  std::uint64_t top = 0;
  bool sticky = false;
  for (std::size_t bit = bit_length; bit-- > 0;) {
    const bool set = (magnitude[bit / 8] >> (bit % 8)) & 1;
    if (bit_length - bit <= 64) {
      top = (top << 1) | (set ? 1 : 0);
    } else {
      sticky = sticky || set;
    }
  }
  if (sticky) top |= 1;
  const int shift = bit_length > 64 ? static_cast<int>(bit_length - 64) : 0;
  const double result = std::ldexp(static_cast<double>(top), shift);
  if (!std::isfinite(result)) return std::nullopt;
  return negative ? -result : result;
}

std::string with_article(std::string_view type_name) {
  if (type_name == "None") return "None";
  const bool vowel = std::strchr("aeiouAEIOU", type_name.front()) != nullptr;
  return std::string(vowel ? "an " : "a ") + std::string(type_name);
}

std::string type_of(const Value& v) { return with_article(value_type_name(v.type())); }

}  // namespace

// --- BigInt --------------------------------------------------------------------------------

BigInt::BigInt(std::int64_t value) {
  bytes_.resize(8);
  for (int i = 0; i < 8; ++i) bytes_[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(value) >> (8 * i));
  normalise(bytes_);
}

BigInt BigInt::from_le_bytes(std::span<const std::uint8_t> bytes) {
  BigInt result;
  result.bytes_.assign(bytes.begin(), bytes.end());
  normalise(result.bytes_);
  return result;
}

std::int64_t BigInt::to_int64() const {
  MNEMO_CHECK(fits_int64(), "integer ", to_string(), " does not fit in 64 bits");
  std::uint64_t v = is_negative() ? ~std::uint64_t{0} : 0;
  for (std::size_t i = 0; i < bytes_.size(); ++i) {
    v &= ~(std::uint64_t{0xff} << (8 * i));
    v |= static_cast<std::uint64_t>(bytes_[i]) << (8 * i);
  }
  return static_cast<std::int64_t>(v);
}

std::string BigInt::to_string() const {
  if (bytes_.empty()) return "0";
  // Magnitude, big-endian, then repeated division by 10.
  std::vector<std::uint8_t> magnitude(bytes_.rbegin(), bytes_.rend());
  const bool negative = is_negative();
  if (negative) {  // two's complement: invert and add one
    for (auto& b : magnitude) b = static_cast<std::uint8_t>(~b);
    for (std::size_t i = magnitude.size(); i-- > 0;) {
      if (++magnitude[i] != 0) break;
    }
  }
  std::string digits;
  while (!magnitude.empty()) {
    unsigned remainder = 0;
    for (auto& b : magnitude) {
      const unsigned current = (remainder << 8) | b;
      b = static_cast<std::uint8_t>(current / 10);
      remainder = current % 10;
    }
    digits += static_cast<char>('0' + remainder);
    while (!magnitude.empty() && magnitude.front() == 0) magnitude.erase(magnitude.begin());
  }
  if (negative) digits += '-';
  return std::string(digits.rbegin(), digits.rend());
}

// --- Dict ----------------------------------------------------------------------------------------

std::string key_repr(const DictKey& key) {
  if (const auto* i = std::get_if<std::int64_t>(&key)) return std::to_string(*i);
  return string_repr(std::get<std::string>(key));
}

Dict::Dict(std::initializer_list<Item> items) {
  map_.reserve(items.size());
  for (const Item& item : items) map_.insert_or_assign(item.first, item.second);
}

const Value& Dict::at(const DictKey& key) const {
  const Value* v = find(key);
  if (!v) fail(ErrorCode::kInvalidArgument, "no key ", key_repr(key), " in the dict");
  return *v;
}

Value& Dict::at(const DictKey& key) {
  return const_cast<Value&>(std::as_const(*this).at(key));
}

Value& Dict::insert_or_assign(DictKey key, Value value) {
  return map_.insert_or_assign(std::move(key), std::move(value));
}

std::vector<DictKey> Dict::keys() const {
  std::vector<DictKey> keys;
  keys.reserve(size());
  for (const auto& item : map_) keys.push_back(item.first);
  return keys;
}

void Dict::set_attributes(Dict attributes) {
  attributes_ = std::make_shared<const Dict>(std::move(attributes));
}

bool operator==(const Dict& a, const Dict& b) {
  if (a.ordered_ != b.ordered_ || !(a.map_ == b.map_)) return false;
  if (!a.attributes_ || !b.attributes_) return !a.attributes_ && !b.attributes_;
  return *a.attributes_ == *b.attributes_;
}

// --- Value -------------------------------------------------------------------------------------------

std::string_view value_type_name(ValueType type) {
  switch (type) {
    case ValueType::kNone: return "None";
    case ValueType::kBool: return "bool";
    case ValueType::kInt:
    case ValueType::kBigInt: return "int";
    case ValueType::kDouble: return "float";
    case ValueType::kString: return "str";
    case ValueType::kBytes: return "bytes";
    case ValueType::kList: return "list";
    case ValueType::kTuple: return "tuple";
    case ValueType::kDict: return "dict";
    case ValueType::kTensor: return "Tensor";
  }
  return "unknown";
}

Value::Value(BigInt v) {
  if (v.fits_int64()) {
    data_ = v.to_int64();
  } else {
    data_ = std::move(v);
  }
}

bool operator==(const Value& a, const Value& b) {
  if (a.data_.index() != b.data_.index()) return false;
  return std::visit(
      [&](const auto& x) -> bool {
        using T = std::decay_t<decltype(x)>;
        const T& y = std::get<T>(b.data_);
        if constexpr (std::is_same_v<T, Tensor>) {
          return x.defined() == y.defined() && (!x.defined() || x.equal(y));
        } else {
          return x == y;
        }
      },
      a.data_);
}

std::string repr_double(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  std::string text(buffer, result.ptr);  // e.g. "-1.2345e+02"
  std::string sign;
  if (text.front() == '-') {
    sign = "-";
    text.erase(0, 1);
  }
  const std::size_t e = text.find('e');
  const int exponent = std::stoi(text.substr(e + 1));
  std::string digits = text.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());

  if (exponent >= -4 && exponent < 16) {  // Python's repr switches to exponents outside this
    std::string out;
    if (exponent >= 0) {
      const std::size_t int_digits = static_cast<std::size_t>(exponent) + 1;
      if (digits.size() <= int_digits) {
        out = digits + std::string(int_digits - digits.size(), '0') + ".0";
      } else {
        out = digits.substr(0, int_digits) + "." + digits.substr(int_digits);
      }
    } else {
      out = "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
    }
    return sign + out;
  }
  std::string mantissa = digits.substr(0, 1);
  if (digits.size() > 1) mantissa += "." + digits.substr(1);
  char exp_text[16];
  std::snprintf(exp_text, sizeof(exp_text), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return sign + mantissa + exp_text;
}

namespace {

// Appends `value`'s repr to `out`, stopping once `out` is longer than `limit`: the
// caller cuts what lies past it. A str or bytes longer than the room left is shown by
// its beginning only.
void append_repr(const Value& value, std::string& out, std::size_t limit) {
  const auto room = [&] { return limit - std::min(limit, out.size()) + 1; };
  const auto append_key = [&](const DictKey& key) {
    const auto* text = std::get_if<std::string>(&key);
    if (text && text->size() > room()) {
      out += string_repr(std::string_view(*text).substr(0, room()));
    } else {
      out += key_repr(key);
    }
  };
  const auto append_items = [&](const std::vector<Value>& items, bool list) {
    out += list ? "[" : "(";
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (out.size() > limit) return;
      if (i) out += ", ";
      append_repr(items[i], out, limit);
    }
    if (!list && items.size() == 1) out += ",";
    out += list ? "]" : ")";
  };
  switch (value.type()) {
    case ValueType::kNone:
      out += "None";
      return;
    case ValueType::kBool:
      out += value.as_bool() ? "True" : "False";
      return;
    case ValueType::kInt:
      out += std::to_string(value.as_int());
      return;
    case ValueType::kBigInt:
      out += value.as_big_int().to_string();
      return;
    case ValueType::kDouble:
      out += repr_double(value.as_double());
      return;
    case ValueType::kString: {
      const std::string_view text = value.as_string();
      out += string_repr(text.substr(0, room()));
      return;
    }
    case ValueType::kBytes: {
      const Bytes& bytes = value.as_bytes();
      out += bytes.size() > room()
                 ? bytes_repr(
                       Bytes(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(room())))
                 : bytes_repr(bytes);
      return;
    }
    case ValueType::kList:
      append_items(value.as_list(), /*list=*/true);
      return;
    case ValueType::kTuple:
      append_items(value.as_tuple(), /*list=*/false);
      return;
    case ValueType::kDict: {
      const Dict& dict = value.as_dict();
      const bool ordered = dict.is_ordered_dict();
      if (ordered && dict.empty()) {
        out += "OrderedDict()";
        return;
      }
      out += ordered ? "OrderedDict([" : "{";
      bool first = true;
      for (const auto& [key, item] : dict) {
        if (out.size() > limit) return;
        out += first ? "" : ", ";
        first = false;
        if (ordered) out += "(";
        append_key(key);
        out += ordered ? ", " : ": ";
        append_repr(item, out, limit);
        if (ordered) out += ")";
      }
      out += ordered ? "])" : "}";
      return;
    }
    case ValueType::kTensor:
      out += value.as_tensor().repr();
      return;
  }
}

}  // namespace

std::string Value::repr() const {
  std::string out;
  append_repr(*this, out, std::numeric_limits<std::size_t>::max() - 1);
  return out;
}

std::string Value::repr(std::size_t max_chars) const {
  std::string out;
  append_repr(*this, out, max_chars);
  if (out.size() <= max_chars) return out;
  std::size_t cut = max_chars;  // not inside a UTF-8 sequence
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  out.resize(cut);
  return out + "...";
}

std::ostream& operator<<(std::ostream& out, const Value& value) { return out << value.repr(); }

// --- ValueRef ------------------------------------------------------------------------------------------

void ValueRef::fail_type(std::string_view expected) const {
  fail(ErrorCode::kInvalidArgument, "expected ", expected, path_.empty() ? "" : " at ", path_,
       ", got ", type_of(*value_));
}

template <class T>
const T& ValueRef::get(ValueType expected) const {
  if (value_->type() != expected) fail_type(with_article(value_type_name(expected)));
  if constexpr (std::is_same_v<T, Dict> || std::is_same_v<T, std::string>) {
    return std::get<detail::Boxed<T>>(value_->data_).get();
  } else {
    return std::get<T>(value_->data_);
  }
}

bool ValueRef::as_bool() const { return get<bool>(ValueType::kBool); }

std::int64_t ValueRef::as_int() const {
  if (value_->is_big_int()) {
    fail(ErrorCode::kInvalidArgument, "the int", path_.empty() ? "" : " at ", path_, " (",
         std::get<BigInt>(value_->data_).to_string(), ") does not fit in 64 bits");
  }
  return get<std::int64_t>(ValueType::kInt);
}

BigInt ValueRef::as_big_int() const {
  if (value_->is_big_int()) return std::get<BigInt>(value_->data_);
  return BigInt(get<std::int64_t>(ValueType::kInt));
}

double ValueRef::as_double() const { return get<double>(ValueType::kDouble); }

double ValueRef::to_double() const {
  if (value_->is_int()) return static_cast<double>(std::get<std::int64_t>(value_->data_));
  if (value_->is_big_int()) {
    const BigInt& big = std::get<BigInt>(value_->data_);
    const std::optional<double> converted = big_int_to_double(big);
    if (!converted) {
      fail(ErrorCode::kInvalidArgument, "the int", path_.empty() ? "" : " at ", path_, " (",
           big.to_string(), ") is too large to convert to a float");
    }
    return *converted;
  }
  if (!value_->is_double()) fail_type("a float or an int");
  return std::get<double>(value_->data_);
}

const std::string& ValueRef::as_string() const { return get<std::string>(ValueType::kString); }
const Bytes& ValueRef::as_bytes() const { return get<Bytes>(ValueType::kBytes); }
const List& ValueRef::as_list() const { return get<List>(ValueType::kList); }
const Tuple& ValueRef::as_tuple() const { return get<Tuple>(ValueType::kTuple); }
const Dict& ValueRef::as_dict() const { return get<Dict>(ValueType::kDict); }
const Tensor& ValueRef::as_tensor() const { return get<Tensor>(ValueType::kTensor); }

bool ValueRef::contains(std::string_view key) const {
  return value_->is_dict() && as_dict().contains(std::string(key));
}

ValueRef ValueRef::operator[](std::string_view key) const {
  const Dict& dict = as_dict();
  const DictKey dict_key{std::string(key)};
  const Value* found = dict.find(dict_key);
  if (!found) {
    std::string known;
    std::size_t shown = 0;
    for (const auto& item : dict) {
      if (shown == 8) {
        known += ", ...";
        break;
      }
      known += (shown++ ? ", " : "") + key_repr(item.first);
    }
    fail(ErrorCode::kInvalidArgument, "no key ", key_repr(dict_key), " in the dict",
         path_.empty() ? "" : " at ", path_, dict.empty() ? " (it is empty)" : " (keys: " + known + ")");
  }
  return ValueRef(*found, path_ + "[" + key_repr(dict_key) + "]");
}

ValueRef ValueRef::operator[](std::int64_t index_or_key) const {
  if (value_->is_dict()) {
    const Value* found = as_dict().find(DictKey{index_or_key});
    if (!found) {
      fail(ErrorCode::kInvalidArgument, "no key ", index_or_key, " in the dict",
           path_.empty() ? "" : " at ", path_);
    }
    return ValueRef(*found, path_ + "[" + std::to_string(index_or_key) + "]");
  }
  if (!value_->is_list() && !value_->is_tuple()) fail_type("a list, tuple or dict");
  const std::vector<Value>& items =
      value_->is_list() ? static_cast<const std::vector<Value>&>(std::get<List>(value_->data_))
                        : static_cast<const std::vector<Value>&>(std::get<Tuple>(value_->data_));
  const auto size = static_cast<std::int64_t>(items.size());
  if (index_or_key < -size || index_or_key >= size) {
    fail(ErrorCode::kInvalidArgument, "index ", index_or_key, " is out of range for ",
         type_of(*value_), " of ", size, " items", path_.empty() ? "" : " at ", path_);
  }
  const std::int64_t i = index_or_key < 0 ? index_or_key + size : index_or_key;
  return ValueRef(items[static_cast<std::size_t>(i)], path_ + "[" + std::to_string(i) + "]");
}

namespace {

void walk_tensors(const Value& value, std::string& path,
                  const std::function<void(const std::string&, const Tensor&)>& fn) {
  const std::size_t mark = path.size();
  if (value.is_tensor()) {
    fn(path, value.as_tensor());
  } else if (value.is_dict()) {
    for (const auto& [key, item] : value.as_dict()) {
      path += "[" + key_repr(key) + "]";
      walk_tensors(item, path, fn);
      path.resize(mark);
    }
  } else if (value.is_list() || value.is_tuple()) {
    const std::vector<Value>& items =
        value.is_list() ? static_cast<const std::vector<Value>&>(value.as_list())
                        : static_cast<const std::vector<Value>&>(value.as_tuple());
    for (std::size_t i = 0; i < items.size(); ++i) {
      path += "[" + std::to_string(i) + "]";
      walk_tensors(items[i], path, fn);
      path.resize(mark);
    }
  }
}

}  // namespace

void for_each_tensor(const Value& value,
                     const std::function<void(const std::string& path, const Tensor&)>& fn) {
  std::string path;
  walk_tensors(value, path, fn);
}

}  // namespace mnemo
