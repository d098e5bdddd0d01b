#include "mnemo/core/value_json.h"

#include <cstdio>
#include <sstream>

#include "mnemo/core/sha256.h"

namespace mnemo {
namespace {

std::string pad(int indent) { return std::string(static_cast<std::size_t>(indent), ' '); }

std::string shape_json(const Shape& sizes) {
  std::string out = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) out += (i ? ", " : "") + std::to_string(sizes[i]);
  return out + "]";
}

std::string key_json(const DictKey& key) {
  if (const auto* i = std::get_if<std::int64_t>(&key)) return json_string(std::to_string(*i));
  return json_string(std::get<std::string>(key));
}

template <class Items, class WriteItem>
void write_container(std::ostream& out, const Items& items, char open, char close, int indent,
                     WriteItem write_item) {
  if (items.begin() == items.end()) {
    out << open << close;
    return;
  }
  out << open << "\n";
  bool first = true;
  for (const auto& item : items) {
    if (!first) out << ",\n";
    first = false;
    out << pad(indent + 2);
    write_item(item);
  }
  out << "\n" << pad(indent) << close;
}

}  // namespace

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof(buffer), "\\u%04x", c);
          out += buffer;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

void write_json(std::ostream& out, const Value& value, const JsonOptions& options, int indent) {
  switch (value.type()) {
    case ValueType::kNone: out << "null"; return;
    case ValueType::kBool: out << (value.as_bool() ? "true" : "false"); return;
    case ValueType::kInt: out << value.as_int(); return;
    case ValueType::kBigInt: out << value.as_big_int().to_string(); return;
    case ValueType::kDouble: {
      const std::string text = repr_double(value.as_double());
      if (text == "inf" || text == "-inf" || text == "nan") {
        out << json_string(text);
      } else {
        out << text;
      }
      return;
    }
    case ValueType::kString: out << json_string(value.as_string()); return;
    case ValueType::kBytes: {
      static constexpr char kDigits[] = "0123456789abcdef";
      std::string hex;
      for (std::uint8_t b : value.as_bytes()) {
        hex += kDigits[b >> 4];
        hex += kDigits[b & 15];
      }
      out << "{\"bytes\": \"" << hex << "\"}";
      return;
    }
    case ValueType::kList:
    case ValueType::kTuple: {
      const std::vector<Value>& items =
          value.is_list() ? static_cast<const std::vector<Value>&>(value.as_list())
                          : static_cast<const std::vector<Value>&>(value.as_tuple());
      write_container(out, items, '[', ']', indent,
                      [&](const Value& item) { write_json(out, item, options, indent + 2); });
      return;
    }
    case ValueType::kDict:
      write_container(out, value.as_dict(), '{', '}', indent, [&](const auto& item) {
        out << key_json(item.first) << ": ";
        write_json(out, item.second, options, indent + 2);
      });
      return;
    case ValueType::kTensor: {
      const Tensor& t = value.as_tensor();
      out << "{\"tensor\": {\"dtype\": " << json_string(dtype_name(t.dtype()))
          << ", \"shape\": " << shape_json(t.sizes())
          << ", \"device\": " << json_string(t.device().str());
      if (options.hash) out << ", \"sha256\": " << json_string(tensor_sha256(t));
      out << "}}";
      return;
    }
  }
}

std::string to_json(const Value& value, const JsonOptions& options) {
  std::ostringstream out;
  write_json(out, value, options);
  return out.str();
}

}  // namespace mnemo
