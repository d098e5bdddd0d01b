// Typed reads of a parameter group's hyperparameters, and helpers the optimizers share.
// A group's options are a Dict that users and loaded state_dicts may change, so every
// read checks its type and names the group and key when it is wrong.
#pragma once

#include <cstdint>
#include <string>

#include "mnemo/core/tensor.h"
#include "mnemo/core/value.h"
#include "mnemo/optim/optimizer.h"

namespace mnemo::optim::detail {

// "param_groups[1]".
std::string group_where(std::size_t index);

// The value under `key`; throws kInvalidArgument "<where> has no '<key>'" when absent.
const Value& group_value(const Dict& options, const char* key, const std::string& where);
// An int or a float (not a bool).
Number group_number(const Dict& options, const char* key, const std::string& where);
bool group_bool(const Dict& options, const char* key, const std::string& where);
// A tuple or list of two numbers (Adam's betas).
Betas group_betas(const Dict& options, const char* key, const std::string& where);

// "<where>: Invalid learning rate: -0.1": PyTorch's ValueError text, with Python's
// str(value).
[[noreturn]] void fail_invalid(const std::string& where, const char* what, const Number& value);

// Checks that `tensor` (an optimizer's state for `param`) has the parameter's shape and
// dtype and is contiguous, naming `where`.
void check_like_param(const Tensor& tensor, const Tensor& param, const std::string& where);

}  // namespace mnemo::optim::detail
