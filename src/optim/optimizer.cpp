// Optimizer: parameter groups, zero_grad, state_dict() and load_state_dict() — the parts
// PyTorch keeps in torch/optim/optimizer.py. The updates live in sgd.cpp and adam.cpp.
#include "mnemo/optim/optimizer.h"

#include <utility>

#include "core/tensor_impl.h"
#include "io/parallel_copy.h"
#include "optim/group_options.h"

namespace mnemo::optim {
namespace {

std::string tensor_where(const std::string& group_where, std::size_t index) {
  return group_where + "['params'][" + std::to_string(index) + "]";
}

// The parameter checks: the update writes straight into the parameter's memory.
void check_param(const Tensor& param, const std::string& where) {
  MNEMO_CHECK(param.defined(), where, " is an undefined tensor");
  MNEMO_CHECK(param.dtype() == DType::kFloat32 || param.dtype() == DType::kFloat64, where,
              " has dtype ", dtype_name(param.dtype()),
              "; the optimizers update float32 and float64 parameters");
  MNEMO_CHECK(param.device().is_cpu(), where, " is on ", param.device(),
              "; the optimizers update CPU tensors");
  MNEMO_CHECK(param.is_contiguous(), where, " (shape ", shape_repr(param.sizes()), ", strides ",
              shape_repr(param.strides()),
              ") is not contiguous; the update writes into the parameter in place, so "
              "optimize the contiguous tensor this one views");
}

// The copies load_state_dict makes of the saved state's tensors: the optimizer updates
// them in place, and the caller's state_dict must not change. A large contiguous tensor
// gets its new storage at once and its bytes in fill(), with every other such tensor's,
// in pieces spread over the cores: an optimizer's state is often twice the model, and
// copying it tensor by tensor on one thread took longer than reading the file.
class StateCopier {
 public:
  Tensor clone(const Tensor& source) {
    if (!source.is_contiguous() || source.nbytes() < io::kPieceBytes) return source.clone();
    Storage storage = Storage::allocate_for_fill(source.nbytes(), source.device());
    pending_.push_back({static_cast<const std::byte*>(source.data_ptr()), storage.mutable_data(),
                        source.nbytes()});
    // clone()'s layout.
    return Tensor(std::move(storage), source.dtype(), source.sizes(),
                  contiguous_strides(source.sizes()));
  }

  // Copies the bytes of the tensors clone() deferred. Their sources are the caller's, who
  // holds them until load_state_dict returns.
  void fill() {
    io::copy_in_pieces(pending_, io::Destination::kFresh);
    pending_.clear();
  }

 private:
  std::vector<io::CopyRange> pending_;
};

// A copy of a loaded state value for `param`, its tensors copied by `copier`, and cast to
// the parameter's dtype when it is floating point, except under the key 'step' (PyTorch
// issue #74424).
Value cast_state(const Value& value, const Tensor& param, const std::string& key,
                 const std::string& where, StateCopier& copier) {
  switch (value.type()) {
    case ValueType::kTensor: {
      const Tensor source = value.as_tensor().detach();
      if (!source.defined()) return value;
      if (!source.device().is_cpu()) {
        fail(ErrorCode::kUnsupported, where, " is a tensor on ", source.device(),
             "; load the state_dict with map_location = cpu");
      }
      const bool cast = key != "step" && is_floating_point(param.dtype());
      if (cast && source.dtype() != param.dtype()) return source.to(param.dtype());
      return copier.clone(source);
    }
    case ValueType::kDict: {
      Dict out;
      for (const auto& [k, v] : value.as_dict()) {
        const std::string* name = std::get_if<std::string>(&k);
        out.insert_or_assign(k, cast_state(v, param, name ? *name : std::string(),
                                           where + "[" + key_repr(k) + "]", copier));
      }
      return out;
    }
    case ValueType::kList: {
      List out;
      for (std::size_t i = 0; i < value.as_list().size(); ++i) {
        out.push_back(cast_state(value.as_list()[i], param, "",
                                 where + "[" + std::to_string(i) + "]", copier));
      }
      return out;
    }
    case ValueType::kTuple: {
      Tuple out;
      for (std::size_t i = 0; i < value.as_tuple().size(); ++i) {
        out.push_back(cast_state(value.as_tuple()[i], param, "",
                                 where + "[" + std::to_string(i) + "]", copier));
      }
      return out;
    }
    default:
      return value;
  }
}

// The fields a group overrides, in declaration order (which is PyTorch's key order).
std::vector<std::pair<std::string, Value>> overrides_of(const GroupOptions& o) {
  std::vector<std::pair<std::string, Value>> out;
  auto number = [&](const char* key, const std::optional<Number>& v) {
    if (v) out.emplace_back(key, v->to_value());
  };
  auto flag = [&](const char* key, const std::optional<bool>& v) {
    if (v) out.emplace_back(key, Value(*v));
  };
  number("lr", o.lr);
  number("momentum", o.momentum);
  number("dampening", o.dampening);
  if (o.betas)
    out.emplace_back("betas", Tuple{o.betas->beta1.to_value(), o.betas->beta2.to_value()});
  number("eps", o.eps);
  number("weight_decay", o.weight_decay);
  flag("nesterov", o.nesterov);
  flag("amsgrad", o.amsgrad);
  flag("maximize", o.maximize);
  return out;
}

}  // namespace

// --- OptimizerParamGroup ----------------------------------------------------------------------

double OptimizerParamGroup::lr() const {
  return detail::group_number(options, "lr", "this parameter group").to_double();
}

void OptimizerParamGroup::set_lr(Number lr) { options.insert_or_assign("lr", lr.to_value()); }

// --- Optimizer --------------------------------------------------------------------------------

Optimizer::Optimizer(std::string name, Dict defaults, std::vector<std::string> required)
    : name_(std::move(name)), defaults_(std::move(defaults)), required_(std::move(required)) {}

Optimizer::~Optimizer() = default;

void Optimizer::add_initial_groups(const std::vector<ParamGroup>& groups) {
  if (groups.empty())
    fail(ErrorCode::kInvalidArgument, name_, ": optimizer got an empty parameter list");
  for (const ParamGroup& group : groups) add_param_group(group);
}

OptimizerParamGroup Optimizer::make_group(const ParamGroup& group, const std::string& where) const {
  for (std::size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& param = group.params[i];
    check_param(param, name_ + ": " + tensor_where(where, i));
    for (std::size_t j = 0; j < i; ++j) {
      MNEMO_CHECK(!param.is_same(group.params[j]), name_, ": ", tensor_where(where, i),
                  " is the same tensor as ", tensor_where(where, j),
                  "; a parameter may appear only once");
    }
    for (const OptimizerParamGroup& existing : groups_) {
      for (const Tensor& other : existing.params) {
        MNEMO_CHECK(!param.is_same(other), name_,
                    ": some parameters appear in more than one parameter group (",
                    tensor_where(where, i), ")");
      }
    }
  }

  OptimizerParamGroup out{group.params, {}};
  for (auto& [key, value] : overrides_of(group.options)) {
    const bool known = defaults_.contains(key) ||
                       std::find(required_.begin(), required_.end(), key) != required_.end();
    MNEMO_CHECK(known, name_, " has no hyperparameter '", key, "' (set in ", where, ")");
    out.options.insert_or_assign(key, std::move(value));
  }
  for (const std::string& key : required_) {
    MNEMO_CHECK(out.options.contains(key), name_, ": parameter group didn't specify a value of ",
                "required optimization parameter ", key, " (", where, ")");
  }
  // Python's group.setdefault(name, default) for every default, in the defaults' order.
  for (const auto& [key, value] : defaults_) {
    if (!out.options.contains(key)) out.options.insert_or_assign(key, value);
  }
  check_group(out.options, where);
  return out;
}

void Optimizer::add_param_group(const ParamGroup& group) {
  groups_.push_back(make_group(group, detail::group_where(groups_.size())));
}

void Optimizer::zero_grad(bool set_to_none) {
  for (const OptimizerParamGroup& group : groups_) {
    for (const Tensor& param : group.params) {
      const Tensor grad = param.grad();
      if (!grad.defined()) continue;
      if (set_to_none) {
        param.set_grad(Tensor());
      } else {
        grad.zero_();
      }
    }
  }
}

Dict& Optimizer::state_for(std::int64_t index) {
  if (Value* found = state_.find(index)) return found->as_dict();
  return state_.insert_or_assign(index, Dict()).as_dict();
}

std::int64_t Optimizer::first_index(std::size_t group) const {
  std::int64_t index = 0;
  for (std::size_t g = 0; g < group; ++g)
    index += static_cast<std::int64_t>(groups_[g].params.size());
  return index;
}

Tensor Optimizer::checked_grad(const Tensor& param, const std::string& where) const {
  check_param(param, name_ + ": " + where);
  const Tensor grad = param.grad();
  MNEMO_CHECK(grad.dtype() == param.dtype(), name_, ": the gradient of ", where, " has dtype ",
              dtype_name(grad.dtype()), " but the parameter has dtype ", dtype_name(param.dtype()));
  MNEMO_CHECK(grad.sizes() == param.sizes(), name_, ": the gradient of ", where, " has shape ",
              shape_repr(grad.sizes()), " but the parameter has shape ", shape_repr(param.sizes()));
  MNEMO_CHECK(grad.device().is_cpu(), name_, ": the gradient of ", where, " is on ", grad.device());
  return grad.contiguous();
}

// --- state_dict -------------------------------------------------------------------------------

Value Optimizer::state_dict() const {
  List packed_groups;
  std::int64_t next_id = 0;
  for (const OptimizerParamGroup& group : groups_) {
    Dict packed = group.options;
    List ids;
    for (std::size_t i = 0; i < group.params.size(); ++i) ids.push_back(next_id++);
    packed.erase("params");  // 'params' goes last, as pack_group puts it
    packed.insert_or_assign("params", std::move(ids));
    packed_groups.push_back(std::move(packed));
  }
  return Dict{{"state", state_}, {"param_groups", std::move(packed_groups)}};
}

void Optimizer::load_state_dict(const Value& state_dict) {
  const std::string who = name_ + ".load_state_dict: ";
  if (!state_dict.is_dict()) {
    fail(ErrorCode::kInvalidArgument, who, "expected an optimizer state_dict (a dict with 'state' ",
         "and 'param_groups'), got ", value_type_name(state_dict.type()));
  }
  const Dict& root = state_dict.as_dict();
  for (const char* key : {"state", "param_groups"}) {
    if (!root.contains(key)) {
      fail(ErrorCode::kInvalidArgument, who, "the state_dict has no '", key,
           "' (keys: ", state_dict.repr(200), ")");
    }
  }
  const ValueRef saved_groups_ref = state_dict["param_groups"];
  if (!saved_groups_ref.value().is_list() && !saved_groups_ref.value().is_tuple()) {
    fail(ErrorCode::kInvalidArgument, who, "'param_groups' must be a list, got ",
         value_type_name(saved_groups_ref.type()));
  }
  const std::vector<Value>& saved_groups =
      saved_groups_ref.value().is_list()
          ? static_cast<const std::vector<Value>&>(saved_groups_ref.as_list())
          : static_cast<const std::vector<Value>&>(saved_groups_ref.as_tuple());
  const Dict& saved_state = state_dict["state"].as_dict();

  if (saved_groups.size() != groups_.size()) {
    fail(ErrorCode::kMismatch, who, "loaded state dict has a different number of parameter groups",
         " (the optimizer has ", groups_.size(), ", the state dict ", saved_groups.size(), ")");
  }

  // New hyperparameters, and saved id -> (flat index, group).
  std::vector<Dict> new_options(groups_.size());
  Dict id_map;  // saved id -> Tuple{flat index, group index}
  std::int64_t flat = 0;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const std::string where = "param_groups[" + std::to_string(g) + "]";
    const ValueRef saved = state_dict["param_groups"][g];
    const Dict& saved_dict = saved.as_dict();
    const ValueRef params = saved["params"];
    const std::vector<Value>& ids = params.value().is_tuple()
                                        ? static_cast<const std::vector<Value>&>(params.as_tuple())
                                        : static_cast<const std::vector<Value>&>(params.as_list());
    if (ids.size() != groups_[g].params.size()) {
      fail(ErrorCode::kMismatch, who,
           "loaded state dict contains a parameter group that doesn't match the size of "
           "optimizer's group (",
           where, ": the optimizer's has ", groups_[g].params.size(),
           " parameters, the loaded one ", ids.size(), ")");
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const std::int64_t id = saved["params"][i].as_int();
      if (id_map.contains(id)) {
        fail(ErrorCode::kInvalidArgument, who, "the state dict lists parameter id ", id, " twice");
      }
      id_map.insert_or_assign(id, Tuple{flat++, static_cast<std::int64_t>(g)});
    }
    Dict options;
    for (const auto& [key, value] : saved_dict) {
      if (key != DictKey(std::string("params"))) options.insert_or_assign(key, value);
    }
    for (const auto& [key, value] : setstate_defaults()) {
      if (!options.contains(key)) options.insert_or_assign(key, value);
    }
    check_group(options, who + where);
    new_options[g] = std::move(options);
  }

  // New state, in the saved order, keyed by this optimizer's ids.
  std::vector<const Tensor*> flat_params;
  for (const OptimizerParamGroup& group : groups_) {
    for (const Tensor& param : group.params) flat_params.push_back(&param);
  }
  // Each parameter's state is copied, then, once every copy's bytes are in, checked.
  struct Loaded {
    std::int64_t index;
    std::size_t group;
    std::string where;
    Value state;
  };
  std::vector<Loaded> loaded;
  loaded.reserve(saved_state.size());
  StateCopier copier;
  for (const auto& [key, value] : saved_state) {
    const std::string where = "state[" + key_repr(key) + "]";
    const Value* target = id_map.find(key);
    if (!target) {
      fail(ErrorCode::kMismatch, who, "the state dict has ", where,
           " but no parameter group lists the parameter id ", key_repr(key));
    }
    if (!value.is_dict()) {
      fail(ErrorCode::kInvalidArgument, who, where, " must be a dict, got ",
           value_type_name(value.type()));
    }
    const std::int64_t index = target->as_tuple()[0].as_int();
    const std::size_t group = static_cast<std::size_t>(target->as_tuple()[1].as_int());
    Value copy =
        cast_state(value, *flat_params[static_cast<std::size_t>(index)], "", who + where, copier);
    loaded.push_back({index, group, who + where, std::move(copy)});
  }
  copier.fill();
  Dict new_state;
  for (Loaded& l : loaded) {
    check_state(l.state.as_dict(), *flat_params[static_cast<std::size_t>(l.index)],
                new_options[l.group], l.where);
    new_state.insert_or_assign(l.index, std::move(l.state));
  }

  // Nothing can fail from here on.
  for (std::size_t g = 0; g < groups_.size(); ++g) groups_[g].options = std::move(new_options[g]);
  state_ = std::move(new_state);
}

}  // namespace mnemo::optim
