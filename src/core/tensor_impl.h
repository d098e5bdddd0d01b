// The state behind a Tensor handle. Private to the library.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

#include "mnemo/core/tensor.h"

namespace mnemo {

// Autograd's metadata of a tensor: its gradient; the node that computed it and which of
// that node's outputs it is; for a leaf, the node that accumulates into `grad`, held
// weakly because that node holds the leaf. Managed by src/autograd.
struct AutogradMeta {
  Tensor grad;
  std::shared_ptr<autograd::Node> grad_fn;
  std::uint32_t output_nr = 0;
  std::weak_ptr<autograd::Node> grad_accumulator;

  // What a tensor without any has: nothing.
  static const AutogradMeta& none();
};

struct TensorImpl {
  TensorImpl() = default;
  // A tensor's state built in place, as every new tensor handle starts.
  TensorImpl(Storage storage_, DType dtype_, Shape&& sizes_, Shape&& strides_, std::int64_t offset_)
      : storage(std::move(storage_)),
        dtype(dtype_),
        sizes(std::move(sizes_)),
        strides(std::move(strides_)),
        offset(offset_) {}

  Storage storage;
  DType dtype = DType::kFloat32;
  bool requires_grad = false;
  Shape sizes;
  Shape strides;
  std::int64_t offset = 0;
  // Made when the tensor first gets a gradient or a place in a graph. Most tensors never
  // do (a loaded state_dict's, the results of ops run without grad), and a tensor's size
  // is what a file of many small ones costs beyond their bytes.
  std::unique_ptr<AutogradMeta> autograd;

  const AutogradMeta& autograd_meta() const { return autograd ? *autograd : AutogradMeta::none(); }
  AutogradMeta& mutable_autograd_meta() {
    if (!autograd) autograd = std::make_unique<AutogradMeta>();
    return *autograd;
  }

  static Tensor wrap(std::shared_ptr<TensorImpl> impl) { return Tensor(std::move(impl)); }
  static const TensorImpl& of(const Tensor& tensor) { return tensor.impl(); }
  static TensorImpl& mutable_of(const Tensor& tensor) {
    return const_cast<TensorImpl&>(tensor.impl());
  }
  // How many handles share this tensor (autograd steals a gradient nobody else holds).
  static long use_count(const Tensor& tensor) { return tensor.impl_.use_count(); }
};

// The autograd layer's entry points into core's views and copies. Core declares them
// and src/autograd/core_hooks.cpp defines them, so that core needs no autograd header
// and autograd stays the only place that knows about nodes.
namespace detail {
// `view` was just made from `base`, which requires grad: records the view in the graph
// when GradMode is enabled (its requires_grad stays false otherwise, as in PyTorch).
void autograd_record_view(const Tensor& base, const Tensor& view, const char* node_name);
// `result` is a new copy of `source` (clone, contiguous, to), which requires grad.
void autograd_record_copy(const Tensor& source, const Tensor& result, const char* node_name);
// Refuses an in-place write `op` into `self` (from `source`, when not null) that would
// corrupt a recorded graph or escape it.
void autograd_check_inplace(const Tensor& self, const Tensor* source, const char* op);
}  // namespace detail

// Row-major strides for `sizes` (size-0 and size-1 dimensions count as 1, like PyTorch).
// Throws kInvalidArgument when a stride would pass 2^63 - 1, as it can for sizes of no
// elements: [0, 2^40, 2^40].
Shape contiguous_strides(const Shape& sizes);

// Checks that a view lies inside `storage_nbytes` bytes with non-negative sizes, strides
// and offset; throws kInvalidArgument saying which part does not fit.
void check_view_bounds(std::size_t storage_nbytes, std::size_t element_size,
                       const Shape& sizes, const Shape& strides, std::int64_t offset);

// `dim` made non-negative for a tensor of rank `rank` (rank + 1 positions when
// `inclusive`, for unsqueeze). Throws kInvalidArgument when out of range.
std::int64_t wrap_dim(std::int64_t dim, std::int64_t rank, bool inclusive = false);

}  // namespace mnemo
