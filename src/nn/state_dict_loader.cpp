// Module::load_state_dict: PyTorch's rules and messages (reference §6), with one
// guarantee PyTorch lacks: every key is checked before any tensor is written, so a load
// that fails changes nothing.
#include <algorithm>
#include <unordered_map>

#include "io/parallel_copy.h"
#include "mnemo/autograd/grad_mode.h"
#include "mnemo/nn/module.h"

namespace mnemo::nn {
namespace {

constexpr std::string_view kExtraStateKey = "_extra_state";

// How PyTorch prints type(value) of a non-tensor found where a tensor belongs.
std::string python_class(const Value& value) {
  switch (value.type()) {
    case ValueType::kNone: return "<class 'NoneType'>";
    case ValueType::kDict:
      return value.as_dict().is_ordered_dict() ? "<class 'collections.OrderedDict'>"
                                               : "<class 'dict'>";
    case ValueType::kTensor: return "<class 'torch.Tensor'>";
    default: return "<class '" + std::string(value_type_name(value.type())) + "'>";
  }
}

std::string quoted_list(const std::vector<std::string>& keys) {
  std::string out;
  for (std::size_t i = 0; i < keys.size(); ++i) out += (i ? ", \"" : "\"") + keys[i] + "\"";
  return out;
}

}  // namespace

// Walks the module tree once, collecting PyTorch's three kinds of findings (missing,
// unexpected, per-key errors) in PyTorch's order, and the copies to make if all is well.
class StateDictLoader {
 public:
  StateDictLoader(const StateDict& state_dict, const LoadStateDictOptions& options)
      : state_dict_(state_dict), options_(options) {}

  IncompatibleKeys load(Module& root) {
    visit(root, "");
    collect_unexpected(root);

    std::vector<std::string> messages;
    if (options_.strict) {
      if (!missing_.empty()) {
        messages.push_back("Missing key(s) in state_dict: " + quoted_list(missing_) + ". ");
      }
      if (!unexpected_.empty()) {
        messages.push_back("Unexpected key(s) in state_dict: " + quoted_list(unexpected_) + ". ");
      }
    }
    messages.insert(messages.end(), errors_.begin(), errors_.end());
    if (!messages.empty()) {
      std::string text = "Error(s) in loading state_dict for " + root.name() + ":";
      for (const std::string& m : messages) text += "\n\t" + m;
      throw Error(ErrorCode::kMismatch, text);
    }

    // Everything checked: now write. User code (set_extra_state) runs first, so that if
    // it throws no tensor has changed yet. The writes into parameters are not part of
    // any graph (torch.no_grad() in PyTorch's _load_from_state_dict).
    NoGradGuard no_grad;
    for (auto& [module, state] : extra_states_) module->set_extra_state(*state);
    if (options_.assign) {
      for (const auto& [destination, source] : copies_) {
        const bool requires_grad = destination.requires_grad();
        destination.set_(source);
        destination.set_requires_grad(
            requires_grad && (is_floating_point(source.dtype()) || is_complex(source.dtype())));
      }
    } else {
      copy_all();
    }
    return IncompatibleKeys{std::move(missing_), std::move(unexpected_)};
  }

 private:
  // Writes every checkpoint tensor into its model tensor. Large plain copies (both
  // contiguous, of one dtype and device, at least a piece long) whose memory nothing else
  // in the load touches are made together, in pieces spread over the cores; the rest one
  // by one, in order, with copy_. Storages stand in for the bytes each tensor may touch: a model
  // tensor that shares its storage with another model tensor or with a checkpoint tensor
  // (tied weights, a state_dict of the model itself) is copied in order, as before.
  void copy_all() {
    struct Span {
      const std::byte* begin;
      const std::byte* end;
      std::size_t copy;  // index into copies_
      bool destination;
    };
    std::vector<Span> spans;
    spans.reserve(2 * copies_.size());
    for (std::size_t i = 0; i < copies_.size(); ++i) {
      for (const bool destination : {true, false}) {
        const Tensor& tensor = destination ? copies_[i].first : copies_[i].second;
        if (!tensor.defined()) continue;  // copy_ says what is wrong with it
        const Storage& storage = tensor.storage();
        spans.push_back({storage.data(), storage.data() + storage.nbytes(), i, destination});
      }
    }
    std::sort(spans.begin(), spans.end(),
              [](const Span& a, const Span& b) { return a.begin < b.begin; });
    // Runs of spans that overlap one another; a model tensor in a run of more than one
    // is not copied apart from the others.
    std::vector<bool> shared(copies_.size(), false);
    for (std::size_t first = 0; first < spans.size();) {
      std::size_t last = first + 1;
      const std::byte* end = spans[first].end;
      while (last < spans.size() && spans[last].begin < end) end = std::max(end, spans[last++].end);
      if (last - first > 1) {
        for (std::size_t k = first; k < last; ++k) {
          if (spans[k].destination) shared[spans[k].copy] = true;
        }
      }
      first = last;
    }
    std::vector<io::CopyRange> together;
    for (std::size_t i = 0; i < copies_.size(); ++i) {
      const auto& [destination, source] = copies_[i];
      if (!shared[i] && source.defined() && destination.is_contiguous() && source.is_contiguous() &&
          destination.dtype() == source.dtype() && destination.device() == source.device() &&
          destination.nbytes() >= io::kPieceBytes) {
        together.push_back({static_cast<const std::byte*>(source.data_ptr()),
                            static_cast<std::byte*>(destination.mutable_data_ptr()),
                            destination.nbytes()});
      } else {
        destination.copy_(source);
      }
    }
    io::copy_in_pieces(together, io::Destination::kInUse);
  }

  const Value* lookup(const std::string& key) const {
    if (const Value* v = state_dict_.find(key)) return v;
    return additions_.find(key);
  }

  void visit(Module& module, const std::string& prefix) {
    module_order_.emplace(prefix, module_order_.size());
    const std::string meta_prefix = prefix.empty() ? prefix : prefix.substr(0, prefix.size() - 1);
    module.upgrade_state(prefix, state_dict_.version(meta_prefix), state_dict_, additions_);

    auto check_slot = [&](const std::string& name, const Tensor& slot) {
      if (!slot.defined()) return;
      const std::string key = prefix + name;
      const Value* found = lookup(key);
      if (!found) {
        missing_.push_back(key);
        return;
      }
      if (!found->is_tensor()) {
        errors_.push_back("While copying the parameter named \"" + key +
                          "\", expected torch.Tensor or Tensor-like object from checkpoint but "
                          "received " + python_class(*found));
        return;
      }
      Tensor source = found->as_tensor();
      if (slot.dim() == 0 && source.sizes() == Shape{1}) source = source.select(0, 0);
      if (source.sizes() != slot.sizes()) {
        errors_.push_back("size mismatch for " + key + ": copying a param with shape " +
                          shape_repr(source.sizes()) +
                          " from checkpoint, the shape in current model is " +
                          shape_repr(slot.sizes()) + ".");
        return;
      }
      if (!options_.assign && !slot.storage().is_writable()) {
        errors_.push_back("While copying the parameter named \"" + key +
                          "\", an exception occurred : (the model's tensor is read-only: it "
                          "views a read-only mapping; load with assign = true instead).");
        return;
      }
      copies_.emplace_back(slot, source);
    };
    for (const auto& [name, tensor] : module.parameters_) check_slot(name, tensor);
    for (const auto& [name, tensor] : module.buffers_) {
      if (!module.non_persistent_buffers_.contains(name)) check_slot(name, tensor);
    }
    if (module.has_extra_state()) {
      const std::string key = prefix + std::string(kExtraStateKey);
      if (const Value* state = lookup(key)) {
        extra_states_.emplace_back(&module, state);
      } else {
        missing_.push_back(key);
      }
    }
    for (const auto& [name, child] : module.children_) visit(*child, prefix + name + ".");
  }

  // A key is unexpected at the module its dotted path leads to: when the path names a
  // child module that does not exist, or ends in a name that is not one of that module's
  // saved tensors. PyTorch lists them module by module, in traversal order, each
  // module's in the state_dict's order; so does this.
  void collect_unexpected(Module& root) {
    std::vector<std::pair<std::size_t, std::string>> found;
    for (const auto& [key, value] : state_dict_) {
      Module* module = &root;
      std::string prefix;
      std::string_view rest = key;
      while (true) {
        const std::size_t dot = rest.find('.');
        if (dot == std::string_view::npos) break;
        const ModulePtr* child = module->children_.find(std::string(rest.substr(0, dot)));
        if (!child) break;
        prefix += std::string(rest.substr(0, dot + 1));
        module = child->get();
        rest.remove_prefix(dot + 1);
      }
      if (!is_expected_leaf(*module, rest)) found.emplace_back(module_order_.at(prefix), key);
    }
    std::stable_sort(found.begin(), found.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& item : found) unexpected_.push_back(std::move(item.second));
  }

  static bool is_expected_leaf(const Module& module, std::string_view name) {
    if (name.find('.') != std::string_view::npos) return false;  // names a missing child
    const std::string leaf(name);
    if (const Tensor* p = module.parameters_.find(leaf)) return p->defined();
    if (const Tensor* b = module.buffers_.find(leaf)) {
      return b->defined() && !module.non_persistent_buffers_.contains(leaf);
    }
    return name == kExtraStateKey && module.has_extra_state();
  }

  const StateDict& state_dict_;
  const LoadStateDictOptions& options_;
  StateDict additions_;
  std::unordered_map<std::string, std::size_t> module_order_;  // prefix -> traversal index
  std::vector<std::string> missing_;
  std::vector<std::string> unexpected_;
  std::vector<std::string> errors_;
  std::vector<std::pair<Tensor, Tensor>> copies_;  // (model tensor, checkpoint tensor)
  std::vector<std::pair<Module*, const Value*>> extra_states_;
};

IncompatibleKeys Module::load_state_dict(const StateDict& state_dict,
                                         LoadStateDictOptions options) {
  return StateDictLoader(state_dict, options).load(*this);
}

}  // namespace mnemo::nn
