// The autograd side of core's views, copies and in-place writes (the entry points
// declared in core/tensor_impl.h), and the nodes they record.
//
// Every view core makes (view, reshape, flatten, transpose, permute, t, narrow, slice,
// select, expand, unsqueeze, squeeze, as_strided) is a new geometry over its base's
// storage, so one node serves them all: the gradient of element j of the view belongs
// to the base element at the same storage location. Summing per location handles
// views that repeat elements (expand: stride 0) and views that drop some (select).
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "autograd/accumulate_grad.h"
#include "autograd/function.h"
#include "core/strided_loop.h"
#include "core/tensor_impl.h"

namespace mnemo {
namespace autograd::detail {
namespace {

struct Geometry {
  Shape sizes;
  Shape strides;
  std::int64_t offset = 0;

  explicit Geometry(const Tensor& t)
      : sizes(t.sizes()), strides(t.strides()), offset(t.storage_offset()) {}

  std::int64_t numel() const { return shape_numel(sizes); }
  // Row-major dense, ignoring the strides of size-1 dimensions (Tensor::is_contiguous).
  bool is_dense() const {
    std::int64_t expected = 1;
    for (std::size_t i = sizes.size(); i-- > 0;) {
      if (sizes[i] == 1) continue;
      if (strides[i] != expected) return false;
      expected *= sizes[i];
    }
    return true;
  }
  // One past the largest storage location. REQUIRES: numel() > 0.
  std::int64_t end() const {
    std::int64_t last = offset;
    for (std::size_t i = 0; i < sizes.size(); ++i) last += (sizes[i] - 1) * strides[i];
    return last + 1;
  }
};

// Maps storage locations to the row-major indices of a geometry's elements, when no two
// elements share a location: dimensions sorted by stride must each step over all the
// smaller ones, and then a location splits into indices greedily.
class LocationIndex {
 public:
  explicit LocationIndex(const Geometry& g) : offset_(g.offset) {
    const Shape dense = contiguous_strides(g.sizes);
    for (std::size_t d = 0; d < g.sizes.size(); ++d) {
      if (g.sizes[d] != 1) dims_.push_back({g.sizes[d], g.strides[d], dense[d]});
    }
    std::sort(dims_.begin(), dims_.end(),
              [](const Dim& a, const Dim& b) { return a.stride > b.stride; });
    std::int64_t reach = 0;  // the farthest location the smaller dimensions reach
    for (std::size_t i = dims_.size(); i-- > 0;) {
      if (dims_[i].stride <= reach) unique_ = false;
      reach += (dims_[i].size - 1) * dims_[i].stride;
    }
  }

  bool unique() const { return unique_; }

  // The element at `location`, or -1 when the geometry has none there.
  std::int64_t find(std::int64_t location) const {
    std::int64_t rest = location - offset_;
    if (rest < 0) return -1;
    std::int64_t index = 0;
    for (const Dim& d : dims_) {
      const std::int64_t i = rest / d.stride;
      if (i >= d.size) return -1;
      rest -= i * d.stride;
      index += i * d.dense_stride;
    }
    return rest == 0 ? index : -1;
  }

 private:
  struct Dim {
    std::int64_t size, stride, dense_stride;
  };
  std::int64_t offset_;
  std::vector<Dim> dims_;
  bool unique_ = true;
};

class ViewBackward : public Node {
 public:
  ViewBackward(const char* name, const Tensor& base, const Tensor& view)
      : name_(name), base_(base), view_(view) {}

  std::string name() const override { return name_; }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& grad = grads.at(0);
    if (base_.numel() == 0 || view_.numel() == 0) {
      return {zeros(base_.sizes, {.dtype = grad.dtype()})};
    }
    // The common case — view, reshape and flatten of a dense tensor — is a reshape.
    if (base_.is_dense() && view_.is_dense() && base_.offset == view_.offset &&
        base_.numel() == view_.numel()) {
      return {grad.reshape(base_.sizes)};
    }
    const Tensor g = grad.to(DType::kFloat64);  // sums of repeated elements in double
    const LocationIndex index(base_);
    std::vector<double> sums = index.unique() ? scatter_unique(g, index) : scatter_shared(g);
    Tensor result = empty(base_.sizes, {.dtype = DType::kFloat64});
    std::copy(sums.begin(), sums.end(), result.mutable_data<double>());
    return {result.to(grad.dtype())};
  }

 private:
  // Calls fn(g_value, location) for every element of the view.
  template <class Fn>
  void for_each_view_element(const Tensor& g, Fn fn) const {
    const double* pg = g.data<double>();
    mnemo::detail::for_each_run<2>(view_.sizes, {&g.strides(), &view_.strides}, {0, view_.offset},
                                   [&](const std::array<std::int64_t, 2>& at, std::int64_t n,
                                       const std::array<std::int64_t, 2>& step) {
                                     for (std::int64_t i = 0; i < n; ++i)
                                       fn(pg[at[0] + i * step[0]], at[1] + i * step[1]);
                                   });
  }

  // Each base element has a location of its own: add each view element to its element.
  std::vector<double> scatter_unique(const Tensor& g, const LocationIndex& index) const {
    std::vector<double> sums(static_cast<std::size_t>(base_.numel()), 0.0);
    for_each_view_element(g, [&](double value, std::int64_t location) {
      const std::int64_t i = index.find(location);
      if (i >= 0) sums[static_cast<std::size_t>(i)] += value;
    });
    return sums;
  }

  // The base repeats locations itself (it is an expanded tensor): sum per location, and
  // give each location's sum to the first base element there. Whatever made the base
  // sums its repeated elements again, so any split among them gives the same result.
  std::vector<double> scatter_shared(const Tensor& g) const {
    const std::int64_t low = std::min(base_.offset, view_.offset);
    const std::int64_t high = std::max(base_.end(), view_.end());
    std::vector<double> per_location(static_cast<std::size_t>(high - low), 0.0);
    for_each_view_element(g, [&](double value, std::int64_t location) {
      per_location[static_cast<std::size_t>(location - low)] += value;
    });
    std::vector<double> sums(static_cast<std::size_t>(base_.numel()));
    std::size_t next = 0;
    mnemo::detail::for_each_run<1>(
        base_.sizes, {&base_.strides}, {base_.offset - low},
        [&](const std::array<std::int64_t, 1>& at, std::int64_t n,
            const std::array<std::int64_t, 1>& step) {
          for (std::int64_t i = 0; i < n; ++i) {
            double& slot = per_location[static_cast<std::size_t>(at[0] + i * step[0])];
            sums[next++] = slot;
            slot = 0.0;
          }
        });
    return sums;
  }

  std::string name_;
  Geometry base_;
  Geometry view_;
};

// clone, contiguous and to: the gradient passes through (the engine casts it to the
// source's dtype).
class CopyBackward : public Node {
 public:
  explicit CopyBackward(const char* name) : name_(name) {}
  std::string name() const override { return name_; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    return {std::move(grads.at(0))};
  }

 private:
  std::string name_;
};

bool is_view_of_leaf(const Node& node) {
  if (dynamic_cast<const ViewBackward*>(&node) == nullptr) return false;
  const Edge& base = node.next_edges().at(0);
  return base.is_valid() && dynamic_cast<const AccumulateGrad*>(base.function.get()) != nullptr;
}

}  // namespace
}  // namespace autograd::detail

namespace detail {

void autograd_record_view(const Tensor& base, const Tensor& view, const char* node_name) {
  if (!autograd::GradMode::is_enabled()) return;
  auto node = autograd::make_node<autograd::detail::ViewBackward>(node_name, base, view);
  autograd::detail::record(node, view, base);
}

void autograd_record_copy(const Tensor& source, const Tensor& result, const char* node_name) {
  if (!autograd::GradMode::is_enabled()) return;
  if (!is_floating_point(result.dtype()) && !is_complex(result.dtype())) return;
  auto node = autograd::make_node<autograd::detail::CopyBackward>(node_name);
  autograd::detail::record(node, result, source);
}

// PyTorch refuses every in-place write into a leaf that requires grad while grad mode
// is on. mnemo refuses it only while the leaf is part of a live graph (some recorded
// node leads to its AccumulateGrad): that is when the write would corrupt a backward.
// Writing a fresh parameter (initialisation, tests setting weights) needs no guard.
void autograd_check_inplace(const Tensor& self, const Tensor* source, const char* op) {
  if (!autograd::GradMode::is_enabled()) return;
  const TensorImpl& t = TensorImpl::of(self);
  const AutogradMeta& meta = t.autograd_meta();
  if (t.requires_grad && meta.grad_fn != nullptr) {
    if (autograd::detail::is_view_of_leaf(*meta.grad_fn)) {
      fail(ErrorCode::kInvalidArgument,
           "a view of a leaf Variable that requires grad is being used in an in-place "
           "operation.");
    }
    fail(ErrorCode::kInvalidArgument, op,
         ": the tensor was computed by an operation recorded "
         "for autograd (grad_fn=",
         meta.grad_fn->name(),
         "), and mnemo does not record in-place "
         "operations; compute out of place, or write under NoGradGuard");
  }
  if (t.requires_grad && !meta.grad_accumulator.expired()) {
    fail(ErrorCode::kInvalidArgument,
         "a leaf Variable that requires grad is being used in an in-place operation.");
  }
  if (source != nullptr && source->requires_grad()) {
    fail(ErrorCode::kInvalidArgument, op,
         ": the source requires grad, and mnemo does not "
         "record in-place copies, so its gradient would be lost; use clone() (recorded), copy "
         "from source.detach(), or copy under NoGradGuard");
  }
}

}  // namespace detail
}  // namespace mnemo
