// Tensor metadata and view operations.
#include <algorithm>
#include <numeric>
#include <optional>

#include "core/tensor_impl.h"

namespace mnemo {
namespace {

// A tensor viewing `base`'s storage with the given geometry. When `base` requires grad
// the view joins the graph as a `node_name` node (autograd decides, by GradMode).
Tensor make_view(const Tensor& base, Shape sizes, Shape strides, std::int64_t offset,
                 const char* node_name) {
  const TensorImpl& b = TensorImpl::of(base);
  Tensor view = TensorImpl::wrap(std::make_shared<TensorImpl>(b.storage, b.dtype, std::move(sizes),
                                                              std::move(strides), offset));
  if (b.requires_grad) detail::autograd_record_view(base, view, node_name);
  return view;
}

// Resolves a single -1 in `sizes` against `numel`.
Shape infer_size(const Shape& sizes, std::int64_t numel) {
  Shape result = sizes;
  std::optional<std::size_t> inferred;
  std::int64_t known = 1;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] == -1) {
      MNEMO_CHECK(!inferred, "only one dimension can be inferred (-1) in ", shape_repr(sizes));
      inferred = i;
    } else {
      MNEMO_CHECK(sizes[i] >= 0, "invalid shape dimension ", sizes[i], " in ",
                  shape_repr(sizes));
      MNEMO_CHECK(!__builtin_mul_overflow(known, sizes[i], &known), "shape '", shape_repr(sizes),
                  "' is invalid for input of size ", numel);
    }
  }
  if (inferred) {
    MNEMO_CHECK(known != 0 && numel % known == 0, "shape '", shape_repr(sizes),
                "' is invalid for input of size ", numel);
    result[*inferred] = numel / known;
  } else {
    MNEMO_CHECK(known == numel, "shape '", shape_repr(sizes), "' is invalid for input of size ",
                numel);
  }
  return result;
}

// Strides that let a tensor of (sizes, strides) be viewed as `target` without a copy,
// or nullopt. Walks both shapes from the innermost dimension, matching chunks of
// memory-contiguous old dimensions against runs of new dimensions of the same numel.
std::optional<Shape> view_strides(const Shape& sizes, const Shape& strides, const Shape& target) {
  Shape result(target.size(), 1);
  if (sizes.empty()) return result;  // a 0-dim tensor views as any shape of one element
  const std::int64_t numel = shape_numel(sizes);
  if (numel == 0) {
    if (sizes == target) return strides;
    return contiguous_strides(target);
  }
  std::int64_t view_d = static_cast<std::int64_t>(target.size()) - 1;
  std::int64_t chunk_stride = strides.back();
  std::int64_t chunk_numel = 1;
  std::int64_t view_numel = 1;
  for (std::int64_t d = static_cast<std::int64_t>(sizes.size()) - 1; d >= 0; --d) {
    chunk_numel *= sizes[d];
    const bool chunk_ends = d == 0 || (sizes[d - 1] != 1 &&
                                       strides[d - 1] != chunk_numel * chunk_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < chunk_numel || target[view_d] == 1)) {
      result[view_d] = view_numel * chunk_stride;
      view_numel *= target[view_d];
      --view_d;
    }
    if (view_numel != chunk_numel) return std::nullopt;
    if (d > 0) {
      chunk_stride = strides[d - 1];
      chunk_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return std::nullopt;
  return result;
}

bool checked_mul(std::int64_t a, std::int64_t b, std::int64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}

}  // namespace

// --- helpers shared by the core ----------------------------------------------------------

Shape contiguous_strides(const Shape& sizes) {
  Shape strides(sizes.size(), 1);
  for (std::size_t i = sizes.size(); i-- > 1;) {
    MNEMO_CHECK(checked_mul(strides[i], std::max<std::int64_t>(sizes[i], 1), &strides[i - 1]),
                "sizes ", shape_repr(sizes),
                " have no contiguous strides: they would pass 2^63 - 1");
  }
  return strides;
}

void check_view_bounds(std::size_t storage_nbytes, std::size_t element_size, const Shape& sizes,
                       const Shape& strides, std::int64_t offset) {
  MNEMO_CHECK(sizes.size() == strides.size(), "sizes ", shape_repr(sizes), " and strides ",
              shape_repr(strides), " differ in length");
  MNEMO_CHECK(offset >= 0, "negative storage offset ", offset);
  bool empty = false;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    MNEMO_CHECK(sizes[i] >= 0, "negative size ", sizes[i], " in dimension ", i);
    MNEMO_CHECK(strides[i] >= 0, "negative stride ", strides[i], " in dimension ", i);
    empty = empty || sizes[i] == 0;
  }
  if (empty) return;  // no element is ever addressed
  // Last element's index, in elements, computed without overflow.
  std::int64_t last = offset;
  bool ok = true;
  for (std::size_t i = 0; i < sizes.size() && ok; ++i) {
    std::int64_t reach = 0;
    ok = checked_mul(sizes[i] - 1, strides[i], &reach) && !__builtin_add_overflow(last, reach, &last);
  }
  std::int64_t end_bytes = 0;
  ok = ok && !__builtin_add_overflow(last, 1, &last) &&
       checked_mul(last, static_cast<std::int64_t>(element_size), &end_bytes);
  MNEMO_CHECK(ok && static_cast<std::uint64_t>(end_bytes) <= storage_nbytes, "a view of sizes ",
              shape_repr(sizes), ", strides ", shape_repr(strides), " and offset ", offset,
              " needs ", ok ? std::to_string(end_bytes) : std::string("more than 2^63"),
              " bytes, but its storage has ", storage_nbytes);
}

std::int64_t wrap_dim(std::int64_t dim, std::int64_t rank, bool inclusive) {
  const std::int64_t positions = inclusive ? rank + 1 : rank;
  MNEMO_CHECK(positions > 0 && dim >= -positions && dim < positions,
              "dimension out of range (expected to be in range of [", -positions, ", ",
              positions - 1, "], but got ", dim, ")");
  return dim < 0 ? dim + positions : dim;
}

std::int64_t shape_numel(const Shape& sizes) {
  std::int64_t n = 1;
  for (std::int64_t s : sizes) {
    MNEMO_CHECK(s >= 0, "negative dimension ", s, " in ", shape_repr(sizes));
    MNEMO_CHECK(checked_mul(n, s, &n), "shape ", shape_repr(sizes), " has more than 2^63 elements");
  }
  return n;
}

std::string shape_repr(const Shape& sizes) {
  std::string text = "torch.Size([";
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (i) text += ", ";
    text += std::to_string(sizes[i]);
  }
  return text + "])";
}

// --- construction and metadata ------------------------------------------------------------

Tensor::Tensor(Storage storage, DType dtype, Shape sizes, Shape strides,
               std::int64_t storage_offset) {
  MNEMO_CHECK(storage.defined(), "a tensor needs a defined storage");
  check_view_bounds(storage.nbytes(), mnemo::element_size(dtype), sizes, strides,
                    storage_offset);
  impl_ = std::make_shared<TensorImpl>(std::move(storage), dtype, std::move(sizes),
                                       std::move(strides), storage_offset);
}

const TensorImpl& Tensor::impl() const {
  MNEMO_CHECK(impl_ != nullptr, "the tensor is undefined");
  return *impl_;
}

DType Tensor::dtype() const { return impl().dtype; }
Device Tensor::device() const { return impl().storage.device(); }
const Shape& Tensor::sizes() const { return impl().sizes; }
const Shape& Tensor::strides() const { return impl().strides; }
std::int64_t Tensor::dim() const { return static_cast<std::int64_t>(impl().sizes.size()); }
std::int64_t Tensor::size(std::int64_t d) const { return impl().sizes[wrap_dim(d, dim())]; }
std::int64_t Tensor::stride(std::int64_t d) const { return impl().strides[wrap_dim(d, dim())]; }
std::int64_t Tensor::numel() const { return shape_numel(impl().sizes); }
std::int64_t Tensor::storage_offset() const { return impl().offset; }
const Storage& Tensor::storage() const { return impl().storage; }

bool Tensor::is_contiguous() const {
  const TensorImpl& t = impl();
  // An empty tensor is contiguous whatever its strides, as in PyTorch.
  if (std::find(t.sizes.begin(), t.sizes.end(), 0) != t.sizes.end()) return true;
  std::int64_t expected = 1;
  for (std::size_t i = t.sizes.size(); i-- > 0;) {
    if (t.sizes[i] != 1) {
      if (t.strides[i] != expected) return false;
      expected *= t.sizes[i];
    }
  }
  return true;
}

bool Tensor::requires_grad() const { return impl().requires_grad; }

const Tensor& Tensor::set_requires_grad(bool requires_grad) const {
  MNEMO_CHECK(!requires_grad || is_floating_point(dtype()) || is_complex(dtype()),
              "only tensors of floating point and complex dtype can require gradients, got ",
              dtype_name(dtype()));
  MNEMO_CHECK(requires_grad || impl().autograd_meta().grad_fn == nullptr,
              "you can only change requires_grad flags of leaf variables. If you want to use a "
              "computed variable in a subgraph that doesn't require differentiation use "
              "var_no_grad = var.detach().");
  TensorImpl::mutable_of(*this).requires_grad = requires_grad;
  return *this;
}

const AutogradMeta& AutogradMeta::none() {
  static const AutogradMeta empty;
  return empty;
}

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  return impl().autograd_meta().grad_fn;
}
std::uint32_t Tensor::output_nr() const { return impl().autograd_meta().output_nr; }

Tensor Tensor::grad() const { return impl().autograd_meta().grad; }
void Tensor::set_grad(const Tensor& grad) const {
  if (grad.defined()) {
    MNEMO_CHECK(grad.sizes() == sizes(), "assigned grad has shape ", shape_repr(grad.sizes()),
                " but the tensor has shape ", shape_repr(sizes()));
  }
  TensorImpl& t = TensorImpl::mutable_of(*this);
  if (!grad.defined() && t.autograd == nullptr) return;  // no gradient to clear
  t.mutable_autograd_meta().grad = grad;
}

const void* Tensor::data_ptr() const {
  const TensorImpl& t = impl();
  if (numel() == 0) return t.storage.data();
  return t.storage.data() + static_cast<std::size_t>(t.offset) * element_size();
}

void* Tensor::mutable_data_ptr() const {
  const TensorImpl& t = impl();
  std::byte* base = t.storage.mutable_data();
  if (numel() == 0) return base;
  return base + static_cast<std::size_t>(t.offset) * element_size();
}

void Tensor::check_element_type(DType requested) const {
  MNEMO_CHECK(dtype() == requested, "the tensor holds ", dtype_name(dtype()),
              " elements, but ", dtype_name(requested), " was requested");
}

std::int64_t Tensor::element_offset(std::initializer_list<std::int64_t> index) const {
  const TensorImpl& t = impl();
  MNEMO_CHECK(static_cast<std::int64_t>(index.size()) == dim(), "an index of ", index.size(),
              " values for a tensor of ", dim(), " dimensions");
  std::int64_t offset = 0;
  std::size_t d = 0;
  for (std::int64_t i : index) {
    const std::int64_t size = t.sizes[d];
    MNEMO_CHECK(i >= -size && i < size, "index ", i, " is out of bounds for dimension ", d,
                " with size ", size);
    offset += (i < 0 ? i + size : i) * t.strides[d];
    ++d;
  }
  return offset;
}

// --- views ------------------------------------------------------------------------------------

Tensor Tensor::view(const Shape& sizes) const {
  const TensorImpl& t = impl();
  Shape target = infer_size(sizes, numel());
  std::optional<Shape> strides = view_strides(t.sizes, t.strides, target);
  MNEMO_CHECK(strides.has_value(), "view size ", shape_repr(target),
              " is not compatible with input tensor's size and stride (at least one dimension "
              "spans across two contiguous subspaces); use reshape instead");
  return make_view(*this, std::move(target), std::move(*strides), t.offset, "ViewBackward0");
}

Tensor Tensor::reshape(const Shape& sizes) const {
  const TensorImpl& t = impl();
  Shape target = infer_size(sizes, numel());
  if (std::optional<Shape> strides = view_strides(t.sizes, t.strides, target)) {
    return make_view(*this, std::move(target), std::move(*strides), t.offset, "ViewBackward0");
  }
  return clone().view(target);
}

Tensor Tensor::transpose(std::int64_t dim0, std::int64_t dim1) const {
  const TensorImpl& t = impl();
  const std::int64_t a = wrap_dim(dim0, dim()), b = wrap_dim(dim1, dim());
  Shape sizes = t.sizes, strides = t.strides;
  std::swap(sizes[a], sizes[b]);
  std::swap(strides[a], strides[b]);
  return make_view(*this, std::move(sizes), std::move(strides), t.offset, "TransposeBackward0");
}

Tensor Tensor::permute(const Shape& dims) const {
  const TensorImpl& t = impl();
  MNEMO_CHECK(static_cast<std::int64_t>(dims.size()) == dim(), "permute: ", dims.size(),
              " dimensions given for a tensor of ", dim());
  Shape sizes(dims.size()), strides(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const std::int64_t d = wrap_dim(dims[i], dim());
    MNEMO_CHECK(!seen[d], "permute: dimension ", d, " repeats in ", shape_repr(dims));
    seen[d] = true;
    sizes[i] = t.sizes[d];
    strides[i] = t.strides[d];
  }
  return make_view(*this, std::move(sizes), std::move(strides), t.offset, "PermuteBackward0");
}

Tensor Tensor::t() const {
  MNEMO_CHECK(dim() <= 2, "t() expects a tensor with <= 2 dimensions, but it has ", dim());
  if (dim() < 2) return make_view(*this, sizes(), strides(), storage_offset(), "TBackward0");
  return make_view(*this, {size(1), size(0)}, {stride(1), stride(0)}, storage_offset(),
                   "TBackward0");
}

Tensor Tensor::narrow(std::int64_t d, std::int64_t start, std::int64_t length) const {
  const TensorImpl& t = impl();
  MNEMO_CHECK(dim() > 0, "narrow() cannot be applied to a 0-dim tensor");
  d = wrap_dim(d, dim());
  const std::int64_t size = t.sizes[d];
  if (start < 0) start += size;
  MNEMO_CHECK(start >= 0 && start <= size, "narrow: start ", start,
              " is out of range for dimension ", d, " of size ", size);
  MNEMO_CHECK(length >= 0 && start <= size - length, "narrow: start (", start, ") + length (",
              length, ") exceeds dimension size (", size, ")");
  Shape sizes = t.sizes;
  sizes[d] = length;
  return make_view(*this, std::move(sizes), t.strides, t.offset + start * t.strides[d],
                   "SliceBackward0");
}

Tensor Tensor::slice(std::int64_t d, std::int64_t start, std::int64_t end,
                     std::int64_t step) const {
  const TensorImpl& t = impl();
  MNEMO_CHECK(dim() > 0, "slice() cannot be applied to a 0-dim tensor");
  MNEMO_CHECK(step > 0, "slice step must be positive, got ", step);
  d = wrap_dim(d, dim());
  const std::int64_t size = t.sizes[d];
  auto clamp = [size](std::int64_t i) {
    if (i < 0) i = std::max<std::int64_t>(i + size, 0);
    return std::min(i, size);
  };
  start = clamp(start);
  end = std::max(clamp(end), start);
  Shape sizes = t.sizes, strides = t.strides;
  sizes[d] = (end - start + step - 1) / step;
  strides[d] = t.strides[d] * step;
  return make_view(*this, std::move(sizes), std::move(strides), t.offset + start * t.strides[d],
                   "SliceBackward0");
}

Tensor Tensor::select(std::int64_t d, std::int64_t index) const {
  const TensorImpl& t = impl();
  MNEMO_CHECK(dim() > 0, "select() cannot be applied to a 0-dim tensor");
  d = wrap_dim(d, dim());
  const std::int64_t size = t.sizes[d];
  MNEMO_CHECK(index >= -size && index < size, "select(): index ", index,
              " out of range for tensor of size ", shape_repr(t.sizes), " at dimension ", d);
  if (index < 0) index += size;
  Shape sizes = t.sizes, strides = t.strides;
  sizes.erase(sizes.begin() + d);
  strides.erase(strides.begin() + d);
  return make_view(*this, std::move(sizes), std::move(strides), t.offset + index * t.strides[d],
                   "SelectBackward0");
}

Tensor Tensor::expand(const Shape& target) const {
  const TensorImpl& t = impl();
  MNEMO_CHECK(target.size() >= t.sizes.size(), "expand: the number of sizes provided (",
              target.size(), ") must be greater or equal to the number of dimensions in the tensor (",
              t.sizes.size(), ")");
  const std::size_t lead = target.size() - t.sizes.size();
  Shape sizes(target.size()), strides(target.size());
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (i < lead) {
      MNEMO_CHECK(target[i] >= 0, "expand: the expanded size ", target[i],
                  " is not allowed in a leading, non-existing dimension ", i);
      sizes[i] = target[i];
      strides[i] = 0;
      continue;
    }
    const std::int64_t own = t.sizes[i - lead];
    const std::int64_t want = target[i] == -1 ? own : target[i];
    if (want == own) {
      sizes[i] = own;
      strides[i] = t.strides[i - lead];
    } else {
      MNEMO_CHECK(own == 1 && want >= 0, "the expanded size of the tensor (", target[i],
                  ") must match the existing size (", own, ") at non-singleton dimension ", i,
                  ".  Target sizes: ", shape_repr(target));
      sizes[i] = want;
      strides[i] = 0;
    }
  }
  return make_view(*this, std::move(sizes), std::move(strides), t.offset, "ExpandBackward0");
}

Tensor Tensor::unsqueeze(std::int64_t d) const {
  const TensorImpl& t = impl();
  d = wrap_dim(d, dim(), /*inclusive=*/true);
  Shape sizes = t.sizes, strides = t.strides;
  const std::int64_t stride =
      d >= dim() ? 1 : t.sizes[d] * t.strides[d];
  sizes.insert(sizes.begin() + d, 1);
  strides.insert(strides.begin() + d, stride);
  return make_view(*this, std::move(sizes), std::move(strides), t.offset, "UnsqueezeBackward0");
}

Tensor Tensor::squeeze() const {
  const TensorImpl& t = impl();
  Shape sizes, strides;
  for (std::size_t i = 0; i < t.sizes.size(); ++i) {
    if (t.sizes[i] != 1) {
      sizes.push_back(t.sizes[i]);
      strides.push_back(t.strides[i]);
    }
  }
  return make_view(*this, std::move(sizes), std::move(strides), t.offset, "SqueezeBackward0");
}

Tensor Tensor::squeeze(std::int64_t d) const {
  const TensorImpl& t = impl();
  if (dim() == 0) {
    wrap_dim(d, 1);  // PyTorch accepts 0 and -1 for a 0-dim tensor
    return make_view(*this, t.sizes, t.strides, t.offset, "SqueezeBackward1");
  }
  d = wrap_dim(d, dim());
  Shape sizes = t.sizes, strides = t.strides;
  if (sizes[d] == 1) {
    sizes.erase(sizes.begin() + d);
    strides.erase(strides.begin() + d);
  }
  return make_view(*this, std::move(sizes), std::move(strides), t.offset, "SqueezeBackward1");
}

Tensor Tensor::flatten(std::int64_t start_dim, std::int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  const std::int64_t start = wrap_dim(start_dim, dim()), end = wrap_dim(end_dim, dim());
  MNEMO_CHECK(start <= end, "flatten() has invalid args: start_dim (", start_dim,
              ") cannot come after end_dim (", end_dim, ")");
  if (start == end) return make_view(*this, sizes(), strides(), storage_offset(), "ViewBackward0");
  Shape target(sizes().begin(), sizes().begin() + start);
  std::int64_t merged = 1;
  for (std::int64_t i = start; i <= end; ++i) merged *= sizes()[i];
  target.push_back(merged);
  target.insert(target.end(), sizes().begin() + end + 1, sizes().end());
  return reshape(target);
}

Tensor Tensor::as_strided(const Shape& sizes, const Shape& strides,
                          std::int64_t storage_offset) const {
  const TensorImpl& t = impl();
  check_view_bounds(t.storage.nbytes(), element_size(), sizes, strides, storage_offset);
  return make_view(*this, sizes, strides, storage_offset, "AsStridedBackward0");
}

Tensor Tensor::detach() const {
  const TensorImpl& t = impl();
  return Tensor(
      std::make_shared<TensorImpl>(t.storage, t.dtype, Shape(t.sizes), Shape(t.strides), t.offset));
}

const Tensor& Tensor::set_(const Tensor& source) const {
  const TensorImpl& s = source.impl();
  TensorImpl& t = TensorImpl::mutable_of(*this);
  if (&s == &t) return *this;
  // A leaf may be re-pointed (load_state_dict's assign does it to parameters); a tensor
  // computed in a graph may not, its grad_fn describes the old geometry.
  MNEMO_CHECK(t.autograd_meta().grad_fn == nullptr,
              "set_: the tensor was computed by a recorded operation (grad_fn ",
              "is set); set_ works on leaf tensors only, detach() it first");
  detail::autograd_check_inplace(*this, &source, "set_");
  t.storage = s.storage;
  t.dtype = s.dtype;
  t.sizes = s.sizes;
  t.strides = s.strides;
  t.offset = s.offset;
  if (t.autograd && t.autograd->grad.defined() && t.autograd->grad.sizes() != t.sizes) {
    t.autograd->grad = Tensor();
  }
  return *this;
}

}  // namespace mnemo
