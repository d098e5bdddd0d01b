// Functions that make new tensors.
#include <cmath>

#include "core/tensor_impl.h"
#include "mnemo/core/generator.h"

namespace mnemo {
namespace {

std::size_t byte_size(const Shape& sizes, DType dtype) {
  const std::int64_t numel = shape_numel(sizes);
  std::size_t nbytes = 0;
  MNEMO_CHECK(!__builtin_mul_overflow(static_cast<std::size_t>(numel), element_size(dtype),
                                      &nbytes),
              "a tensor of shape ", shape_repr(sizes), " and dtype ", dtype_name(dtype),
              " has more bytes than memory can address");
  return nbytes;
}

Tensor over(Storage storage, const Shape& sizes, TensorOptions options) {
  Tensor result(std::move(storage), options.dtype, sizes, contiguous_strides(sizes), 0);
  if (options.requires_grad) result.set_requires_grad(true);
  return result;
}

// Fills a floating tensor by drawing floats or doubles and converting.
template <class Draw>
Tensor random_tensor(const Shape& sizes, TensorOptions options, Draw draw, const char* name) {
  MNEMO_CHECK(is_floating_point(options.dtype), name, " needs a floating point dtype, got ",
              dtype_name(options.dtype));
  Tensor result = empty(sizes, {.dtype = options.dtype, .device = options.device});
  const std::size_t n = static_cast<std::size_t>(result.numel());
  if (options.dtype == DType::kFloat64) {
    draw(std::span<double>(result.mutable_data<double>(), n));
  } else if (options.dtype == DType::kFloat32) {
    draw(std::span<float>(result.mutable_data<float>(), n));
  } else {
    std::vector<float> values(n);
    draw(std::span<float>(values));
    convert_elements(values.data(), DType::kFloat32, result.mutable_data_ptr(), options.dtype, n);
  }
  if (options.requires_grad) result.set_requires_grad(true);
  return result;
}

}  // namespace

Tensor empty(const Shape& sizes, TensorOptions options) {
  return over(Storage::allocate(byte_size(sizes, options.dtype), options.device), sizes, options);
}

Tensor zeros(const Shape& sizes, TensorOptions options) {
  return over(Storage::allocate_zeroed(byte_size(sizes, options.dtype), options.device), sizes,
              options);
}

Tensor ones(const Shape& sizes, TensorOptions options) { return full(sizes, 1.0, options); }

Tensor full(const Shape& sizes, double value, TensorOptions options) {
  Tensor result = empty(sizes, options);
  result.fill_(value);
  return result;
}

Tensor arange(std::int64_t end, TensorOptions options) {
  MNEMO_CHECK(end >= 0, "arange: upper bound ", end, " must be >= 0");
  Tensor values = empty({end}, {.dtype = DType::kInt64});
  std::int64_t* out = values.mutable_data<std::int64_t>();
  for (std::int64_t i = 0; i < end; ++i) out[i] = i;
  Tensor result = values.to(options.dtype);
  if (options.requires_grad) result.set_requires_grad(true);
  return result;
}

Tensor arange(double start, double end, double step, TensorOptions options) {
  MNEMO_CHECK(step != 0 && std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
              "arange: invalid range [", start, ", ", end, ") with step ", step);
  MNEMO_CHECK((step > 0) == (end >= start) || end == start,
              "arange: upper bound and lower bound inconsistent with step sign");
  const double count = std::ceil((end - start) / step);
  MNEMO_CHECK(count < 9.0e18, "arange: too many elements (", count, ")");
  const std::int64_t n = static_cast<std::int64_t>(std::max(count, 0.0));
  Tensor values = empty({n}, {.dtype = DType::kFloat64});
  double* out = values.mutable_data<double>();
  for (std::int64_t i = 0; i < n; ++i) out[i] = start + static_cast<double>(i) * step;
  Tensor result = values.to(options.dtype);
  if (options.requires_grad) result.set_requires_grad(true);
  return result;
}

Tensor rand(const Shape& sizes, TensorOptions options, Generator* generator) {
  Generator& gen = generator ? *generator : default_generator();
  if (options.dtype == DType::kFloat16 || options.dtype == DType::kBFloat16) {
    // A float draw rounded to 11 (or 8) significant bits can become exactly 1. Draw on
    // the dtype's own grid, k / 2^bits, which every value of [0, 1) there can hold.
    const int bits = options.dtype == DType::kFloat16 ? 11 : 8;
    return random_tensor(
        sizes, options,
        [&](auto out) {
          for (auto& v : out) {
            v = std::ldexp(static_cast<float>(gen.next_u32() >> (32 - bits)), -bits);
          }
        },
        "rand");
  }
  return random_tensor(sizes, options, [&](auto out) { gen.fill_uniform(out, 0, 1); }, "rand");
}

Tensor randn(const Shape& sizes, TensorOptions options, Generator* generator) {
  Generator& gen = generator ? *generator : default_generator();
  return random_tensor(sizes, options, [&](auto out) { gen.fill_normal(out, 0.0, 1.0); }, "randn");
}

Tensor from_blob(void* data, const Shape& sizes, DType dtype, std::function<void(void*)> deleter) {
  return over(Storage::from_foreign(data, byte_size(sizes, dtype), std::move(deleter)), sizes,
              {.dtype = dtype});
}

}  // namespace mnemo
