// Number, and the typed reads of a group's hyperparameters.
#include "optim/group_options.h"

namespace mnemo::optim {

std::int64_t Number::as_int() const {
  MNEMO_CHECK(is_int_, "as_int() on the float ", repr_double(double_));
  return int_;
}

std::string Number::repr() const { return is_int_ ? std::to_string(int_) : repr_double(double_); }

Number Number::from_value(const Value& value, std::string_view where) {
  if (value.is_int()) return Number(value.as_int());
  if (value.is_double()) return Number(value.as_double());
  fail(ErrorCode::kInvalidArgument, where, " must be an int or a float, got ",
       value_type_name(value.type()), " ", value.repr(60));
}

namespace detail {

std::string group_where(std::size_t index) { return "param_groups[" + std::to_string(index) + "]"; }

const Value& group_value(const Dict& options, const char* key, const std::string& where) {
  const Value* value = options.find(std::string(key));
  if (!value) fail(ErrorCode::kInvalidArgument, where, " has no '", key, "'");
  return *value;
}

Number group_number(const Dict& options, const char* key, const std::string& where) {
  return Number::from_value(group_value(options, key, where), where + "['" + key + "']");
}

bool group_bool(const Dict& options, const char* key, const std::string& where) {
  const Value& value = group_value(options, key, where);
  if (!value.is_bool()) {
    fail(ErrorCode::kInvalidArgument, where, "['", key, "'] must be a bool, got ",
         value_type_name(value.type()));
  }
  return value.as_bool();
}

Betas group_betas(const Dict& options, const char* key, const std::string& where) {
  const Value& value = group_value(options, key, where);
  const std::string path = where + "['" + key + "']";
  const std::vector<Value>* items = nullptr;
  if (value.is_tuple()) items = &value.as_tuple();
  if (value.is_list()) items = &value.as_list();
  if (!items || items->size() != 2) {
    fail(ErrorCode::kInvalidArgument, path, " must be a pair of numbers (beta1, beta2), got ",
         value.repr(80));
  }
  return Betas{Number::from_value((*items)[0], path + "[0]"),
               Number::from_value((*items)[1], path + "[1]")};
}

void fail_invalid(const std::string& where, const char* what, const Number& value) {
  fail(ErrorCode::kInvalidArgument, where, ": Invalid ", what, ": ", value.repr());
}

void check_like_param(const Tensor& tensor, const Tensor& param, const std::string& where) {
  if (tensor.sizes() != param.sizes() || tensor.dtype() != param.dtype()) {
    fail(ErrorCode::kMismatch, where, " is a ", dtype_name(tensor.dtype()), " tensor of shape ",
         shape_repr(tensor.sizes()), " but its parameter is a ", dtype_name(param.dtype()),
         " tensor of shape ", shape_repr(param.sizes()));
  }
  MNEMO_CHECK(tensor.is_contiguous() && tensor.device().is_cpu(), where,
              " must be a contiguous CPU tensor");
}

}  // namespace detail
}  // namespace mnemo::optim
