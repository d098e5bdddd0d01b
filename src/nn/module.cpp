// nn::Module: registration, traversal, modes, state_dict() and repr.
// load_state_dict lives in state_dict_loader.cpp.
#include "mnemo/nn/module.h"

#include <cxxabi.h>

#include <cstdlib>
#include <typeinfo>

#include "core/tensor_impl.h"

namespace mnemo::nn {
namespace {

constexpr const char* kExtraStateKey = "_extra_state";

// The unqualified class name of a demangled C++ type ("ns::Net<int>" -> "Net<int>").
std::string unqualified(std::string name) {
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '<') ++depth;
    if (name[i] == '>') --depth;
    if (depth == 0 && name.compare(i, 2, "::") == 0) start = i + 2;
  }
  return name.substr(start);
}

std::string demangle(const char* mangled) {
  int status = 0;
  char* text = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string result = status == 0 && text ? text : mangled;
  std::free(text);
  return result;
}

std::string indent_lines(const std::string& text, std::size_t spaces) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '\n') out.append(spaces, ' ');
  }
  return out;
}

}  // namespace

std::string IncompatibleKeys::repr() const {
  if (all_matched()) return "<All keys matched successfully>";
  auto list = [](const std::vector<std::string>& keys) {
    std::string out = "[";
    for (std::size_t i = 0; i < keys.size(); ++i) out += (i ? ", '" : "'") + keys[i] + "'";
    return out + "]";
  };
  return "_IncompatibleKeys(missing_keys=" + list(missing_keys) +
         ", unexpected_keys=" + list(unexpected_keys) + ")";
}

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}

Module::~Module() = default;

const std::string& Module::name() const {
  if (type_name_.empty()) type_name_ = unqualified(demangle(typeid(*this).name()));
  return type_name_;
}

// --- registration ----------------------------------------------------------------------------

void Module::check_new_member_name(const std::string& name, const char* kind) const {
  MNEMO_CHECK(!name.empty(), kind, " name can't be empty string \"\"");
  MNEMO_CHECK(name.find('.') == std::string::npos, kind, " name can't contain \".\", got \"",
              name, "\"");
  const bool taken_by_other =
      (parameters_.contains(name) && std::string_view(kind) != "parameter") ||
      (buffers_.contains(name) && std::string_view(kind) != "buffer") ||
      (children_.contains(name) && std::string_view(kind) != "module");
  MNEMO_CHECK(!taken_by_other, "attribute '", name, "' already exists in ", this->name());
}

Tensor Module::register_parameter(std::string name, Tensor tensor, bool requires_grad) {
  check_new_member_name(name, "parameter");
  if (tensor.defined()) tensor.set_requires_grad(requires_grad);
  parameters_.insert_or_assign(std::move(name), tensor);
  return tensor;
}

Tensor Module::register_buffer(std::string name, Tensor tensor, bool persistent) {
  check_new_member_name(name, "buffer");
  if (persistent) {
    non_persistent_buffers_.erase(name);
  } else {
    non_persistent_buffers_.insert(name);
  }
  buffers_.insert_or_assign(std::move(name), tensor);
  return tensor;
}

ModulePtr Module::add_child(std::string name, ModulePtr module) {
  check_new_member_name(name, "module");
  MNEMO_CHECK(module != nullptr, "register_module(\"", name, "\") was given a null module");
  MNEMO_CHECK(module.get() != this, "a module cannot be its own submodule (\"", name, "\")");
  children_.insert_or_assign(std::move(name), module);
  return module;
}

// --- traversal ------------------------------------------------------------------------------

std::vector<std::pair<std::string, Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, Module*>> result;
  std::unordered_set<const Module*> seen;
  std::function<void(const Module&, const std::string&)> visit = [&](const Module& m,
                                                                     const std::string& prefix) {
    if (!seen.insert(&m).second) return;
    result.emplace_back(prefix, const_cast<Module*>(&m));
    for (const auto& [name, child] : m.children_) {
      visit(*child, prefix.empty() ? name : prefix + "." + name);
    }
  };
  visit(*this, "");
  return result;
}

std::vector<std::pair<std::string, Tensor>> Module::named_tensors(bool recurse,
                                                                 bool buffers) const {
  std::vector<std::pair<std::string, Module*>> modules =
      recurse ? named_modules()
              : std::vector<std::pair<std::string, Module*>>{{"", const_cast<Module*>(this)}};
  std::vector<std::pair<std::string, Tensor>> result;
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& [prefix, module] : modules) {
    const auto& slots = buffers ? module->buffers_ : module->parameters_;
    for (const auto& [name, tensor] : slots) {
      if (!tensor.defined() || !seen.insert(&TensorImpl::of(tensor)).second) continue;
      result.emplace_back(prefix.empty() ? name : prefix + "." + name, tensor);
    }
  }
  return result;
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  return named_tensors(recurse, /*buffers=*/false);
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  return named_tensors(recurse, /*buffers=*/true);
}

namespace {
std::vector<Tensor> values_of(std::vector<std::pair<std::string, Tensor>> named) {
  std::vector<Tensor> result;
  result.reserve(named.size());
  for (auto& item : named) result.push_back(std::move(item.second));
  return result;
}
}  // namespace

std::vector<Tensor> Module::parameters(bool recurse) const {
  return values_of(named_parameters(recurse));
}

std::vector<Tensor> Module::buffers(bool recurse) const { return values_of(named_buffers(recurse)); }

std::vector<std::pair<std::string, ModulePtr>> Module::named_children() const {
  std::vector<std::pair<std::string, ModulePtr>> result;
  std::unordered_set<const Module*> seen;
  for (const auto& [name, child] : children_) {
    if (seen.insert(child.get()).second) result.emplace_back(name, child);
  }
  return result;
}

std::vector<ModulePtr> Module::children() const {
  std::vector<ModulePtr> result;
  for (auto& item : named_children()) result.push_back(std::move(item.second));
  return result;
}

Tensor Module::parameter(const std::string& name) const {
  const Tensor* found = parameters_.find(name);
  MNEMO_CHECK(found, this->name(), " has no parameter '", name, "'");
  return *found;
}

Tensor Module::buffer(const std::string& name) const {
  const Tensor* found = buffers_.find(name);
  MNEMO_CHECK(found, this->name(), " has no buffer '", name, "'");
  return *found;
}

ModulePtr Module::submodule(const std::string& name) const {
  const ModulePtr* found = children_.find(name);
  MNEMO_CHECK(found, this->name(), " has no submodule '", name, "'");
  return *found;
}

// --- modes -------------------------------------------------------------------------------------

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

Module& Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [name, child] : children_) child->apply(fn);
  fn(*this);
  return *this;
}

void Module::zero_grad(bool set_to_none) {
  for (const Tensor& p : parameters()) {
    Tensor grad = p.grad();
    if (!grad.defined()) continue;
    if (set_to_none) {
      p.set_grad(Tensor());
    } else {
      grad.zero_();
    }
  }
}

// --- state --------------------------------------------------------------------------------------

StateDict Module::state_dict() const {
  StateDict result;
  collect_state("", result);
  return result;
}

void Module::collect_state(const std::string& prefix, StateDict& out) const {
  out.set_version(prefix.empty() ? prefix : prefix.substr(0, prefix.size() - 1), version());
  for (const auto& [name, tensor] : parameters_) {
    if (tensor.defined()) out.insert(prefix + name, tensor.detach());
  }
  for (const auto& [name, tensor] : buffers_) {
    if (tensor.defined() && !non_persistent_buffers_.contains(name)) {
      out.insert(prefix + name, tensor.detach());
    }
  }
  if (has_extra_state()) out.insert(prefix + kExtraStateKey, get_extra_state());
  // Shared submodules are saved under every name, as PyTorch does.
  for (const auto& [name, child] : children_) child->collect_state(prefix + name + ".", out);
}

Value Module::get_extra_state() const {
  fail(ErrorCode::kInvalidArgument, name(),
       " has no extra state: override has_extra_state, get_extra_state and set_extra_state "
       "together");
}

void Module::set_extra_state(const Value&) {
  fail(ErrorCode::kInvalidArgument, name(),
       " has no extra state: override has_extra_state, get_extra_state and set_extra_state "
       "together");
}

Value Module::config() const { return Dict{}; }

void Module::upgrade_state(const std::string&, std::optional<std::int64_t>, const StateDict&,
                           StateDict&) const {}

Tensor Module::forward(const Tensor&) {
  fail(ErrorCode::kInvalidArgument, name(),
       " has no one-tensor forward(); override Module::forward(const Tensor&) to use it in a "
       "Sequential or call it through a module pointer");
}

std::string Module::repr() const {
  std::string body = extra_repr();
  std::string children;
  for (const auto& [name, child] : children_) {
    children += "\n  (" + name + "): " + indent_lines(child->repr(), 2);
  }
  if (children.empty()) return name() + "(" + body + ")";
  std::string text = name() + "(";
  if (!body.empty()) text += "\n  " + indent_lines(body, 2);
  return text + children + "\n)";
}

}  // namespace mnemo::nn
