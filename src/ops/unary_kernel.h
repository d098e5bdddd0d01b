// out = f(x) elementwise into a new contiguous tensor of x's shape and dtype, for any
// strides of x. Private to the library.
#pragma once

#include <array>
#include <cstdint>

#include "core/strided_loop.h"
#include "mnemo/core/tensor.h"

namespace mnemo::detail {

template <class T, class F>
Tensor map_unary(const Tensor& x, F f) {
  Tensor out = empty(x.sizes(), {.dtype = x.dtype()});
  if (out.numel() == 0) return out;
  const T* px = x.data<T>();
  T* po = out.mutable_data<T>();
  for_each_run<2>(x.sizes(), {&out.strides(), &x.strides()}, {0, 0},
                  [&](const std::array<std::int64_t, 2>& at, std::int64_t n,
                      const std::array<std::int64_t, 2>& step) {
                    T* o = po + at[0];
                    const T* u = px + at[1];
                    if (step[0] == 1 && step[1] == 1) {
                      for (std::int64_t i = 0; i < n; ++i) o[i] = f(u[i]);
                    } else {
                      for (std::int64_t i = 0; i < n; ++i) o[i * step[0]] = f(u[i * step[1]]);
                    }
                  });
  return out;
}

}  // namespace mnemo::detail
