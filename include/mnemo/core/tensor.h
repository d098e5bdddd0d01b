// Tensor: a strided view of a Storage — storage + offset + sizes + strides + dtype.
//
// A Tensor is a handle, like torch::Tensor: copying it copies the handle, and both
// copies are the same tensor (same data, same requires_grad, same grad). View
// operations (view, transpose, narrow, select, expand, ...) return new tensors that
// share the storage, exactly as PyTorch's do, so writes through one are seen through
// the others. Operations that write into a tensor end in an underscore (copy_, fill_).
//
// With autograd's GradMode on, views and copies (clone, contiguous, to) of a tensor that
// requires grad join its graph, and in-place writes that would corrupt a graph are
// refused (see include/mnemo/autograd and docs/architecture.md).
//
// Sizes, strides and offsets are in elements. Negative dimension indices count from
// the end (-1 is the last dimension). Misuse — a shape that cannot be viewed, an index
// out of range, the wrong element type — throws kInvalidArgument saying what was
// expected.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "mnemo/core/device.h"
#include "mnemo/core/dtype.h"
#include "mnemo/core/error.h"
#include "mnemo/core/shape.h"
#include "mnemo/core/storage.h"

namespace mnemo {

class Generator;
struct TensorImpl;
namespace autograd {
class Node;
}  // namespace autograd

struct TensorOptions {
  DType dtype = DType::kFloat32;
  Device device = Device::cpu();
  bool requires_grad = false;
};

class Tensor {
 public:
  Tensor() = default;  // undefined, like Python's None in a parameter slot

  // A tensor viewing `storage`, without copying. Throws kInvalidArgument when the view
  // reaches outside the storage or has a negative size, stride or offset.
  Tensor(Storage storage, DType dtype, Shape sizes, Shape strides,
         std::int64_t storage_offset = 0);

  bool defined() const { return impl_ != nullptr; }

  // --- metadata -------------------------------------------------------------------
  DType dtype() const;
  Device device() const;  // the storage's device
  const Shape& sizes() const;
  const Shape& shape() const { return sizes(); }
  const Shape& strides() const;
  std::int64_t dim() const;
  std::int64_t size(std::int64_t dim) const;
  std::int64_t stride(std::int64_t dim) const;
  std::int64_t numel() const;
  std::int64_t storage_offset() const;
  std::size_t element_size() const { return mnemo::element_size(dtype()); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * element_size(); }
  bool is_contiguous() const;
  const Storage& storage() const;

  bool requires_grad() const;
  const Tensor& set_requires_grad(bool requires_grad) const;
  Tensor grad() const;  // undefined until a gradient is set
  void set_grad(const Tensor& grad) const;

  // --- autograd (include/mnemo/autograd) ------------------------------------------
  // The node that computed this tensor; null for a leaf (a tensor the user made, or
  // one computed while nothing required grad). Only a leaf's requires_grad can be
  // changed, as in PyTorch.
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  bool is_leaf() const { return grad_fn() == nullptr; }
  // Which output of grad_fn() this tensor is.
  std::uint32_t output_nr() const;
  // autograd::backward({*this}, {gradient}, retain_graph): accumulates the gradient of
  // this tensor into the grad() of the leaves it was computed from. `gradient` may be
  // left out when this tensor has one element.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;

  // True when both handles are the same tensor.
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

  // --- data -----------------------------------------------------------------------
  // The address of element 0 (the storage's bytes plus the offset).
  const void* data_ptr() const;
  // As data_ptr; throws kInvalidArgument when the storage is read-only.
  void* mutable_data_ptr() const;

  // REQUIRES: dtype() is the dtype of T.
  template <class T> const T* data() const;
  template <class T> T* mutable_data() const;

  // The single element, converted to T. REQUIRES: numel() == 1.
  template <class T> T item() const;

  // The element at a full index. REQUIRES: dtype() is the dtype of T; index in range.
  template <class T> const T& at(std::initializer_list<std::int64_t> index) const;
  template <class T> T& mutable_at(std::initializer_list<std::int64_t> index) const;

  // --- views: share this tensor's storage --------------------------------------------
  // One size may be -1 (inferred). REQUIRES: strides compatible (else use reshape).
  Tensor view(const Shape& sizes) const;
  // A view when the strides allow it, a contiguous copy otherwise.
  Tensor reshape(const Shape& sizes) const;
  Tensor transpose(std::int64_t dim0, std::int64_t dim1) const;
  Tensor permute(const Shape& dims) const;
  Tensor t() const;  // REQUIRES: dim() <= 2
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;
  // Python's t[start:end:step] along `dim`; start and end are clamped like Python's.
  Tensor slice(std::int64_t dim, std::int64_t start = 0,
               std::int64_t end = std::numeric_limits<std::int64_t>::max(),
               std::int64_t step = 1) const;
  Tensor select(std::int64_t dim, std::int64_t index) const;
  // Broadcasts size-1 dimensions (stride 0); -1 keeps a size; new leading dims allowed.
  Tensor expand(const Shape& sizes) const;
  Tensor unsqueeze(std::int64_t dim) const;
  Tensor squeeze() const;
  Tensor squeeze(std::int64_t dim) const;
  Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;
  Tensor as_strided(const Shape& sizes, const Shape& strides, std::int64_t storage_offset) const;
  // The same data without requires_grad, gradient or history.
  Tensor detach() const;

  // --- copies and writes ------------------------------------------------------------
  Tensor contiguous() const;  // this tensor itself when already contiguous
  Tensor clone() const;       // always a new contiguous storage
  Tensor to(DType dtype) const;  // this tensor itself when the dtype is the same
  // Copies `src` into this tensor, broadcasting it and converting its dtype.
  const Tensor& copy_(const Tensor& src) const;
  const Tensor& fill_(double value) const;
  const Tensor& zero_() const { return fill_(0.0); }
  // Makes this tensor view `source`'s storage with its dtype, sizes, strides and offset,
  // keeping its own identity (handles held elsewhere see the change) and requires_grad.
  const Tensor& set_(const Tensor& source) const;

  // --- comparison -------------------------------------------------------------------
  // Same dtype, sizes and element values (NaN is never equal, as in torch.equal).
  bool equal(const Tensor& other) const;
  // |a - b| <= atol + rtol * |b| elementwise, computed in double; sizes must match.
  bool allclose(const Tensor& other, double rtol = 1e-5, double atol = 1e-8,
                bool equal_nan = false) const;

  // torch-style text: "tensor([[1., 2.],\n        [3., 4.]])".
  std::string repr() const;

 private:
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  friend struct TensorImpl;
  const TensorImpl& impl() const;
  std::int64_t element_offset(std::initializer_list<std::int64_t> index) const;
  void check_element_type(DType requested) const;

  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& out, const Tensor& tensor);

// "torch.Size([2, 3])", as PyTorch prints a shape in its messages.
std::string shape_repr(const Shape& sizes);
std::int64_t shape_numel(const Shape& sizes);  // REQUIRES: no negative sizes

// --- factories ------------------------------------------------------------------------
Tensor empty(const Shape& sizes, TensorOptions options = {});
Tensor zeros(const Shape& sizes, TensorOptions options = {});
Tensor ones(const Shape& sizes, TensorOptions options = {});
Tensor full(const Shape& sizes, double value, TensorOptions options = {});
// 0, 1, ..., end - 1 (int64 by default, as torch.arange(5)).
Tensor arange(std::int64_t end, TensorOptions options = {.dtype = DType::kInt64});
Tensor arange(double start, double end, double step = 1.0, TensorOptions options = {});
// Uniform on [0, 1) and standard normal, from `generator` (the default one when null).
Tensor rand(const Shape& sizes, TensorOptions options = {}, Generator* generator = nullptr);
Tensor randn(const Shape& sizes, TensorOptions options = {}, Generator* generator = nullptr);
// A contiguous tensor over memory the caller owns; `deleter(data)` runs when the last
// handle goes (nothing runs when it is empty: the memory must outlive the tensor).
Tensor from_blob(void* data, const Shape& sizes, DType dtype,
                 std::function<void(void*)> deleter = {});
// A 1-D tensor holding `values`; a 0-dim tensor holding `value`.
template <class T> Tensor tensor(std::initializer_list<T> values);
template <class T> Tensor scalar_tensor(T value);

// ---------------------------------------------------------------------------------------
// Template definitions.

template <class T>
const T* Tensor::data() const {
  check_element_type(dtype_of_v<T>);
  return static_cast<const T*>(data_ptr());
}

template <class T>
T* Tensor::mutable_data() const {
  check_element_type(dtype_of_v<T>);
  return static_cast<T*>(mutable_data_ptr());
}

template <class T>
T Tensor::item() const {
  MNEMO_CHECK(numel() == 1, "item() needs a tensor with one element, got ", numel(),
              " elements of shape ", shape_repr(sizes()));
  T result{};
  convert_elements(data_ptr(), dtype(), &result, dtype_of_v<T>, 1);
  return result;
}

template <class T>
const T& Tensor::at(std::initializer_list<std::int64_t> index) const {
  check_element_type(dtype_of_v<T>);
  return static_cast<const T*>(data_ptr())[element_offset(index)];
}

template <class T>
T& Tensor::mutable_at(std::initializer_list<std::int64_t> index) const {
  check_element_type(dtype_of_v<T>);
  return static_cast<T*>(mutable_data_ptr())[element_offset(index)];
}

template <class T>
Tensor tensor(std::initializer_list<T> values) {
  Tensor result = empty({static_cast<std::int64_t>(values.size())}, {.dtype = dtype_of_v<T>});
  T* out = result.mutable_data<T>();
  for (const T& v : values) *out++ = v;
  return result;
}

template <class T>
Tensor scalar_tensor(T value) {
  Tensor result = empty({}, {.dtype = dtype_of_v<T>});
  *result.mutable_data<T>() = value;
  return result;
}

}  // namespace mnemo
