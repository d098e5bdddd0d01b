// A Value as JSON — the content part of `mnemo inspect --json`, a contract other tools
// rely on (docs/cli.md): dicts as objects in stored order (int keys as
// decimal strings), lists and tuples as arrays, floats that round-trip exactly
// ("inf", "-inf", "nan" as strings), bytes as {"bytes": HEX}, tensors as
// {"tensor": {"dtype", "shape", "device"[, "sha256"]}}.
#pragma once

#include <ostream>
#include <string>

#include "mnemo/core/value.h"

namespace mnemo {

struct JsonOptions {
  bool hash = false;  // add each tensor's sha256
};

// Writes `value` with two-space indentation, as if nested `indent` spaces deep.
void write_json(std::ostream& out, const Value& value, const JsonOptions& options = {},
                int indent = 0);
std::string to_json(const Value& value, const JsonOptions& options = {});

// A JSON string literal for `text` (UTF-8 passes through; control characters escaped).
std::string json_string(std::string_view text);

}  // namespace mnemo
