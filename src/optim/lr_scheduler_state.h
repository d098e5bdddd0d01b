// Reading and writing the values of schedulers' state_dicts, with messages that name the
// key ("state_dict['base_lrs'] must be a list of numbers, got str").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/core/value.h"
#include "mnemo/optim/optimizer.h"
#include "optim/group_options.h"

namespace mnemo::optim::detail {

// The dict a scheduler's state_dict must be.
const Dict& scheduler_dict(const Value& state_dict);

List number_list(const std::vector<Number>& numbers);

std::vector<Number> read_number_list(const Value& value, const std::string& where);
Number read_number(const Value& value, const std::string& where);
std::int64_t read_int(const Value& value, const std::string& where);
bool read_bool(const Value& value, const std::string& where);

}  // namespace mnemo::optim::detail
