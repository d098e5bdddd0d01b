// Small formatting helpers shared by the layers' extra_repr, matching Python's text.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "mnemo/core/tensor.h"

namespace mnemo::nn::detail {

inline const char* py_bool(bool value) { return value ? "True" : "False"; }

// "(3, 3)" — PyTorch prints pair options of conv layers as tuples.
inline std::string py_pair(const std::array<std::int64_t, 2>& v) {
  return "(" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ")";
}

// "2" when both are equal (how users usually pass pooling sizes), else "(2, 3)".
inline std::string py_int_or_pair(const std::array<std::int64_t, 2>& v) {
  return v[0] == v[1] ? std::to_string(v[0]) : py_pair(v);
}

// Python's tuple repr: "(64,)", "(2, 3)".
inline std::string py_tuple(const Shape& v) {
  std::string out = "(";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
  return out + (v.size() == 1 ? ",)" : ")");
}

}  // namespace mnemo::nn::detail
