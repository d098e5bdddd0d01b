// embedding (a row gather) and dropout, with their backward.
#include "mnemo/ops/embedding.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "autograd/function.h"
#include "ops/checks.h"
#include "ops/grad_util.h"
#include "ops/unary_kernel.h"

namespace mnemo {
namespace {

// The gradient of a gather is a scatter-add: row idx[i] of the weight's gradient
// collects row i of the output's, in double, except the padding row.
class EmbeddingBackward : public autograd::Node {
 public:
  EmbeddingBackward(Tensor indices, Shape weight_sizes, std::optional<std::int64_t> padding_idx)
      : indices_(std::move(indices)),
        weight_sizes_(std::move(weight_sizes)),
        padding_idx_(padding_idx) {}

  std::string name() const override { return "EmbeddingBackward0"; }
  bool saves_variables() const override { return true; }
  void release_variables() override { indices_ = Tensor(); }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const std::int64_t rows = weight_sizes_[0], dim = weight_sizes_[1];
    const std::vector<double> g = detail::to_doubles(grads.at(0));
    std::vector<double> sums(static_cast<std::size_t>(rows * dim), 0.0);
    const std::int64_t* idx = indices_.data<std::int64_t>();
    for (std::int64_t i = 0; i < indices_.numel(); ++i) {
      if (padding_idx_ && idx[i] == *padding_idx_) continue;
      double* row = sums.data() + idx[i] * dim;
      const double* src = g.data() + i * dim;
      for (std::int64_t j = 0; j < dim; ++j) row[j] += src[j];
    }
    return {detail::from_doubles(sums, weight_sizes_, grads[0].dtype()), Tensor()};
  }

 private:
  Tensor indices_;  // int64, contiguous, checked in range
  Shape weight_sizes_;
  std::optional<std::int64_t> padding_idx_;
};

// grad * mask, where the mask holds 0 for dropped elements and 1 / (1 - p) for kept ones.
class DropoutBackward : public autograd::Node {
 public:
  explicit DropoutBackward(Tensor mask) : mask_(std::move(mask)) {}

  std::string name() const override { return "NativeDropoutBackward0"; }
  bool saves_variables() const override { return true; }
  void release_variables() override { mask_ = Tensor(); }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads.at(0);
    return {detail::dispatch_floating(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      return detail::map_binary<T>(g, mask_, [](T u, T m) { return u * m; });
    })};
  }

 private:
  Tensor mask_;  // contiguous, the input's dtype and shape
};

}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& indices,
                 std::optional<std::int64_t> padding_idx) {
  detail::check_defined("embedding", weight, "weight");
  detail::check_defined("embedding", indices, "indices");
  detail::check_cpu("embedding", weight, "weight");
  detail::check_cpu("embedding", indices, "indices");
  MNEMO_CHECK(weight.dim() == 2,
              "embedding: weight must be 2-D (num_embeddings, embedding_dim), got ",
              shape_repr(weight.sizes()));
  MNEMO_CHECK(is_integral(indices.dtype(), /*include_bool=*/false),
              "embedding: indices must have an integer dtype (int64 or int32), got ",
              dtype_name(indices.dtype()));
  const std::int64_t rows = weight.size(0), dim = weight.size(1);
  if (padding_idx) {
    MNEMO_CHECK(*padding_idx < rows && *padding_idx >= -rows,
                "embedding: padding_idx must be within num_embeddings (got ", *padding_idx, " for ",
                rows, ")");
    if (*padding_idx < 0) *padding_idx += rows;
  }
  const bool record = autograd::detail::any_requires_grad(weight);
  Tensor index, out;
  {
    NoGradGuard no_grad;  // the copies below are internal; one node is recorded instead
    index = indices.to(DType::kInt64).contiguous();
    Shape out_shape = indices.sizes();
    out_shape.push_back(dim);
    // A gather copies rows as bytes: any dtype works.
    out = empty(out_shape, {.dtype = weight.dtype()});
    const Tensor w = weight.contiguous();
    const std::size_t row_bytes = static_cast<std::size_t>(dim) * w.element_size();
    const auto* src = static_cast<const std::byte*>(w.data_ptr());
    auto* dst = static_cast<std::byte*>(out.mutable_data_ptr());
    const std::int64_t* idx = index.data<std::int64_t>();
    for (std::int64_t i = 0; i < index.numel(); ++i) {
      const std::int64_t row = idx[i];
      MNEMO_CHECK(row >= 0 && row < rows, "embedding: index ", row, " is out of range for ", rows,
                  " embeddings (valid indices are 0 to ", rows - 1, ")");
      if (row_bytes > 0) {
        std::memcpy(dst + static_cast<std::size_t>(i) * row_bytes,
                    src + static_cast<std::size_t>(row) * row_bytes, row_bytes);
      }
    }
  }
  if (record) {
    // The caller's index tensor may change after this call; backward keeps its own.
    if (index.is_same(indices)) index = index.clone();
    autograd::detail::record(
        autograd::make_node<EmbeddingBackward>(index, weight.sizes(), padding_idx), out, weight,
        indices);
  }
  return out;
}

Tensor dropout(const Tensor& input, double p, bool training, Generator* generator) {
  detail::check_float_input("dropout", input);
  MNEMO_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability has to be between 0 and 1, but got ", p);
  if (!training || p == 0.0) return input;
  const bool record = autograd::detail::any_requires_grad(input);
  Tensor out, mask;
  {
    NoGradGuard no_grad;
    if (p == 1.0) {
      out = zeros(input.sizes(), {.dtype = input.dtype()});
      mask = zeros(input.sizes(), {.dtype = input.dtype()});
    } else {
      Generator& gen = generator != nullptr ? *generator : default_generator();
      // One uniform draw per element, in the output's row-major order, so that a seeded
      // generator gives the same mask whatever the input's strides.
      const Tensor x = input.contiguous();
      out = empty(x.sizes(), {.dtype = x.dtype()});
      if (record) mask = empty(x.sizes(), {.dtype = x.dtype()});
      detail::dispatch_floating(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T scale = static_cast<T>(1.0 / (1.0 - p));
        const T* px = x.data<T>();
        T* po = out.mutable_data<T>();
        T* pm = record ? mask.mutable_data<T>() : nullptr;
        for (std::int64_t i = 0; i < x.numel(); ++i) {
          const bool keep = !(gen.uniform_double() < p);
          po[i] = keep ? px[i] * scale : T{0};
          if (pm != nullptr) pm[i] = keep ? scale : T{0};
        }
      });
    }
  }
  if (record) autograd::detail::record(autograd::make_node<DropoutBackward>(mask), out, input);
  return out;
}

}  // namespace mnemo
