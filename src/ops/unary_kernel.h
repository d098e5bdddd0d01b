// out = f(x) (and out = f(x, y)) elementwise into a new contiguous tensor of x's shape
// and dtype, for any strides of the operands. Private to the library.
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

// REQUIRES: x and y have the same sizes and the dtype of T. Backward formulas use it:
// f(grad, saved value).
template <class T, class F>
Tensor map_binary(const Tensor& x, const Tensor& y, F f) {
  MNEMO_CHECK(x.sizes() == y.sizes(), "map_binary: sizes ", shape_repr(x.sizes()), " and ",
              shape_repr(y.sizes()), " differ");
  Tensor out = empty(x.sizes(), {.dtype = x.dtype()});
  if (out.numel() == 0) return out;
  const T* px = x.data<T>();
  const T* py = y.data<T>();
  T* po = out.mutable_data<T>();
  for_each_run<3>(x.sizes(), {&out.strides(), &x.strides(), &y.strides()}, {0, 0, 0},
                  [&](const std::array<std::int64_t, 3>& at, std::int64_t n,
                      const std::array<std::int64_t, 3>& step) {
                    T* o = po + at[0];
                    const T* u = px + at[1];
                    const T* v = py + at[2];
                    if (step[0] == 1 && step[1] == 1 && step[2] == 1) {
                      for (std::int64_t i = 0; i < n; ++i) o[i] = f(u[i], v[i]);
                    } else {
                      for (std::int64_t i = 0; i < n; ++i) {
                        o[i * step[0]] = f(u[i * step[1]], v[i * step[2]]);
                      }
                    }
                  });
  return out;
}

}  // namespace mnemo::detail
