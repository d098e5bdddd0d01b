// convert_element<To>(from): the element conversion rules documented in dtype.h.
// Included by dtype.h; not meant to be included on its own.
#pragma once

#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "mnemo/core/float8.h"
#include "mnemo/core/half.h"

namespace mnemo {
namespace detail {

template <class T> struct is_complex_t : std::false_type {};
template <class T> struct is_complex_t<std::complex<T>> : std::true_type {};
// The floats narrower than float, stored as bit patterns and converted through float.
template <class T> inline constexpr bool is_reduced_float_v =
    std::is_same_v<T, Half> || std::is_same_v<T, BFloat16> || std::is_same_v<T, Float8E4M3FN> ||
    std::is_same_v<T, Float8E5M2>;

// A real value in the widest type that holds it exactly: double, an integer type or bool.
template <class From>
auto widen_real(From value) {
  if constexpr (is_complex_t<From>::value) {
    return static_cast<double>(value.real());
  } else if constexpr (is_reduced_float_v<From>) {
    return static_cast<double>(static_cast<float>(value));
  } else {
    return value;
  }
}

template <class Int, class Float>
Int float_to_int(Float value) {
  if (std::isnan(value)) return 0;
  // Compare in long double (64-bit mantissa on x86) so the bounds are exact.
  const long double v = std::trunc(static_cast<long double>(value));
  if (v <= static_cast<long double>(std::numeric_limits<Int>::min())) {
    return std::numeric_limits<Int>::min();
  }
  if (v >= static_cast<long double>(std::numeric_limits<Int>::max())) {
    return std::numeric_limits<Int>::max();
  }
  return static_cast<Int>(v);
}

}  // namespace detail

template <class To, class From>
To convert_element(From value) {
  using detail::is_complex_t;
  if constexpr (std::is_same_v<To, From>) {
    return value;
  } else if constexpr (std::is_same_v<To, bool>) {
    if constexpr (is_complex_t<From>::value) {
      return value.real() != 0 || value.imag() != 0;
    } else if constexpr (detail::is_reduced_float_v<From>) {
      return static_cast<float>(value) != 0.0f;
    } else {
      return value != From{};
    }
  } else if constexpr (is_complex_t<To>::value) {
    using Part = typename To::value_type;
    if constexpr (is_complex_t<From>::value) {
      return To(static_cast<Part>(value.real()), static_cast<Part>(value.imag()));
    } else {
      return To(convert_element<Part>(value), Part{0});
    }
  } else if constexpr (detail::is_reduced_float_v<To>) {
    // Through float, as PyTorch converts (double rounding from double included).
    return To(convert_element<float>(value));
  } else if constexpr (std::is_floating_point_v<To>) {
    return static_cast<To>(detail::widen_real(value));
  } else {  // an integer type
    auto wide = detail::widen_real(value);
    if constexpr (std::is_floating_point_v<decltype(wide)>) {
      return detail::float_to_int<To>(wide);
    } else {
      return static_cast<To>(wide);  // modular for integers, as PyTorch
    }
  }
}

}  // namespace mnemo
