#include "formats/pickle/module_salvage.h"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "mnemo/core/error.h"

namespace mnemo::pickle {
namespace {

// Module._version is a class attribute, so a pickle never holds it: it is 2 for the
// _NormBase family (BatchNorm, SyncBatchNorm, InstanceNorm, their lazy forms), whose
// load_state_dict consults it, and 1 for every other module of torch.nn.
constexpr std::array<std::string_view, 2> kVersion2Modules = {
    "torch.nn.modules.batchnorm.", "torch.nn.modules.instancenorm."};
constexpr std::array<std::string_view, 4> kVersion2Suffixes = {
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm"};

std::int64_t module_version(const std::string& class_name, const Dict& state) {
  // An instance that set its own _version keeps it in its __dict__.
  if (const Value* own = state.find(std::string("_version")); own && own->is_int()) {
    return own->as_int();
  }
  for (std::string_view module : kVersion2Modules) {
    if (class_name.starts_with(module)) return 2;
  }
  for (std::string_view suffix : kVersion2Suffixes) {
    if (class_name.ends_with(suffix)) return 2;
  }
  return 1;
}

// "an int", "a dict", "None".
std::string type_phrase(const Value& value) {
  const std::string name(value_type_name(value.type()));
  if (name == "None") return name;
  return (name.find_first_of("aeiouAEIOU") == 0 ? "an " : "a ") + name;
}

std::string where(const std::string& prefix) {
  return prefix.empty() ? std::string("the top level")
                        : "'" + prefix.substr(0, prefix.size() - 1) + "'";
}

[[noreturn]] void not_a_module(const std::string& prefix, const std::string& why) {
  fail(ErrorCode::kInvalidArgument, "salvage_state_dict: the object at ", where(prefix),
       " is not a salvaged nn.Module (", why,
       "); load the pickle with salvage = true and pass the module object");
}

// The dict under `name` in a module's state; nullptr when it is absent and optional.
const Dict* state_dict_entry(const Dict& state, const char* name, const std::string& prefix,
                             bool required) {
  const Value* entry = state.find(std::string(name));
  if (!entry) {
    if (required) not_a_module(prefix, std::string("its state has no '") + name + "'");
    return nullptr;
  }
  if (!entry->is_dict()) {
    not_a_module(prefix, std::string("its '") + name + "' is " + type_phrase(*entry) +
                             ", not a dict");
  }
  return &entry->as_dict();
}

void collect(const Value& object, const std::string& prefix, std::size_t depth, StateDict& out) {
  // Deeper than any real model; a Value from the unpickler nests at most this deep.
  constexpr std::size_t kMaxModuleDepth = 1000;
  if (depth > kMaxModuleDepth) not_a_module(prefix, "modules nest too deeply");
  if (!object.is_dict()) {
    not_a_module(prefix, "it is " + type_phrase(object));
  }
  const Dict& dict = object.as_dict();
  const Value* class_name = dict.find(std::string("__class__"));
  const Value* state_value = dict.find(std::string("__state__"));
  if (!class_name || !class_name->is_string() || !state_value || !state_value->is_dict()) {
    not_a_module(prefix, "it has no '__class__' and '__state__' dict");
  }
  const Dict& state = state_value->as_dict();
  const Dict* parameters = state_dict_entry(state, "_parameters", prefix, true);
  const Dict* buffers = state_dict_entry(state, "_buffers", prefix, true);
  const Dict* modules = state_dict_entry(state, "_modules", prefix, true);

  // Modules pickled before persistent=False existed have no set: all buffers persist.
  std::vector<std::string> non_persistent;
  if (const Value* set = state.find(std::string("_non_persistent_buffers_set"))) {
    if (set->is_list()) {
      for (const Value& name : set->as_list()) {
        if (name.is_string()) non_persistent.push_back(name.as_string());
      }
    }
  }

  out.set_version(prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1),
                  module_version(class_name->as_string(), state));
  auto add = [&](const Dict& entries, bool buffers_only_persistent) {
    for (const auto& [key, value] : entries) {
      const auto* name = std::get_if<std::string>(&key);
      if (!name || value.is_none()) continue;
      if (buffers_only_persistent &&
          std::find(non_persistent.begin(), non_persistent.end(), *name) != non_persistent.end()) {
        continue;
      }
      if (!value.is_tensor()) {
        not_a_module(prefix, "its entry '" + *name + "' is " + type_phrase(value) +
                                 ", not a tensor");
      }
      // state_dict() holds detached tensors (keep_vars=False).
      out.insert(prefix + *name, value.as_tensor().detach());
    }
  };
  add(*parameters, false);
  add(*buffers, true);
  for (const auto& [key, child] : *modules) {
    const auto* name = std::get_if<std::string>(&key);
    if (!name || child.is_none()) continue;
    collect(child, prefix + *name + ".", depth + 1, out);
  }
}

}  // namespace

StateDict salvage_state_dict(const Value& object) {
  StateDict result;
  result.set_metadata(Dict{});
  collect(object, "", 0, result);
  return result;
}

}  // namespace mnemo::pickle
