#include "autograd/grad_math.h"

#include <array>
#include <type_traits>

#include "core/strided_loop.h"

namespace mnemo::autograd::detail {
namespace {

template <class T>
void add_typed(const Tensor& dst, const Tensor& src) {
  T* out = dst.mutable_data<T>();
  const T* in = src.data<T>();
  mnemo::detail::for_each_run<2>(dst.sizes(), {&dst.strides(), &src.strides()}, {0, 0},
                                 [&](const std::array<std::int64_t, 2>& at, std::int64_t n,
                                     const std::array<std::int64_t, 2>& step) {
                                   T* o = out + at[0];
                                   const T* u = in + at[1];
                                   if (step[0] == 1 && step[1] == 1) {
                                     for (std::int64_t i = 0; i < n; ++i) o[i] += u[i];
                                   } else {
                                     for (std::int64_t i = 0; i < n; ++i)
                                       o[i * step[0]] += u[i * step[1]];
                                   }
                                 });
}

}  // namespace

void add_into(const Tensor& dst, const Tensor& src) {
  MNEMO_CHECK(dst.sizes() == src.sizes(), "gradient of shape ", shape_repr(src.sizes()),
              " added to one of shape ", shape_repr(dst.sizes()));
  if (dst.dtype() == src.dtype() && dst.dtype() == DType::kFloat32)
    return add_typed<float>(dst, src);
  if (dst.dtype() == src.dtype() && dst.dtype() == DType::kFloat64) {
    return add_typed<double>(dst, src);
  }
  // Other floating dtypes (float16, bfloat16, ...) add in float64 and round once.
  const Tensor sum = dst.to(DType::kFloat64).clone();
  add_typed<double>(sum, src.to(DType::kFloat64));
  dst.copy_(sum);
}

Tensor add_gradients(const Tensor& a, const Tensor& b) {
  Tensor sum = a.clone();
  add_into(sum, b);
  return sum;
}

}  // namespace mnemo::autograd::detail
