// embedding (a row gather) and dropout.
#include "mnemo/ops/embedding.h"

#include <cstdint>
#include <cstring>

#include "ops/checks.h"
#include "ops/unary_kernel.h"

namespace mnemo {

Tensor embedding(const Tensor& weight, const Tensor& indices) {
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
  const Tensor index = indices.to(DType::kInt64).contiguous();
  Shape out_shape = indices.sizes();
  out_shape.push_back(dim);
  // A gather copies rows as bytes: any dtype works.
  Tensor out = empty(out_shape, {.dtype = weight.dtype()});
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
  return out;
}

Tensor dropout(const Tensor& input, double p, bool training, Generator* generator) {
  detail::check_float_input("dropout", input);
  MNEMO_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability has to be between 0 and 1, but got ", p);
  if (!training || p == 0.0) return input;
  if (p == 1.0) return zeros(input.sizes(), {.dtype = input.dtype()});
  Generator& gen = generator != nullptr ? *generator : default_generator();
  // One uniform draw per element, in the output's row-major order, so that a seeded
  // generator gives the same mask whatever the input's strides.
  const Tensor x = input.contiguous();
  return detail::dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T scale = static_cast<T>(1.0 / (1.0 - p));
    return detail::map_unary<T>(x, [&](T v) {
      const double u = gen.uniform_double();
      return u < p ? T{0} : v * scale;
    });
  });
}

}  // namespace mnemo
