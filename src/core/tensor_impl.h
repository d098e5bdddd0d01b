// The state behind a Tensor handle. Private to the library.
#pragma once

#include <memory>

#include "mnemo/core/tensor.h"

namespace mnemo {

struct TensorImpl {
  Storage storage;
  DType dtype = DType::kFloat32;
  Shape sizes;
  Shape strides;
  std::int64_t offset = 0;
  bool requires_grad = false;
  Tensor grad;

  static Tensor wrap(std::shared_ptr<TensorImpl> impl) { return Tensor(std::move(impl)); }
  static const TensorImpl& of(const Tensor& tensor) { return tensor.impl(); }
  static TensorImpl& mutable_of(const Tensor& tensor) {
    return const_cast<TensorImpl&>(tensor.impl());
  }
};

// Row-major strides for `sizes` (size-0 and size-1 dimensions count as 1, like PyTorch).
Shape contiguous_strides(const Shape& sizes);

// Checks that a view lies inside `storage_nbytes` bytes with non-negative sizes, strides
// and offset; throws kInvalidArgument saying which part does not fit.
void check_view_bounds(std::size_t storage_nbytes, std::size_t element_size,
                       const Shape& sizes, const Shape& strides, std::int64_t offset);

// `dim` made non-negative for a tensor of rank `rank` (rank + 1 positions when
// `inclusive`, for unsqueeze). Throws kInvalidArgument when out of range.
std::int64_t wrap_dim(std::int64_t dim, std::int64_t rank, bool inclusive = false);

}  // namespace mnemo
