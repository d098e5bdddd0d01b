#include "ops/grad_util.h"

#include <algorithm>

#include "mnemo/ops/reduction.h"

namespace mnemo::detail {

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.sizes() == shape) return grad;
  const std::int64_t lead = grad.dim() - static_cast<std::int64_t>(shape.size());
  MNEMO_CHECK(lead >= 0, "sum_to: ", shape_repr(grad.sizes()), " cannot be summed to ",
              shape_repr(shape));
  Shape dims;
  for (std::int64_t d = 0; d < grad.dim(); ++d) {
    if (d < lead || (shape[static_cast<std::size_t>(d - lead)] == 1 && grad.size(d) != 1)) {
      dims.push_back(d);
    }
  }
  if (dims.empty()) return grad.reshape(shape);
  return sum(grad, dims, /*keepdim=*/true).reshape(shape);
}

std::vector<double> to_doubles(const Tensor& t, std::int64_t count, double fill) {
  if (!t.defined()) return std::vector<double>(static_cast<std::size_t>(count), fill);
  const Tensor d = t.to(DType::kFloat64).contiguous();
  const double* p = d.data<double>();
  return std::vector<double>(p, p + d.numel());
}

Tensor from_doubles(const std::vector<double>& values, const Shape& sizes, DType dtype) {
  Tensor out = empty(sizes, {.dtype = DType::kFloat64});
  std::copy(values.begin(), values.end(), out.mutable_data<double>());
  return out.to(dtype);
}

}  // namespace mnemo::detail
