// Iteration over N operands that share a shape but each have their own strides: the
// engine behind copy_, fill_, equal and the elementwise ops. Private to the library.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "mnemo/core/tensor.h"

namespace mnemo::detail {

// Calls fn(offsets, count, steps) for each innermost run of the shape: elements
// offsets[k] + i * steps[k] for i in [0, count) of operand k (all in elements). Adjacent
// dimensions that are contiguous for every operand are merged first, so contiguous
// operands give a single run.
template <std::size_t N, class Fn>
void for_each_run(const Shape& sizes, const std::array<const Shape*, N>& strides,
                  std::array<std::int64_t, N> offsets, Fn&& fn) {
  struct Dim {
    std::int64_t size;
    std::array<std::int64_t, N> stride;
  };
  std::vector<Dim> dims;  // innermost first
  dims.reserve(sizes.size());
  for (std::size_t d = sizes.size(); d-- > 0;) {
    if (sizes[d] == 0) return;
    if (sizes[d] == 1) continue;
    Dim dim{sizes[d], {}};
    for (std::size_t k = 0; k < N; ++k) dim.stride[k] = (*strides[k])[d];
    if (!dims.empty()) {
      Dim& inner = dims.back();
      bool mergeable = true;
      for (std::size_t k = 0; k < N; ++k) {
        mergeable = mergeable && dim.stride[k] == inner.stride[k] * inner.size;
      }
      if (mergeable) {
        inner.size *= dim.size;
        continue;
      }
    }
    dims.push_back(dim);
  }
  if (dims.empty()) {  // a single element
    fn(offsets, std::int64_t{1}, std::array<std::int64_t, N>{});
    return;
  }
  const Dim inner = dims.front();
  std::vector<std::int64_t> counter(dims.size(), 0);
  while (true) {
    fn(offsets, inner.size, inner.stride);
    std::size_t d = 1;
    for (; d < dims.size(); ++d) {
      for (std::size_t k = 0; k < N; ++k) offsets[k] += dims[d].stride[k];
      if (++counter[d] < dims[d].size) break;
      for (std::size_t k = 0; k < N; ++k) offsets[k] -= dims[d].stride[k] * dims[d].size;
      counter[d] = 0;
    }
    if (d == dims.size()) return;
  }
}

// Reads element i of a typed run; bool elements are read as bytes, so that a byte
// other than 0 or 1 (from a file) is true rather than undefined behaviour.
template <class T>
inline T load_element(const void* base, std::int64_t index) {
  if constexpr (std::is_same_v<T, bool>) {
    return static_cast<const std::uint8_t*>(base)[index] != 0;
  } else {
    return static_cast<const T*>(base)[index];
  }
}

}  // namespace mnemo::detail
