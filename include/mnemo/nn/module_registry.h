// The module registry: what lets a model's architecture be written down and rebuilt,
// for mnemo::save_model / mnemo::load_model (mnemo/checkpoint/model_file.h).
//
// Each registered type has a name (PyTorch's class name for the built-in layers:
// "Linear", "Conv2d", ...), a config version, and a factory that builds the module from
// its config — the dict Module::config() returns. Every built-in layer is registered;
// a model of your own registers its type once, and reports its config:
//
//   struct Net : mnemo::nn::Module {
//     explicit Net(std::int64_t hidden) : hidden(hidden) {
//       fc1 = register_module("fc1", std::make_shared<mnemo::nn::Linear>(784, hidden));
//       fc2 = register_module("fc2", std::make_shared<mnemo::nn::Linear>(hidden, 10));
//     }
//     mnemo::Value config() const override { return mnemo::Dict{{"hidden", hidden}}; }
//     std::int64_t hidden;
//     std::shared_ptr<mnemo::nn::Linear> fc1, fc2;
//   };
//
//   MNEMO_REGISTER_MODULE(Net, "Net", 1, [](const mnemo::nn::ModuleSpec& spec) {
//     return std::make_shared<Net>(spec.get_int("hidden"));
//   });
//
// The registry is keyed both ways, by name (to rebuild) and by exact C++ type (to
// describe): a subclass of Linear that is not registered itself is not a Linear here,
// since rebuilding it as one would lose what the subclass adds.
//
// Rebuilding a tree: a factory builds its module from the config, children included (as
// a constructor does); the rebuilt children are then checked against the saved ones —
// same names in the same order, same types, same configs. Containers, whose children are
// not in any config, take them from spec.children() instead: the saved children, each
// rebuilt by its own factory. Any module whose children are added after construction can
// do the same.
//
// Config versions: a type whose config changes raises its version. A file saved with an
// older version is still given to the factory, which reads spec.version() to interpret
// old fields; a file saved with a newer version than the registered one is refused.
//
// Errors are kMismatch when the saved architecture and the registered types disagree (an
// unknown type, a missing or mistyped config field, a newer config version, a factory
// that builds other children than the saved ones), kCorrupt when the architecture itself
// is malformed, kUnsupported when a module can't be described (an unregistered type, a
// module shared by two parents), kInvalidArgument for a programming error (a config()
// that is not a dict, a factory that returns nothing or another type). Each message
// names the module's path in the tree: "(at 'features.3')", or "(at the root)".
//
// The registry is thread-safe; factories run without its lock held.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeindex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mnemo/core/value.h"
#include "mnemo/nn/module.h"

namespace mnemo::nn {

class ModuleRegistry;

// What the saved architecture says about one module, as its factory sees it.
class ModuleSpec {
 public:
  const std::string& type() const { return type_; }
  // The config version the module was saved with: at most the registered version.
  std::int64_t version() const { return version_; }
  // The module's dotted path in the tree ("features.3"); "" for the root.
  const std::string& path() const { return path_; }
  const Dict& config() const { return config_; }

  // --- config fields -----------------------------------------------------------------------
  // Each getter throws kMismatch naming the field, the type and the path when the field is
  // absent or holds another type, e.g.
  //   config field 'hidden' of Net (at the root) is missing (expected an int; the saved
  //   config, version 1, has 'width')
  bool has(const std::string& field) const { return config_.contains(field); }
  const Value& get(const std::string& field) const;
  std::int64_t get_int(const std::string& field) const;
  double get_double(const std::string& field) const;  // a float, or an int as Python allows
  bool get_bool(const std::string& field) const;
  const std::string& get_string(const std::string& field) const;
  std::vector<std::int64_t> get_ints(const std::string& field) const;  // a list or tuple of ints
  // None is nullopt.
  std::optional<std::int64_t> get_optional_int(const std::string& field) const;
  std::optional<double> get_optional_double(const std::string& field) const;

  // Throws the kMismatch the getters throw for `field`, saying what was `expected`: for
  // factories that check a value ("a pair of ints", "'none' or 'tanh'").
  [[noreturn]] void fail(const std::string& field, std::string_view expected) const;

  // The saved children, in saved order, each rebuilt by its own factory; built on the
  // first call. For modules whose children are not determined by their config.
  const std::vector<std::pair<std::string, ModulePtr>>& children() const;

  // A spec is only valid during its factory call.
  ModuleSpec(const ModuleSpec&) = delete;
  ModuleSpec& operator=(const ModuleSpec&) = delete;

 private:
  friend class ModuleRegistry;
  using ChildBuilder = std::function<std::vector<std::pair<std::string, ModulePtr>>()>;

  ModuleSpec(std::string type, std::int64_t version, std::string path, Dict config,
             ChildBuilder build_children);

  std::string type_;
  std::int64_t version_;
  std::string path_;
  Dict config_;
  ChildBuilder build_children_;
  mutable std::optional<std::vector<std::pair<std::string, ModulePtr>>> children_;
};

using ModuleFactory = std::function<ModulePtr(const ModuleSpec& spec)>;

// One registered type.
struct ModuleType {
  std::string name;      // what the file records: "Linear", "Net"
  std::int64_t version;  // the newest config version the factory reads (>= 1)
  std::type_index cpp_type;
  ModuleFactory factory;
};

class ModuleRegistry {
 public:
  // An empty registry; add_builtins() registers mnemo's layers.
  ModuleRegistry() = default;
  ModuleRegistry(const ModuleRegistry&) = delete;
  ModuleRegistry& operator=(const ModuleRegistry&) = delete;

  // The process-wide registry, with the built-in layers, that save_model and load_model
  // use unless given another. MNEMO_REGISTER_MODULE adds to it.
  static ModuleRegistry& global();

  // Linear, Conv2d, BatchNorm1d, BatchNorm2d, LayerNorm, Embedding, Dropout, ReLU, GELU,
  // Tanh, Sigmoid, Flatten, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Sequential,
  // ModuleList and ModuleDict, each under PyTorch's class name, config version 1.
  void add_builtins();

  // Registers `type`, replacing the entry with the same name and C++ type (a factory may
  // be updated). Throws kInvalidArgument when the name is empty or already taken by
  // another C++ type, when the C++ type is registered under another name, when the
  // version is below 1, or when the factory is empty.
  void add(ModuleType type);
  // The same for module class M, whose factory may return any std::shared_ptr<M>.
  template <class M, class F>
  void add(std::string name, std::int64_t version, F factory);
  // Removes the type registered as `name`; false when there is none.
  bool remove(std::string_view name);

  std::optional<ModuleType> find(std::string_view name) const;
  std::optional<ModuleType> find(std::type_index cpp_type) const;
  // The registered names, sorted.
  std::vector<std::string> names() const;

  // The architecture of `module`'s tree, for save_model:
  //   {"type": "Net", "version": 1, "config": {...}, "training": true,
  //    "children": {"fc1": {"type": "Linear", ...}, ...}}
  // Throws kUnsupported naming the path and C++ type of a module whose type isn't
  // registered, and naming both paths of a module reachable twice (a module shared by
  // two parents can't be rebuilt shared); kInvalidArgument when a config() is not a dict.
  Value describe(const Module& module) const;
  // Rebuilds a tree from what describe returned, training flags included. The tensors
  // are the factories' fresh ones: load a state_dict into the result to restore them.
  ModulePtr build(const Value& architecture) const;

 private:
  ModuleType require(const std::string& name, const std::string& path) const;
  Dict describe_node(const Module& module, const std::string& path,
                     std::unordered_map<const Module*, std::string>& seen) const;
  ModulePtr build_node(const Value& node, const std::string& path) const;
  void check_built(const Module& module, const Value& node, const std::string& path,
                   const std::vector<std::pair<std::string, ModulePtr>>* spec_children) const;
  static void apply_training(Module& module, const Value& node);

  mutable std::mutex mutex_;
  std::vector<ModuleType> types_;
};

// Registers module class M in the global registry.
template <class M, class F>
void register_module_type(std::string name, std::int64_t version, F factory) {
  ModuleRegistry::global().add<M>(std::move(name), version, std::move(factory));
}

template <class M, class F>
void ModuleRegistry::add(std::string name, std::int64_t version, F factory) {
  static_assert(std::is_base_of_v<Module, M>, "a registered module type must be an nn::Module");
  static_assert(std::is_invocable_v<const F&, const ModuleSpec&>,
                "a module factory is called as factory(const nn::ModuleSpec&)");
  add(ModuleType{.name = std::move(name),
                 .version = version,
                 .cpp_type = std::type_index(typeid(M)),
                 .factory = [factory = std::move(factory)](const ModuleSpec& spec) -> ModulePtr {
                   std::shared_ptr<M> module = factory(spec);
                   return module;
                 }});
}

}  // namespace mnemo::nn

#define MNEMO_REGISTRY_CONCAT_INNER(a, b) a##b
#define MNEMO_REGISTRY_CONCAT(a, b) MNEMO_REGISTRY_CONCAT_INNER(a, b)

// Registers module class `Type` in the global registry when the program starts, under
// `type_name` with config version `config_version`; the last argument is the factory,
// called as factory(const mnemo::nn::ModuleSpec&). Use it at namespace scope in a source
// file of the program (in a static library the linker may drop a file nothing else
// references: call mnemo::nn::register_module_type from code that runs instead).
#define MNEMO_REGISTER_MODULE(Type, type_name, config_version, ...)                              \
  [[maybe_unused]] static const bool MNEMO_REGISTRY_CONCAT(mnemo_registered_module_, __LINE__) = \
      (::mnemo::nn::register_module_type<Type>(type_name, config_version, __VA_ARGS__), true)
