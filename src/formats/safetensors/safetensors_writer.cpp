#include "formats/safetensors/safetensors_writer.h"

#include <algorithm>
#include <charconv>
#include <numeric>
#include <optional>

#include "formats/safetensors/safetensors_dtypes.h"
#include "formats/safetensors/safetensors_header.h"
#include "mnemo/core/ordered_map.h"
#include "mnemo/core/value_json.h"
#include "mnemo/limits.h"

namespace mnemo::safetensors {
namespace {

constexpr std::size_t kHeaderAlignment = 8;
constexpr std::size_t kMaxHints = 3;

std::string key_text(const DictKey& key) {
  if (const auto* i = std::get_if<std::int64_t>(&key)) return std::to_string(*i);
  return std::get<std::string>(key);
}

std::string with_article(std::string_view type) {
  if (type == "None") return "None";
  const bool vowel =
      !type.empty() && std::string_view("aeiou").find(type[0]) != std::string_view::npos;
  return std::string(vowel ? "an " : "a ") + std::string(type);
}

// True for a non-empty tree of dicts whose leaves are all tensors: something safetensors
// can hold whole.
bool holds_only_tensors(const Value& value) {
  if (value.is_tensor()) return true;
  if (!value.is_dict() || value.as_dict().empty()) return false;
  return std::all_of(value.as_dict().begin(), value.as_dict().end(),
                     [](const auto& item) { return holds_only_tensors(item.second); });
}

// The largest sub-trees of `value` that safetensors could hold, as paths.
void find_tensor_trees(const Value& value, const std::string& path, std::vector<std::string>& out) {
  if (!value.is_dict() || out.size() == kMaxHints) return;
  for (const auto& [key, child] : value.as_dict()) {
    if (!child.is_dict()) continue;
    const std::string child_path = path + "[" + key_repr(key) + "]";
    if (holds_only_tensors(child)) {
      out.push_back(child_path);
      if (out.size() == kMaxHints) return;
    } else {
      find_tensor_trees(child, child_path, out);
    }
  }
}

[[noreturn]] void refuse_leaf(const Value& leaf, const std::string& path, const Value& root) {
  std::vector<std::string> trees;
  find_tensor_trees(root, "", trees);
  std::string hint = "leave such values out, or make them tensors";
  if (!trees.empty()) {
    hint = "save a sub-tree that holds only tensors instead, such as ";
    for (std::size_t i = 0; i < trees.size(); ++i) hint += (i ? " or " : "") + trees[i];
  }
  fail(ErrorCode::kUnsupported, "cannot save ", path, " (",
       with_article(value_type_name(leaf.type())),
       ") as safetensors, which holds only tensors (nested dicts of tensors are flattened "
       "into dotted names); ",
       hint);
}

void append_uint(std::string& out, std::uint64_t value) {
  char digits[20];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

}  // namespace

PreparedFile::PreparedFile(const Value& value, const std::map<std::string, std::string>& metadata) {
  if (!value.is_dict()) {
    fail(ErrorCode::kUnsupported, "cannot save ", with_article(value_type_name(value.type())),
         " as safetensors, which holds named tensors: save a dict of tensors (nested dicts "
         "are flattened into dotted names)");
  }
  flatten(value, "", kTop, value);

  // Two paths may flatten to one name: {"a.b": x, "a": {"b": y}}.
  mnemo::detail::OrderedMap<std::string_view, std::size_t> names;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const std::size_t* earlier = names.find(entries_[i].name);
    if (earlier) {
      fail(ErrorCode::kUnsupported, "cannot save as safetensors: ", path(entries_[*earlier].place),
           " and ", path(entries_[i].place), " both become the tensor name '", entries_[i].name,
           "'; rename one of them");
    }
    names.insert_or_assign(entries_[i].name, i);
  }
  places_ = {};

  // Sorted by index, then moved once: an Entry is too big to swap around.
  std::vector<std::uint32_t> order(entries_.size());
  std::iota(order.begin(), order.end(), std::uint32_t{0});
  std::sort(order.begin(), order.end(), [&](std::uint32_t i, std::uint32_t j) {
    const Entry& a = entries_[i];
    const Entry& b = entries_[j];
    if (a.position != b.position) return a.position > b.position;
    return a.name < b.name;  // bytewise, as Rust compares strings
  });
  std::vector<Entry> sorted;
  sorted.reserve(entries_.size());
  for (const std::uint32_t i : order) sorted.push_back(std::move(entries_[i]));
  entries_ = std::move(sorted);
  std::uint64_t offset = 0;
  for (Entry& entry : entries_) {
    entry.begin = offset;
    offset += entry.data.nbytes();
    entry.end = offset;
  }
  build_header(metadata);
}

void PreparedFile::flatten(const Value& value, const std::string& name, std::size_t place,
                           const Value& root) {
  const bool top = &value == &root;
  for (const auto& [key, child] : value.as_dict()) {
    std::string child_name = top ? key_text(key) : name + "." + key_text(key);
    places_.push_back({place, &key});
    const std::size_t child_place = places_.size() - 1;
    if (child.is_tensor()) {
      add(std::move(child_name), child_place, child.as_tensor());
    } else if (child.is_dict()) {
      flatten(child, child_name, child_place, root);
    } else {
      refuse_leaf(child, path(child_place), root);
    }
  }
}

std::string PreparedFile::path(std::size_t place) const {
  std::vector<const DictKey*> keys;
  for (; place != kTop; place = places_[place].parent) keys.push_back(places_[place].key);
  std::string text;
  for (auto key = keys.rbegin(); key != keys.rend(); ++key) text += "[" + key_repr(**key) + "]";
  return text;
}

void PreparedFile::add(std::string name, std::size_t place, const Tensor& tensor) {
  if (!tensor.defined()) {
    fail(ErrorCode::kUnsupported, "cannot save the undefined tensor at ", path(place),
         " as safetensors");
  }
  const std::optional<std::string_view> dtype = wire_name(tensor.dtype());
  if (!dtype) {
    fail(ErrorCode::kUnsupported, "cannot save the ", mnemo::dtype_name(tensor.dtype()),
         " tensor at ", path(place),
         " as safetensors, which has no such dtype; convert it (e.g. to "
         "complex64) or save as .pt");
  }
  if (name == kMetadataKey) {
    fail(ErrorCode::kUnsupported, "cannot save ", path(place),
         " as safetensors: its name would be ", kMetadataKey,
         ", which the format reserves for the metadata");
  }
  if (!is_valid_utf8(name)) {
    fail(ErrorCode::kUnsupported, "cannot save ", path(place),
         " as safetensors: its name is not valid UTF-8, which the JSON header needs");
  }
  if (entries_.size() >= limits::kMaxTensorCount) {
    fail(ErrorCode::kLimit, "cannot save more than ", limits::kMaxTensorCount,
         " tensors as safetensors (kMaxTensorCount)");
  }
  // The format stores each tensor's values in row-major order: a view is written as the
  // values it shows.
  Tensor data = tensor.contiguous();
  if (data.dtype() == DType::kBool) {
    // Bool bytes other than 0 and 1 (from a file) are written canonical, as readers of
    // the format expect.
    const auto* bytes = static_cast<const std::uint8_t*>(data.data_ptr());
    const auto count = static_cast<std::size_t>(data.numel());
    if (std::any_of(bytes, bytes + count, [](std::uint8_t b) { return b > 1; })) {
      Tensor canonical = empty(data.sizes(), {.dtype = DType::kBool});
      convert_elements(bytes, DType::kBool, canonical.mutable_data_ptr(), DType::kBool, count);
      data = canonical;
    }
  }
  const int position = enum_position(data.dtype());
  entries_.push_back({std::move(name), place, std::move(data), *dtype, position});
}

void PreparedFile::build_header(const std::map<std::string, std::string>& metadata) {
  std::string json = "{";
  if (!metadata.empty()) {
    json += json_string(kMetadataKey);
    json += ":{";
    bool first = true;
    for (const auto& [key, text] : metadata) {
      if (!is_valid_utf8(key) || !is_valid_utf8(text)) {
        fail(ErrorCode::kInvalidArgument, "safetensors metadata must be UTF-8 text; the entry '",
             key, "' is not");
      }
      if (!first) json += ',';
      first = false;
      json += json_string(key);
      json += ':';
      json += json_string(text);
    }
    json += '}';
  }
  for (const Entry& entry : entries_) {
    if (json.size() > 1) json += ',';
    json += json_string(entry.name);
    json += ":{\"dtype\":\"";
    json += entry.dtype;
    json += "\",\"shape\":[";
    for (std::size_t i = 0; i < entry.data.sizes().size(); ++i) {
      if (i) json += ',';
      append_uint(json, static_cast<std::uint64_t>(entry.data.sizes()[i]));
    }
    json += "],\"data_offsets\":[";
    append_uint(json, entry.begin);
    json += ',';
    append_uint(json, entry.end);
    json += "]}";
  }
  json += '}';
  // Spaces pad the header so that the data starts 8-aligned, and so does every tensor
  // after it (bigger elements come first).
  json.append((kHeaderAlignment - json.size() % kHeaderAlignment) % kHeaderAlignment, ' ');
  if (json.size() > limits::kMaxSafetensorsHeaderBytes) {
    fail(ErrorCode::kLimit, "the safetensors header would be ", json.size(),
         " bytes, more than the limit of ", limits::kMaxSafetensorsHeaderBytes,
         " (kMaxSafetensorsHeaderBytes) that readers accept");
  }
  header_.reserve(kLengthBytes + json.size());
  for (std::size_t i = 0; i < kLengthBytes; ++i) {
    header_ += static_cast<char>((json.size() >> (8 * i)) & 0xff);
  }
  header_ += json;
}

void PreparedFile::write(io::ByteSink& sink) const {
  std::vector<io::ConstBytes> pieces;
  pieces.reserve(entries_.size() + 1);
  pieces.push_back(std::as_bytes(std::span(header_)));
  for (const Entry& entry : entries_) {
    if (entry.end == entry.begin) continue;
    pieces.emplace_back(static_cast<const std::byte*>(entry.data.data_ptr()),
                        entry.end - entry.begin);
  }
  sink.write(pieces);
}

std::uint64_t PreparedFile::size() const {
  return header_.size() + (entries_.empty() ? 0 : entries_.back().end);
}

}  // namespace mnemo::safetensors
