// save_model / load_model: a model's architecture (from the module registry) and its
// state_dict in one .pt file. The checkpoint layer sits above both nn and formats, so it
// is the one place that joins them.
#include "mnemo/checkpoint/model_file.h"

#include <cxxabi.h>
#include <simdjson.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <unordered_set>

#include "mnemo/core/value_json.h"
#include "mnemo/version.h"
#include "nn/deferred_init.h"

namespace mnemo {
namespace {

constexpr const char* kModelKey = "mnemo_model";
constexpr const char* kStateDictKey = "state_dict";

// --- the architecture as JSON text ------------------------------------------------------------
//
// PyTorch 1.13's weights_only unpickler has no BINFLOAT: a single pickled float (an eps, a
// dropout p) makes the whole file unreadable with weights_only=True. As JSON text, the
// architecture is one pickled string that every weights_only unpickler accepts, and that
// Python reads back with json.loads, floats included.

// Refuses what JSON can't carry exactly, naming the module and the field. Tuples are
// allowed: they come back as lists, which every config getter accepts.
void check_json_value(const Value& value, const std::string& type, const std::string& module_path,
                      const std::string& field) {
  auto refuse = [&](const std::string& what) {
    fail(ErrorCode::kUnsupported, "config field '", field, "' of ", type, " ",
         module_path.empty() ? "(at the root)" : "(at '" + module_path + "')", " holds ", what,
         "; a saved config holds None, bools, ints, finite floats, strings, and lists and "
         "str-keyed dicts of them");
  };
  switch (value.type()) {
    case ValueType::kNone:
    case ValueType::kBool:
    case ValueType::kInt:
    case ValueType::kString:
      return;
    case ValueType::kDouble:
      if (!std::isfinite(value.as_double())) refuse(repr_double(value.as_double()));
      return;
    case ValueType::kList:
    case ValueType::kTuple: {
      const std::vector<Value>& items =
          value.is_list() ? static_cast<const std::vector<Value>&>(value.as_list())
                          : static_cast<const std::vector<Value>&>(value.as_tuple());
      for (const Value& item : items) check_json_value(item, type, module_path, field);
      return;
    }
    case ValueType::kDict:
      for (const auto& [key, item] : value.as_dict()) {
        if (!std::holds_alternative<std::string>(key)) refuse("a dict with int keys");
        check_json_value(item, type, module_path, field);
      }
      return;
    case ValueType::kBigInt:
      refuse("an int wider than 64 bits");
      return;
    case ValueType::kBytes:
      refuse("bytes");
      return;
    case ValueType::kTensor:
      refuse("a tensor");
      return;
  }
}

// `node` comes from ModuleRegistry::describe, so its shape is known good.
void check_json_architecture(const Value& node, const std::string& path) {
  const std::string& type = node["type"].as_string();
  for (const auto& [key, value] : node["config"].as_dict()) {
    check_json_value(value, type, path, std::get<std::string>(key));
  }
  for (const auto& [key, child] : node["children"].as_dict()) {
    const std::string& name = std::get<std::string>(key);
    check_json_architecture(child, path.empty() ? name : path + "." + name);
  }
}

Value from_json(simdjson::dom::element element) {
  switch (element.type()) {
    case simdjson::dom::element_type::NULL_VALUE:
      return none;
    case simdjson::dom::element_type::BOOL:
      return element.get_bool().value_unsafe();
    case simdjson::dom::element_type::INT64:
      return element.get_int64().value_unsafe();
    case simdjson::dom::element_type::UINT64:
      return element.get_uint64().value_unsafe();
    case simdjson::dom::element_type::DOUBLE:
      return element.get_double().value_unsafe();
    case simdjson::dom::element_type::STRING:
      return std::string(element.get_string().value_unsafe());
    case simdjson::dom::element_type::ARRAY: {
      // Held in a local: a range-for over a temporary result's value would dangle.
      const simdjson::dom::array array = element.get_array().value_unsafe();
      List list;
      for (simdjson::dom::element item : array) list.push_back(from_json(item));
      return list;
    }
    case simdjson::dom::element_type::OBJECT: {
      const simdjson::dom::object object = element.get_object().value_unsafe();
      Dict dict;
      for (simdjson::dom::key_value_pair field : object) {
        dict.insert_or_assign(std::string(field.key), from_json(field.value));
      }
      return dict;
    }
  }
  return none;
}

Value parse_architecture(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  const simdjson::error_code error = parser.parse(text).get(root);
  if (error) {
    fail(ErrorCode::kCorrupt, "the '", kModelKey, "' record's architecture is not valid JSON (",
         simdjson::error_message(error), ")");
  }
  return from_json(root);
}

const nn::ModuleRegistry& registry_of(const nn::ModuleRegistry* registry) {
  return registry ? *registry : nn::ModuleRegistry::global();
}

// Runs `body`, prefixing the message of any mnemo::Error with `context` (same code).
template <class F>
auto with_context(const std::string& context, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Error& e) {
    throw Error(e.code(), context + ": " + e.what());
  }
}

std::string save_context(const std::filesystem::path& path) {
  return "save_model('" + path.string() + "')";
}

std::string load_context(const std::filesystem::path& path) {
  return "load_model('" + path.string() + "')";
}

Value model_file_value(const nn::Module& model, const nn::ModuleRegistry& registry) {
  const Value architecture = registry.describe(model);
  check_json_architecture(architecture, "");
  return Dict{{kModelKey, Dict{{"format_version", kModelFormatVersion},
                               {"mnemo_version", kVersion},
                               {"architecture", to_json(architecture)}}},
              {kStateDictKey, model.state_dict()}};
}

// Why a file without a model record is not one, in the user's terms.
[[noreturn]] void fail_not_a_model(const Value& value) {
  constexpr const char* kAdvice =
      ", not a model saved by save_model; build the model in code and call load_state_dict";
  if (!value.is_dict()) {
    fail(ErrorCode::kUnsupported, "the file holds a value of type ", value_type_name(value.type()),
         kAdvice);
  }
  const Dict& dict = value.as_dict();
  bool all_tensors = true;
  std::string keys;
  std::size_t listed = 0;
  for (const auto& [key, item] : dict) {
    all_tensors = all_tensors && item.is_tensor();
    if (listed < 5) {
      keys += (keys.empty() ? "" : ", ") + key_repr(key);
      ++listed;
    }
  }
  if (dict.size() > listed) keys += ", ...";
  if (all_tensors) fail(ErrorCode::kUnsupported, "the file holds a state_dict", kAdvice);
  fail(ErrorCode::kUnsupported, "the file holds a dict with keys ", keys, " (no '", kModelKey,
       "' record)", kAdvice, " with its state_dict");
}

// Whether every tensor of `state` has the dtype and device of the model's tensor it is
// loaded into (a key the model lacks is left to load_state_dict to report).
bool same_kinds(const nn::Module& model, const StateDict& state) {
  for (const auto& [name, slot] : model.state_dict()) {
    const Value* loaded = state.find(name);
    if (!slot.is_tensor() || !loaded || !loaded->is_tensor()) continue;
    const Tensor& from = loaded->as_tensor();
    if (from.dtype() != slot.as_tensor().dtype() || from.device() != slot.as_tensor().device()) {
      return false;
    }
  }
  return true;
}

// The model a file written by save_model holds; `mapped`: the file's tensors view a mapping
// of it.
nn::ModulePtr model_from_value(const Value& value, const nn::ModuleRegistry& registry,
                               bool mapped) {
  const Value* record = value.is_dict() ? value.as_dict().find(std::string(kModelKey)) : nullptr;
  if (!record) fail_not_a_model(value);
  if (!record->is_dict()) {
    fail(ErrorCode::kCorrupt, "the '", kModelKey, "' record is of type ",
         value_type_name(record->type()), ", expected a dict");
  }
  const Dict& model = record->as_dict();
  const Value* format_version = model.find(std::string("format_version"));
  if (!format_version || !format_version->is_int() || format_version->as_int() < 1) {
    fail(ErrorCode::kCorrupt, "the '", kModelKey,
         "' record has no valid 'format_version' (expected an int >= 1)");
  }
  if (format_version->as_int() > kModelFormatVersion) {
    const Value* writer = model.find(std::string("mnemo_version"));
    fail(ErrorCode::kUnsupported, "the model was saved in model format version ",
         format_version->as_int(),
         writer && writer->is_string() ? " (by mnemo " + writer->as_string() + ")" : "",
         "; this build (mnemo ", kVersion, ") reads up to version ", kModelFormatVersion);
  }
  const Value* architecture = model.find(std::string("architecture"));
  if (!architecture || !architecture->is_string()) {
    fail(ErrorCode::kCorrupt, "the '", kModelKey, "' record has no 'architecture' (JSON text)");
  }
  const Value* state = value.as_dict().find(std::string(kStateDictKey));
  if (!state || !state->is_dict()) {
    fail(ErrorCode::kCorrupt, "the file has a '", kModelKey, "' record but no '", kStateDictKey,
         "' dict beside it");
  }
  // Every parameter and persistent buffer comes from the file: the model is built without
  // drawing their initial values, and only what the load leaves alone is initialised.
  nn::DeferredInit deferred;
  nn::ModulePtr rebuilt = registry.build(parse_architecture(architecture->as_string()));
  const StateDict loaded = state->to_state_dict();
  // The model takes the file's tensors as they are (assign), sparing a copy of all of it,
  // where that changes nothing: they are writable (not views of a mapped file), and each
  // has the dtype and device of the tensor it replaces. Otherwise they are copied in.
  rebuilt->load_state_dict(loaded, {.assign = !mapped && same_kinds(*rebuilt, loaded)});
  std::unordered_set<const std::byte*> written;
  for (const auto& [name, value] : rebuilt->state_dict()) {
    if (value.is_tensor()) written.insert(value.as_tensor().storage().data());
  }
  deferred.finish([&](const Tensor& t) { return written.contains(t.storage().data()); });
  return rebuilt;
}

}  // namespace

void save_model(const nn::Module& model, const std::filesystem::path& path,
                const SaveModelOptions& options) {
  with_context(save_context(path), [&] {
    if (format_for_path(path) == FileFormat::kSafetensors) {
      fail(ErrorCode::kInvalidArgument,
           "a safetensors file holds tensors only, not an architecture; save the model to a "
           ".pt path, or save its state_dict as safetensors");
    }
    // The whole value is built (and the architecture checked) before the file is touched.
    mnemo::save(model_file_value(model, registry_of(options.registry)), path, options.save);
  });
}

std::vector<std::byte> save_model_to_bytes(const nn::Module& model,
                                           const SaveModelOptions& options) {
  return with_context("save_model(<bytes>)", [&] {
    return save_to_bytes(model_file_value(model, registry_of(options.registry)), FileFormat::kPtZip,
                         options.save);
  });
}

nn::ModulePtr load_model(const std::filesystem::path& path, const LoadModelOptions& options) {
  // mnemo::load's own errors already name the file.
  const Value value = load(path, options.load);
  return with_context(load_context(path), [&] {
    return model_from_value(value, registry_of(options.registry), options.load.mmap);
  });
}

nn::ModulePtr load_model(std::span<const std::byte> bytes, const LoadModelOptions& options) {
  const Value value = load(bytes, options.load);
  return with_context("load_model(<bytes>)", [&] {
    return model_from_value(value, registry_of(options.registry), options.load.mmap);
  });
}

namespace detail {

void fail_model_class(const std::filesystem::path& path, const nn::Module& model,
                      const std::type_info& expected) {
  int status = 0;
  char* text = abi::__cxa_demangle(expected.name(), nullptr, nullptr, &status);
  const std::string expected_name = status == 0 && text ? text : expected.name();
  std::free(text);
  fail(ErrorCode::kMismatch, load_context(path), ": the saved model is a ", model.name(),
       ", not a ", expected_name);
}

}  // namespace detail
}  // namespace mnemo
