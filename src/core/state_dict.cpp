#include "mnemo/core/state_dict.h"

namespace mnemo {
namespace {

// "an int", "a dict", "None": a value's type for messages.
std::string type_phrase(const Value& value) {
  const std::string_view name = value_type_name(value.type());
  if (name == "None") return "None";
  const bool vowel = name.find_first_of("aeiouAEIOU") == 0;
  return std::string(vowel ? "an " : "a ") + std::string(name);
}

constexpr std::string_view kMetadataKey = "_metadata";
constexpr std::string_view kExtraStateSuffix = "_extra_state";

bool is_extra_state(std::string_view name) {
  return name == kExtraStateSuffix ||
         (name.ends_with(kExtraStateSuffix) &&
          name[name.size() - kExtraStateSuffix.size() - 1] == '.');
}

}  // namespace

StateDict::StateDict(std::initializer_list<std::pair<std::string, Tensor>> items) {
  map_.reserve(items.size());
  for (const auto& [name, tensor] : items) insert(name, tensor);
}

std::vector<std::string> StateDict::keys() const {
  std::vector<std::string> keys;
  keys.reserve(size());
  for (const auto& item : map_) keys.push_back(item.first);
  return keys;
}

const Tensor& StateDict::at(const std::string& name) const {
  const Value* value = find(name);
  if (!value) fail(ErrorCode::kInvalidArgument, "no key '", name, "' in the state_dict");
  if (!value->is_tensor()) {
    fail(ErrorCode::kInvalidArgument, "state_dict entry '", name, "' is ", type_phrase(*value),
         ", not a Tensor");
  }
  return value->as_tensor();
}

void StateDict::insert(std::string name, Tensor tensor) {
  map_.insert_or_assign(std::move(name), Value(std::move(tensor)));
}

void StateDict::insert(std::string name, Value value) {
  map_.insert_or_assign(std::move(name), std::move(value));
}

void StateDict::set_metadata(Dict metadata) {
  metadata.set_ordered_dict(true);
  metadata_ = std::move(metadata);
}

std::optional<std::int64_t> StateDict::version(std::string_view prefix) const {
  if (!metadata_) return std::nullopt;
  const Value* entry = metadata_->find(std::string(prefix));
  if (!entry || !entry->is_dict()) return std::nullopt;
  const Value* version = entry->as_dict().find(std::string("version"));
  if (!version || !version->is_int()) return std::nullopt;
  return version->as_int();
}

void StateDict::set_version(std::string_view prefix, std::int64_t version) {
  if (!metadata_) set_metadata(Dict{});
  Value* entry = metadata_->find(std::string(prefix));
  if (!entry || !entry->is_dict()) {
    entry = &metadata_->insert_or_assign(std::string(prefix), Dict{});
  }
  entry->as_dict().insert_or_assign(std::string("version"), version);
}

Value StateDict::to_value() const {
  Dict dict;
  dict.set_ordered_dict(true);
  dict.reserve(size());
  for (const auto& [name, value] : map_) dict.insert_or_assign(name, value);
  if (metadata_) dict.set_attributes(Dict{{std::string(kMetadataKey), *metadata_}});
  return dict;
}

StateDict StateDict::from_value(const Value& value) {
  if (!value.is_dict()) {
    fail(ErrorCode::kInvalidArgument, "a state_dict must be a dict of tensors, got ",
         type_phrase(value));
  }
  const Dict& dict = value.as_dict();
  StateDict result;
  result.map_.reserve(dict.size());
  for (const auto& [key, entry] : dict) {
    const auto* name = std::get_if<std::string>(&key);
    if (!name) {
      fail(ErrorCode::kInvalidArgument, "a state_dict's keys are names, but key ", key_repr(key),
           " is an int");
    }
    if (!entry.is_tensor() && !is_extra_state(*name)) {
      std::string hint;
      if (entry.is_dict()) {
        hint = "; this looks like a checkpoint holding several dicts: take the state_dict "
               "from it first, e.g. value[" + key_repr(key) + "].to_state_dict()";
      }
      fail(ErrorCode::kInvalidArgument, "state_dict entry ", key_repr(key), " is ",
           type_phrase(entry), ", not a Tensor", hint);
    }
    result.map_.insert_or_assign(*name, entry);
  }
  if (const Dict* attributes = dict.attributes()) {
    if (const Value* metadata = attributes->find(std::string(kMetadataKey))) {
      if (metadata->is_dict()) result.set_metadata(metadata->as_dict());
    }
  }
  return result;
}

std::ostream& operator<<(std::ostream& out, const StateDict& state_dict) {
  return out << state_dict.to_value();
}

Value::Value(const StateDict& state_dict) : Value(state_dict.to_value()) {}

StateDict Value::to_state_dict() const { return StateDict::from_value(*this); }

StateDict ValueRef::to_state_dict() const {
  if (!value().is_dict()) {
    fail(ErrorCode::kInvalidArgument, "expected a state_dict (a dict of tensors)",
         path().empty() ? "" : " at ", path(), ", got ", type_phrase(value()));
  }
  return StateDict::from_value(value());
}

}  // namespace mnemo
