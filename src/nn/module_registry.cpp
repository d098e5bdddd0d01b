// The module registry: registration, describing a module tree as a Value and rebuilding
// one from it, and the built-in layers' factories.
#include "mnemo/nn/module_registry.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <typeinfo>

#include "mnemo/nn/activation.h"
#include "mnemo/nn/batchnorm.h"
#include "mnemo/nn/container.h"
#include "mnemo/nn/conv.h"
#include "mnemo/nn/embedding.h"
#include "mnemo/nn/linear.h"
#include "mnemo/nn/normalization.h"
#include "mnemo/nn/pooling.h"

namespace mnemo::nn {
namespace {

constexpr const char* kRegisterHint =
    "register it with MNEMO_REGISTER_MODULE or nn::register_module_type (mnemo/nn/"
    "module_registry.h)";

// The fully qualified C++ name, for messages about types the registry does not know.
std::string cpp_type_name(const char* mangled) {
  int status = 0;
  char* text = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string result = status == 0 && text ? text : mangled;
  std::free(text);
  return result;
}

// "(at 'features.3')", or "(at the root)".
std::string where(const std::string& path) {
  return path.empty() ? "(at the root)" : "(at '" + path + "')";
}

// "a str", "an int": value_type_name with its article.
std::string a_type(ValueType type) {
  const std::string_view name = value_type_name(type);
  const bool vowel =
      !name.empty() && std::string_view("aeiouAEIOU").find(name[0]) != std::string_view::npos;
  return (vowel ? "an " : "a ") + std::string(name);
}

std::string child_path(const std::string& path, const std::string& name) {
  return path.empty() ? name : path + "." + name;
}

// "'a', 'b'" — the names of a dict's keys, for messages.
std::string key_list(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "'" : ", '") + name + "'";
  return out;
}

std::string name_list(const std::vector<std::string>& names) { return "[" + key_list(names) + "]"; }

// --- the saved architecture, validated ------------------------------------------------------

// One node of a saved architecture, each member checked for presence and type.
struct Node {
  const std::string* type;
  std::int64_t version;
  const Dict* config;
  bool training;
  const Dict* children;
  std::vector<std::string> child_names;
};

[[noreturn]] void fail_malformed(const std::string& path, const std::string& what) {
  fail(ErrorCode::kCorrupt, "the saved architecture is malformed: the module ", where(path), " ",
       what);
}

const Value& node_member(const Dict& node, const char* key, ValueType type,
                         const std::string& path) {
  const Value* value = node.find(std::string(key));
  if (!value || value->type() != type) {
    fail_malformed(path, detail::concat("has no '", key, "' (expected ", a_type(type),
                                        value ? ", got " + a_type(value->type()) : "", ")"));
  }
  return *value;
}

Node read_node(const Value& value, const std::string& path) {
  if (!value.is_dict()) {
    fail_malformed(path, "is " + a_type(value.type()) + ", expected a dict");
  }
  const Dict& dict = value.as_dict();
  Node node{};
  node.type = &node_member(dict, "type", ValueType::kString, path).as_string();
  node.version = node_member(dict, "version", ValueType::kInt, path).as_int();
  node.config = &node_member(dict, "config", ValueType::kDict, path).as_dict();
  node.training = node_member(dict, "training", ValueType::kBool, path).as_bool();
  node.children = &node_member(dict, "children", ValueType::kDict, path).as_dict();
  if (node.version < 1) {
    fail_malformed(path,
                   detail::concat("has config version ", node.version, " (versions start at 1)"));
  }
  for (const DictKey& key : node.config->keys()) {
    if (!std::holds_alternative<std::string>(key)) {
      fail_malformed(path, "has a config key that is not a str: " + key_repr(key));
    }
  }
  for (const auto& [key, child] : *node.children) {
    const std::string* name = std::get_if<std::string>(&key);
    if (!name || name->empty() || name->find('.') != std::string::npos) {
      fail_malformed(
          path, "has a child named " + key_repr(key) + " (expected a non-empty str without '.')");
    }
    node.child_names.push_back(*name);
  }
  return node;
}

// Value equality, except that a list and a tuple with equal items are equal: a saved
// config may come back with lists where the module wrote tuples.
bool same_config_value(const Value& a, const Value& b) {
  auto items = [](const Value& v) -> const std::vector<Value>* {
    if (v.is_list()) return &v.as_list();
    if (v.is_tuple()) return &v.as_tuple();
    return nullptr;
  };
  const std::vector<Value>* a_items = items(a);
  const std::vector<Value>* b_items = items(b);
  if (a_items || b_items) {
    if (!a_items || !b_items || a_items->size() != b_items->size()) return false;
    for (std::size_t i = 0; i < a_items->size(); ++i) {
      if (!same_config_value((*a_items)[i], (*b_items)[i])) return false;
    }
    return true;
  }
  if (a.is_dict() && b.is_dict()) {
    const Dict& a_dict = a.as_dict();
    const Dict& b_dict = b.as_dict();
    if (a_dict.size() != b_dict.size()) return false;
    auto a_it = a_dict.begin();
    auto b_it = b_dict.begin();
    for (; a_it != a_dict.end(); ++a_it, ++b_it) {
      if (a_it->first != b_it->first || !same_config_value(a_it->second, b_it->second)) {
        return false;
      }
    }
    return true;
  }
  return a == b;
}

[[noreturn]] void fail_newer_version(const ModuleType& type, std::int64_t saved,
                                     const std::string& path) {
  fail(ErrorCode::kMismatch, type.name, " ", where(path), " was saved with config version ", saved,
       ", newer than version ", type.version,
       ", the newest the registered factory reads; register a factory that reads version ", saved,
       " to load it");
}

}  // namespace

// --- ModuleSpec ------------------------------------------------------------------------------

ModuleSpec::ModuleSpec(std::string type, std::int64_t version, std::string path, Dict config,
                       ChildBuilder build_children)
    : type_(std::move(type)),
      version_(version),
      path_(std::move(path)),
      config_(std::move(config)),
      build_children_(std::move(build_children)) {}

void ModuleSpec::fail(const std::string& field, std::string_view expected) const {
  const Value* value = config_.find(field);
  if (!value) {
    std::vector<std::string> present;
    for (const DictKey& key : config_.keys()) present.push_back(std::get<std::string>(key));
    mnemo::fail(ErrorCode::kMismatch, "config field '", field, "' of ", type_, " ", where(path_),
                " is missing (expected ", expected, "; the saved config, version ", version_,
                ", has ", present.empty() ? "no fields" : key_list(present), ")");
  }
  mnemo::fail(ErrorCode::kMismatch, "config field '", field, "' of ", type_, " ", where(path_),
              " is ", a_type(value->type()), " (", value->repr(200), "), expected ", expected);
}

const Value& ModuleSpec::get(const std::string& field) const {
  const Value* value = config_.find(field);
  if (!value) fail(field, "a value");
  return *value;
}

std::int64_t ModuleSpec::get_int(const std::string& field) const {
  const Value* value = config_.find(field);
  if (!value || !value->is_int()) fail(field, "an int");
  return value->as_int();
}

double ModuleSpec::get_double(const std::string& field) const {
  const Value* value = config_.find(field);
  if (!value || !(value->is_double() || value->is_int())) fail(field, "a float");
  return value->to_double();
}

bool ModuleSpec::get_bool(const std::string& field) const {
  const Value* value = config_.find(field);
  if (!value || !value->is_bool()) fail(field, "a bool");
  return value->as_bool();
}

const std::string& ModuleSpec::get_string(const std::string& field) const {
  const Value* value = config_.find(field);
  if (!value || !value->is_string()) fail(field, "a str");
  return value->as_string();
}

std::vector<std::int64_t> ModuleSpec::get_ints(const std::string& field) const {
  const Value* value = config_.find(field);
  const std::vector<Value>* items = nullptr;
  if (value && value->is_list()) items = &value->as_list();
  if (value && value->is_tuple()) items = &value->as_tuple();
  if (!items) fail(field, "a list of ints");
  std::vector<std::int64_t> result;
  for (const Value& item : *items) {
    if (!item.is_int()) fail(field, "a list of ints");
    result.push_back(item.as_int());
  }
  return result;
}

std::optional<std::int64_t> ModuleSpec::get_optional_int(const std::string& field) const {
  const Value* value = config_.find(field);
  if (!value || !(value->is_none() || value->is_int())) fail(field, "an int or None");
  if (value->is_none()) return std::nullopt;
  return value->as_int();
}

std::optional<double> ModuleSpec::get_optional_double(const std::string& field) const {
  const Value* value = config_.find(field);
  if (!value || !(value->is_none() || value->is_double() || value->is_int())) {
    fail(field, "a float or None");
  }
  if (value->is_none()) return std::nullopt;
  return value->to_double();
}

const std::vector<std::pair<std::string, ModulePtr>>& ModuleSpec::children() const {
  if (!children_) children_ = build_children_();
  return *children_;
}

// --- registration ------------------------------------------------------------------------------

ModuleRegistry& ModuleRegistry::global() {
  // Never destroyed, so that registrations from static initialisers and uses from static
  // destructors in other files find it alive, whatever the order.
  static ModuleRegistry* const registry = [] {
    auto* created = new ModuleRegistry();
    created->add_builtins();
    return created;
  }();
  return *registry;
}

void ModuleRegistry::add(ModuleType type) {
  MNEMO_CHECK(!type.name.empty(), "a module type needs a non-empty name");
  MNEMO_CHECK(type.version >= 1, "config versions start at 1; got ", type.version, " for '",
              type.name, "'");
  MNEMO_CHECK(static_cast<bool>(type.factory), "module type '", type.name, "' has no factory");
  std::lock_guard lock(mutex_);
  for (ModuleType& existing : types_) {
    const bool same_name = existing.name == type.name;
    const bool same_type = existing.cpp_type == type.cpp_type;
    if (same_name && same_type) {
      existing = std::move(type);
      return;
    }
    MNEMO_CHECK(!same_name, "module type name '", type.name,
                "' is already registered for C++ type ", cpp_type_name(existing.cpp_type.name()),
                "; it can't also name ", cpp_type_name(type.cpp_type.name()));
    MNEMO_CHECK(!same_type, "C++ type ", cpp_type_name(type.cpp_type.name()),
                " is already registered as '", existing.name, "'; it can't also be registered as '",
                type.name, "'");
  }
  types_.push_back(std::move(type));
}

bool ModuleRegistry::remove(std::string_view name) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(types_.begin(), types_.end(),
                         [&](const ModuleType& type) { return type.name == name; });
  if (it == types_.end()) return false;
  types_.erase(it);
  return true;
}

std::optional<ModuleType> ModuleRegistry::find(std::string_view name) const {
  std::lock_guard lock(mutex_);
  for (const ModuleType& type : types_) {
    if (type.name == name) return type;
  }
  return std::nullopt;
}

std::optional<ModuleType> ModuleRegistry::find(std::type_index cpp_type) const {
  std::lock_guard lock(mutex_);
  for (const ModuleType& type : types_) {
    if (type.cpp_type == cpp_type) return type;
  }
  return std::nullopt;
}

std::vector<std::string> ModuleRegistry::names() const {
  std::vector<std::string> result;
  {
    std::lock_guard lock(mutex_);
    for (const ModuleType& type : types_) result.push_back(type.name);
  }
  std::sort(result.begin(), result.end());
  return result;
}

ModuleType ModuleRegistry::require(const std::string& name, const std::string& path) const {
  std::optional<ModuleType> type = find(name);
  if (!type) {
    fail(ErrorCode::kMismatch, "no module type '", name, "' is registered ", where(path), "; ",
         kRegisterHint, " before loading the model");
  }
  return *std::move(type);
}

// --- describing a tree -------------------------------------------------------------------------

Value ModuleRegistry::describe(const Module& module) const {
  std::unordered_map<const Module*, std::string> seen;
  return describe_node(module, "", seen);
}

Dict ModuleRegistry::describe_node(const Module& module, const std::string& path,
                                   std::unordered_map<const Module*, std::string>& seen) const {
  const auto [first, inserted] = seen.emplace(&module, path);
  if (!inserted) {
    fail(ErrorCode::kUnsupported, "the ", module.name(), " ", where(path),
         " is the same module as the one ", where(first->second),
         "; a module shared by two parents can't be recorded in an architecture (it would be "
         "rebuilt as two): save the state_dict instead");
  }
  std::optional<ModuleType> type = find(std::type_index(typeid(module)));
  if (!type) {
    fail(ErrorCode::kUnsupported, "the module ", where(path), ", of C++ type ",
         cpp_type_name(typeid(module).name()),
         ", has no registered module type, so the architecture can't be recorded; ", kRegisterHint,
         ", or save the state_dict instead");
  }
  Value config = module.config();
  if (!config.is_dict()) {
    fail(ErrorCode::kInvalidArgument, type->name, "::config() ", where(path), " returned ",
         a_type(config.type()), "; a config is a dict, field name -> value");
  }
  for (const DictKey& key : config.as_dict().keys()) {
    if (!std::holds_alternative<std::string>(key)) {
      fail(ErrorCode::kInvalidArgument, type->name, "::config() ", where(path), " has the key ",
           key_repr(key), "; config field names are strings");
    }
  }
  Dict children;
  for (const auto& [name, child] : module.children_) {
    children.insert_or_assign(name, describe_node(*child, child_path(path, name), seen));
  }
  return Dict{{"type", type->name},
              {"version", type->version},
              {"config", std::move(config)},
              {"training", module.is_training()},
              {"children", std::move(children)}};
}

// --- rebuilding a tree ---------------------------------------------------------------------------

ModulePtr ModuleRegistry::build(const Value& architecture) const {
  ModulePtr root = build_node(architecture, "");
  apply_training(*root, architecture);
  return root;
}

ModulePtr ModuleRegistry::build_node(const Value& value, const std::string& path) const {
  const Node node = read_node(value, path);
  const ModuleType type = require(*node.type, path);
  if (node.version > type.version) fail_newer_version(type, node.version, path);

  ModuleSpec spec(type.name, node.version, path, *node.config, [&] {
    std::vector<std::pair<std::string, ModulePtr>> built;
    for (const std::string& name : node.child_names) {
      built.emplace_back(name, build_node(node.children->at(name), child_path(path, name)));
    }
    return built;
  });
  ModulePtr module = type.factory(spec);
  if (!module) {
    fail(ErrorCode::kInvalidArgument, "the factory of module type '", type.name, "' ", where(path),
         " returned no module");
  }
  const Module& built = *module;
  if (std::type_index(typeid(built)) != type.cpp_type) {
    fail(ErrorCode::kInvalidArgument, "the factory of module type '", type.name, "' ", where(path),
         " built a ", cpp_type_name(typeid(built).name()), ", not the registered ",
         cpp_type_name(type.cpp_type.name()));
  }
  check_built(*module, value, path, spec.children_ ? &*spec.children_ : nullptr);
  return module;
}

void ModuleRegistry::check_built(
    const Module& module, const Value& value, const std::string& path,
    const std::vector<std::pair<std::string, ModulePtr>>* spec_children) const {
  const Node node = read_node(value, path);
  std::vector<std::string> built_names;
  for (const auto& [name, child] : module.children_) built_names.push_back(name);
  if (built_names != node.child_names) {
    fail(ErrorCode::kMismatch, "the ", *node.type, " rebuilt ", where(path), " has children ",
         name_list(built_names), ", but the saved architecture has ", name_list(node.child_names),
         "; its factory must build the children its saved config describes, or take them from "
         "spec.children()");
  }
  for (const auto& entry : module.children_) {
    const std::string& name = entry.first;
    const Module& child = *entry.second;
    const bool from_spec =
        spec_children &&
        std::any_of(spec_children->begin(), spec_children->end(), [&](const auto& item) {
          return item.first == name && item.second == entry.second;
        });
    if (from_spec) continue;  // built from its own saved node, and checked there

    // A child its parent's factory built: it must be what was saved.
    const std::string cpath = child_path(path, name);
    const Value& saved = node.children->at(name);
    const Node saved_node = read_node(saved, cpath);
    std::optional<ModuleType> type = find(std::type_index(typeid(child)));
    if (!type || type->name != *saved_node.type) {
      fail(
          ErrorCode::kMismatch, "the ", *node.type, " rebuilt ", where(path), " built its child '",
          name, "' as a ",
          type ? "'" + type->name + "'" : cpp_type_name(typeid(child).name()) + " (not registered)",
          ", but the saved architecture has a '", *saved_node.type, "' there");
    }
    if (saved_node.version > type->version) fail_newer_version(*type, saved_node.version, cpath);
    if (saved_node.version == type->version) {
      const Value built_config = child.config();
      const Value saved_config = *saved_node.config;
      if (!same_config_value(built_config, saved_config)) {
        fail(ErrorCode::kMismatch, "the ", *node.type, " rebuilt ", where(path),
             " built its child '", name, "' with config ", built_config.repr(200),
             ", but the saved config is ", saved_config.repr(200));
      }
    }
    check_built(child, saved, cpath, nullptr);
  }
}

void ModuleRegistry::apply_training(Module& module, const Value& value) {
  const Dict& node = value.as_dict();
  module.training_ = node.at(std::string("training")).as_bool();
  const Dict& children = node.at(std::string("children")).as_dict();
  for (const auto& [name, child] : module.children_) {
    apply_training(*child, children.at(name));
  }
}

// --- the built-in layers -----------------------------------------------------------------------

namespace {

std::array<std::int64_t, 2> get_pair(const ModuleSpec& spec, const std::string& field) {
  const std::vector<std::int64_t> values = spec.get_ints(field);
  if (values.size() != 2) spec.fail(field, "a list of 2 ints");
  return {values[0], values[1]};
}

template <class Container>
std::shared_ptr<Container> build_indexed(const ModuleSpec& spec) {
  auto container = std::make_shared<Container>();
  for (const auto& [name, child] : spec.children()) container->push_back(child);
  return container;
}

}  // namespace

void ModuleRegistry::add_builtins() {
  add<Linear>("Linear", 1, [](const ModuleSpec& spec) {
    return std::make_shared<Linear>(spec.get_int("in_features"), spec.get_int("out_features"),
                                    spec.get_bool("bias"));
  });
  add<Conv2d>("Conv2d", 1, [](const ModuleSpec& spec) {
    return std::make_shared<Conv2d>(spec.get_int("in_channels"), spec.get_int("out_channels"),
                                    get_pair(spec, "kernel_size"),
                                    Conv2dOptions{.stride = get_pair(spec, "stride"),
                                                  .padding = get_pair(spec, "padding"),
                                                  .dilation = get_pair(spec, "dilation"),
                                                  .groups = spec.get_int("groups"),
                                                  .bias = spec.get_bool("bias")});
  });
  auto batch_norm_options = [](const ModuleSpec& spec) {
    return BatchNormOptions{.eps = spec.get_double("eps"),
                            .momentum = spec.get_optional_double("momentum"),
                            .affine = spec.get_bool("affine"),
                            .track_running_stats = spec.get_bool("track_running_stats")};
  };
  add<BatchNorm1d>("BatchNorm1d", 1, [=](const ModuleSpec& spec) {
    return std::make_shared<BatchNorm1d>(spec.get_int("num_features"), batch_norm_options(spec));
  });
  add<BatchNorm2d>("BatchNorm2d", 1, [=](const ModuleSpec& spec) {
    return std::make_shared<BatchNorm2d>(spec.get_int("num_features"), batch_norm_options(spec));
  });
  add<LayerNorm>("LayerNorm", 1, [](const ModuleSpec& spec) {
    return std::make_shared<LayerNorm>(spec.get_ints("normalized_shape"), spec.get_double("eps"),
                                       spec.get_bool("elementwise_affine"));
  });
  add<Embedding>("Embedding", 1, [](const ModuleSpec& spec) {
    return std::make_shared<Embedding>(spec.get_int("num_embeddings"),
                                       spec.get_int("embedding_dim"),
                                       spec.get_optional_int("padding_idx"));
  });
  add<Dropout>("Dropout", 1, [](const ModuleSpec& spec) {
    return std::make_shared<Dropout>(spec.get_double("p"));
  });
  add<ReLU>("ReLU", 1, [](const ModuleSpec&) { return std::make_shared<ReLU>(); });
  add<GELU>("GELU", 1, [](const ModuleSpec& spec) {
    const std::string& approximate = spec.get_string("approximate");
    if (approximate != "none" && approximate != "tanh")
      spec.fail("approximate", "'none' or 'tanh'");
    return std::make_shared<GELU>(approximate == "tanh");
  });
  add<Tanh>("Tanh", 1, [](const ModuleSpec&) { return std::make_shared<Tanh>(); });
  add<Sigmoid>("Sigmoid", 1, [](const ModuleSpec&) { return std::make_shared<Sigmoid>(); });
  add<Flatten>("Flatten", 1, [](const ModuleSpec& spec) {
    return std::make_shared<Flatten>(spec.get_int("start_dim"), spec.get_int("end_dim"));
  });
  add<MaxPool2d>("MaxPool2d", 1, [](const ModuleSpec& spec) {
    return std::make_shared<MaxPool2d>(Pool2dOptions{.kernel_size = get_pair(spec, "kernel_size"),
                                                     .stride = get_pair(spec, "stride"),
                                                     .padding = get_pair(spec, "padding"),
                                                     .dilation = get_pair(spec, "dilation"),
                                                     .ceil_mode = spec.get_bool("ceil_mode")});
  });
  add<AvgPool2d>("AvgPool2d", 1, [](const ModuleSpec& spec) {
    return std::make_shared<AvgPool2d>(
        Pool2dOptions{.kernel_size = get_pair(spec, "kernel_size"),
                      .stride = get_pair(spec, "stride"),
                      .padding = get_pair(spec, "padding"),
                      .ceil_mode = spec.get_bool("ceil_mode"),
                      .count_include_pad = spec.get_bool("count_include_pad")});
  });
  add<AdaptiveAvgPool2d>("AdaptiveAvgPool2d", 1, [](const ModuleSpec& spec) {
    return std::make_shared<AdaptiveAvgPool2d>(get_pair(spec, "output_size"));
  });
  // Containers: their children are not in any config; the saved ones are rebuilt.
  add<Sequential>("Sequential", 1, build_indexed<Sequential>);
  add<ModuleList>("ModuleList", 1, build_indexed<ModuleList>);
  add<ModuleDict>("ModuleDict", 1, [](const ModuleSpec& spec) {
    auto dict = std::make_shared<ModuleDict>();
    for (const auto& [key, child] : spec.children()) dict->insert(key, child);
    return dict;
  });
}

}  // namespace mnemo::nn
