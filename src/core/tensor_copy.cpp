// Tensor operations that read or write every element: copies, casts, fills, comparisons.
#include <cmath>
#include <complex>
#include <cstring>

#include "core/strided_loop.h"
#include "core/tensor_impl.h"

namespace mnemo {
namespace {

const std::byte* base_bytes(const Tensor& t) { return t.storage().data(); }

// True when the bytes two tensors may touch overlap (a conservative test on ranges).
bool may_overlap(const Tensor& a, const Tensor& b) {
  if (a.numel() == 0 || b.numel() == 0) return false;
  const std::byte* a_data = base_bytes(a);
  const std::byte* b_data = base_bytes(b);
  auto extent = [](const Tensor& t) {
    std::int64_t last = t.storage_offset();
    for (std::int64_t d = 0; d < t.dim(); ++d) last += (t.size(d) - 1) * t.stride(d);
    return std::pair<std::int64_t, std::int64_t>(
        t.storage_offset() * static_cast<std::int64_t>(t.element_size()),
        (last + 1) * static_cast<std::int64_t>(t.element_size()));
  };
  auto [a_begin, a_end] = extent(a);
  auto [b_begin, b_end] = extent(b);
  const std::byte* a_lo = a_data + a_begin;
  const std::byte* b_lo = b_data + b_begin;
  return a_lo < b_data + b_end && b_lo < a_data + a_end;
}

// copy_ without autograd's checks, for the copies core makes itself (clone, to), which
// record their own node.
void copy_into(const Tensor& dst, const Tensor& src_in) {
  MNEMO_CHECK(src_in.defined(), "copy_ from an undefined tensor");
  void* dst_base = dst.mutable_data_ptr();  // refuses read-only storage before any work
  if (src_in.is_same(dst) || dst.numel() == 0) return;

  // The expanded view is internal: it must not join the graph.
  Tensor src = (src_in.requires_grad() ? src_in.detach() : src_in).expand(dst.sizes());
  if (may_overlap(dst, src)) {
    const bool identical = base_bytes(dst) == base_bytes(src) &&
                           dst.storage_offset() == src.storage_offset() &&
                           dst.strides() == src.strides() && dst.dtype() == src.dtype();
    if (identical) return;
    src = src.clone();
  }

  if (dst.is_contiguous() && src.is_contiguous()) {
    convert_elements(src.data_ptr(), src.dtype(), dst_base, dst.dtype(),
                     static_cast<std::size_t>(dst.numel()));
    return;
  }
  const DType dst_dtype = dst.dtype();
  visit_dtype(src.dtype(), [&](auto src_tag) {
    using From = decltype(src_tag);
    visit_dtype(dst_dtype, [&](auto dst_tag) {
      using To = decltype(dst_tag);
      const void* in = src.data_ptr();
      To* out = static_cast<To*>(dst_base);
      detail::for_each_run<2>(
          dst.sizes(), {&dst.strides(), &src.strides()}, {0, 0},
          [&](const std::array<std::int64_t, 2>& at, std::int64_t count,
              const std::array<std::int64_t, 2>& step) {
            for (std::int64_t i = 0; i < count; ++i) {
              out[at[0] + i * step[0]] =
                  convert_element<To>(detail::load_element<From>(in, at[1] + i * step[1]));
            }
          });
    });
  });
}

}  // namespace

const Tensor& Tensor::copy_(const Tensor& src) const {
  MNEMO_CHECK(src.defined(), "copy_ from an undefined tensor");
  detail::autograd_check_inplace(*this, &src, "copy_");
  copy_into(*this, src);
  return *this;
}

const Tensor& Tensor::fill_(double value) const {
  void* base = mutable_data_ptr();
  detail::autograd_check_inplace(*this, nullptr, "fill_");
  visit_dtype(dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T filled = convert_element<T>(value);
    T* out = static_cast<T*>(base);
    detail::for_each_run<1>(sizes(), {&strides()}, {0},
                            [&](const std::array<std::int64_t, 1>& at, std::int64_t count,
                                const std::array<std::int64_t, 1>& step) {
                              for (std::int64_t i = 0; i < count; ++i) {
                                out[at[0] + i * step[0]] = filled;
                              }
                            });
  });
  return *this;
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  Tensor result = empty(sizes(), {.dtype = dtype(), .device = device()});
  copy_into(result, *this);
  if (requires_grad()) detail::autograd_record_copy(*this, result, "CloneBackward0");
  return result;
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor result = empty(sizes(), {.dtype = target, .device = device()});
  copy_into(result, *this);
  if (requires_grad()) detail::autograd_record_copy(*this, result, "ToCopyBackward0");
  return result;
}

bool Tensor::equal(const Tensor& other) const {
  if (dtype() != other.dtype() || sizes() != other.sizes()) return false;
  bool same = true;
  visit_dtype(dtype(), [&](auto tag) {
    using T = decltype(tag);
    const void* a = data_ptr();
    const void* b = other.data_ptr();
    detail::for_each_run<2>(sizes(), {&strides(), &other.strides()}, {0, 0},
                            [&](const std::array<std::int64_t, 2>& at, std::int64_t count,
                                const std::array<std::int64_t, 2>& step) {
                              for (std::int64_t i = 0; i < count && same; ++i) {
                                auto x = detail::load_element<T>(a, at[0] + i * step[0]);
                                auto y = detail::load_element<T>(b, at[1] + i * step[1]);
                                if constexpr (std::is_same_v<T, Half> ||
                                              std::is_same_v<T, BFloat16>) {
                                  same = static_cast<float>(x) == static_cast<float>(y);
                                } else {
                                  same = x == y;
                                }
                              }
                            });
  });
  return same;
}

bool Tensor::allclose(const Tensor& other, double rtol, double atol, bool equal_nan) const {
  MNEMO_CHECK(sizes() == other.sizes(), "allclose: shapes differ: ", shape_repr(sizes()),
              " vs ", shape_repr(other.sizes()));
  // Compare in complex<double>, which holds every element type exactly enough.
  Tensor a = to(DType::kComplex128).contiguous();
  Tensor b = other.to(DType::kComplex128).contiguous();
  const auto* x = a.data<std::complex<double>>();
  const auto* y = b.data<std::complex<double>>();
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const bool x_nan = std::isnan(x[i].real()) || std::isnan(x[i].imag());
    const bool y_nan = std::isnan(y[i].real()) || std::isnan(y[i].imag());
    if (x_nan || y_nan) {
      if (equal_nan && x_nan && y_nan) continue;
      return false;
    }
    if (x[i] == y[i]) continue;  // equal infinities included
    // Otherwise an infinity is close to nothing; the tolerance below would be infinite
    // too (inf <= inf), so it must be ruled out first.
    const bool x_finite = std::isfinite(x[i].real()) && std::isfinite(x[i].imag());
    const bool y_finite = std::isfinite(y[i].real()) && std::isfinite(y[i].imag());
    if (!x_finite || !y_finite) return false;
    const double diff = std::abs(x[i] - y[i]);
    if (!(diff <= atol + rtol * std::abs(y[i]))) return false;
  }
  return true;
}

}  // namespace mnemo
