#include "keys.h"

#include <algorithm>
#include <charconv>

#include "commands.h"

namespace mnemo::cli {
namespace {

// Characters of a scalar's text on one line of output.
constexpr std::size_t kLeafTextLimit = 60;

bool is_container(const Value& value) {
  return value.is_dict() || value.is_list() || value.is_tuple();
}

std::size_t container_size(const Value& value) {
  return value.is_dict() ? value.as_dict().size() : sequence_items(value).size();
}

void collect(const Value& value, const std::string& key, std::vector<Leaf>& out) {
  if (!is_container(value) || container_size(value) == 0) {
    out.push_back({key, &value});
    return;
  }
  if (value.is_dict()) {
    for (const auto& [name, item] : value.as_dict())
      collect(item, join_key(key, key_text(name)), out);
    return;
  }
  const std::vector<Value>& items = sequence_items(value);
  for (std::size_t i = 0; i < items.size(); ++i)
    collect(items[i], join_key(key, std::to_string(i)), out);
}

}  // namespace

std::string key_text(const DictKey& key) {
  return std::holds_alternative<std::string>(key) ? std::get<std::string>(key)
                                                  : std::to_string(std::get<std::int64_t>(key));
}

std::string join_key(const std::string& parent, const std::string& child) {
  return parent.empty() ? child : parent + "." + child;
}

std::vector<Leaf> dotted_leaves(const Value& root) {
  std::vector<Leaf> out;
  collect(root, "", out);
  return out;
}

const Value* select_path(const Value& root, const std::string& selection, std::string& error) {
  const Value* current = &root;
  std::string path;
  std::size_t start = 0;
  while (start <= selection.size()) {
    const std::size_t slash = std::min(selection.find('/', start), selection.size());
    const std::string key = selection.substr(start, slash - start);
    start = slash + 1;
    if (!current->is_dict()) {
      error = (path.empty() ? std::string("the top level") : path) + " is not a dict";
      return nullptr;
    }
    const Dict& dict = current->as_dict();
    const Value* next = dict.find(key);
    std::int64_t number = 0;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), number);
    if (!next && ec == std::errc() && end == key.data() + key.size()) next = dict.find(number);
    if (!next) {
      error = "no key '" + key + "' in " + (path.empty() ? std::string("the top level") : path);
      return nullptr;
    }
    path += "['" + key + "']";
    current = next;
  }
  return current;
}

std::string kind_name(const Value& value) {
  if (value.is_dict()) return value.as_dict().is_ordered_dict() ? "OrderedDict" : "dict";
  if (value.is_tensor()) return "tensor";
  return std::string(value_type_name(value.type()));
}

std::string shape_text(const Shape& sizes) {
  std::string out = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) out += (i ? ", " : "") + std::to_string(sizes[i]);
  return out + "]";
}

bool is_compact(const Value& value) {
  if (!is_container(value) || container_size(value) == 0) return false;
  const auto scalar = [](const Value& item) { return !is_container(item) && !item.is_tensor(); };
  if (value.is_dict()) {
    for (const auto& [key, item] : value.as_dict()) {
      if (!scalar(item)) return false;
    }
  } else {
    for (const Value& item : sequence_items(value)) {
      if (!scalar(item)) return false;
    }
  }
  return value.repr().size() <= kLeafTextLimit;
}

std::string describe_leaf(const Value& value) {
  if (value.is_tensor()) {
    const Tensor& t = value.as_tensor();
    return std::string(dtype_name(t.dtype())) + " " + shape_text(t.sizes()) + " " +
           t.device().str() + " " + human_bytes(t.nbytes());
  }
  if (is_container(value)) {
    if (is_compact(value)) return kind_name(value) + " " + value.repr();
    return kind_name(value) + " (" + plural(container_size(value), "item") + ")";
  }
  if (value.is_none()) return "None";
  std::string text = value.repr();
  if (text.size() > kLeafTextLimit) text = text.substr(0, kLeafTextLimit - 3) + "...";
  return std::string(value_type_name(value.type())) + " " + text;
}

const std::vector<Value>& sequence_items(const Value& value) {
  return value.is_list() ? static_cast<const std::vector<Value>&>(value.as_list())
                         : static_cast<const std::vector<Value>&>(value.as_tuple());
}

}  // namespace mnemo::cli
