// nn::Module: a tree of named parameters, buffers and submodules with PyTorch's
// state_dict semantics — the same keys, in the same order, for the same architecture,
// and load_state_dict's rules and messages.
//
//   struct Net : mnemo::nn::Module {
//     std::shared_ptr<mnemo::nn::Linear> fc1, fc2;
//     Net() {
//       fc1 = register_module("fc1", std::make_shared<mnemo::nn::Linear>(784, 256));
//       fc2 = register_module("fc2", std::make_shared<mnemo::nn::Linear>(256, 10));
//     }
//     mnemo::Tensor forward(const mnemo::Tensor& x) override {
//       return fc2->forward(mnemo::relu(fc1->forward(x)));
//     }
//   };
//
//   Net net;
//   mnemo::StateDict sd = net.state_dict();    // fc1.weight, fc1.bias, fc2.weight, fc2.bias
//   Net other;
//   other.load_state_dict(sd);                 // strict: throws PyTorch's message on mismatch
//
// Differences from PyTorch, all on the safe side:
//  - a failed load_state_dict changes nothing: everything is checked before anything
//    is copied;
//  - a key nested under a parameter ("fc1.weight.extra") is reported as unexpected, as
//    PyTorch 2.x does (1.13 ignored it);
//  - a "_extra_state" key for a module that keeps no extra state is reported as
//    unexpected instead of being dropped silently;
//  - a 0-dim parameter accepts a checkpoint tensor of shape (1,) (PyTorch 2.x's rule).
//
// Modules are not copyable; share them with std::shared_ptr. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "mnemo/core/ordered_map.h"
#include "mnemo/core/state_dict.h"
#include "mnemo/core/tensor.h"
#include "mnemo/core/value.h"

namespace mnemo::nn {

struct LoadStateDictOptions {
  // Missing and unexpected keys are errors. Shape mismatches are errors either way.
  bool strict = true;
  // Make the module's tensors view the state_dict's tensors (dtype included) instead of
  // copying into them; handles held elsewhere (an optimizer's) follow, as they share
  // the tensor.
  bool assign = false;
};

// What load_state_dict found but did not treat as an error (strict = false).
struct IncompatibleKeys {
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;

  bool all_matched() const { return missing_keys.empty() && unexpected_keys.empty(); }
  // PyTorch's repr: "<All keys matched successfully>" or
  // "_IncompatibleKeys(missing_keys=['a'], unexpected_keys=[])".
  std::string repr() const;
};

class Module;
using ModulePtr = std::shared_ptr<Module>;

class Module {
 public:
  // `type_name` is the class name used in messages and repr (PyTorch's
  // type(self).__name__). When empty it is the C++ class name, without namespaces.
  explicit Module(std::string type_name = "");
  virtual ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& name() const;

  // --- registration -------------------------------------------------------------------
  // Names must be non-empty, contain no '.', and not be taken by another kind of member;
  // registering the same kind again replaces it. Each returns the registered handle.
  // An undefined tensor registers an empty slot (PyTorch's None), skipped by state_dict.
  Tensor register_parameter(std::string name, Tensor tensor, bool requires_grad = true);
  Tensor register_buffer(std::string name, Tensor tensor, bool persistent = true);
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module);

  // --- traversal, in PyTorch's order --------------------------------------------------------
  // Parameters and buffers of this module, then of each submodule (depth first, in
  // registration order), with dotted names. Undefined slots are skipped; a tensor (or
  // module) reachable twice is listed once, under its first name.
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, ModulePtr>> named_children() const;
  std::vector<ModulePtr> children() const;
  // This module (name "") and every submodule. The pointers are valid while the tree is.
  std::vector<std::pair<std::string, Module*>> named_modules() const;

  // This module's own slots (not recursive). Throws kInvalidArgument when absent.
  Tensor parameter(const std::string& name) const;
  Tensor buffer(const std::string& name) const;
  ModulePtr submodule(const std::string& name) const;

  // --- modes and helpers -----------------------------------------------------------------
  // Sets training mode on this module and all submodules.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Calls fn on every submodule (children first, as PyTorch), then on this module.
  Module& apply(const std::function<void(Module&)>& fn);
  // Drops (or zeroes) every parameter's gradient.
  void zero_grad(bool set_to_none = true);

  // --- state ----------------------------------------------------------------------------
  // Parameters then persistent buffers of each module, then its extra state, then its
  // children's, as detached tensors sharing this model's memory; module versions in the
  // metadata.
  StateDict state_dict() const;
  // See the header comment for the rules. Throws kMismatch with PyTorch's text:
  //   Error(s) in loading state_dict for Net:
  //   	Missing key(s) in state_dict: "fc2.bias". ...
  // and changes nothing when it throws.
  IncompatibleKeys load_state_dict(const StateDict& state_dict, LoadStateDictOptions options = {});

  // A module that keeps state other than tensors overrides all three; it is saved under
  // "<prefix>_extra_state".
  virtual bool has_extra_state() const { return false; }
  virtual Value get_extra_state() const;
  virtual void set_extra_state(const Value& state);

  // PyTorch's _version for this module type, recorded in the state_dict's metadata.
  virtual std::int64_t version() const { return 1; }

  // One-tensor forward pass, for modules that have one (Sequential chains them).
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // --- architecture (save_model; see nn/module_registry.h) --------------------------------
  // The arguments this module's registered factory rebuilds it from: a dict of plain
  // values (int, float, bool, str, None, lists of them), field name -> value. Built-in
  // layers use PyTorch's argument names ({"in_features": 784, "out_features": 256,
  // "bias": true}). The default, an empty dict, suits a module built without arguments.
  virtual Value config() const;

  // PyTorch-style text: "Net(\n  (fc1): Linear(in_features=784, out_features=256, bias=True)\n)".
  std::string repr() const;
  // The part inside the parentheses for a leaf module ("in_features=784, ...").
  virtual std::string extra_repr() const { return {}; }

 protected:
  // Called by load_state_dict for this module before anything is checked, with the
  // module's prefix ("fc1.") and the version its state was saved with (nullopt when the
  // state_dict carries none: an old or plain-dict file). A module whose layout changed
  // adds the entries an old state lacks to `additions` (full key -> value); they count as
  // present. BatchNorm uses it for num_batches_tracked.
  virtual void upgrade_state(const std::string& prefix, std::optional<std::int64_t> version,
                             const StateDict& state_dict, StateDict& additions) const;

 private:
  friend class StateDictLoader;
  friend class ModuleRegistry;  // walks children_ as state_dict does, shared ones included

  void check_new_member_name(const std::string& name, const char* kind) const;
  ModulePtr add_child(std::string name, ModulePtr module);
  void collect_state(const std::string& prefix, StateDict& out) const;
  std::vector<std::pair<std::string, Tensor>> named_tensors(bool recurse, bool buffers) const;

  mutable std::string type_name_;
  bool training_ = true;
  detail::OrderedMap<std::string, Tensor> parameters_;
  detail::OrderedMap<std::string, Tensor> buffers_;
  std::unordered_set<std::string> non_persistent_buffers_;
  detail::OrderedMap<std::string, ModulePtr> children_;
};

template <class M>
std::shared_ptr<M> Module::register_module(std::string name, std::shared_ptr<M> module) {
  static_assert(std::is_base_of_v<Module, M>, "register_module needs an nn::Module");
  add_child(std::move(name), module);
  return module;
}

}  // namespace mnemo::nn
