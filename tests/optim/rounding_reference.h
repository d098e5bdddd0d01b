// A reference for the optimizers' rounding: each helper performs ONE operation of
// PyTorch's kernels and rounds it on its own (through a volatile, so that no compiler
// setting can fuse it with the next one), and fma_f is the one fused operation.
// Tests write PyTorch 1.13's update in these steps (reference §8) and compare bits.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "mnemo/core/tensor.h"
#include "optim/fma_dispatch.h"

namespace mnemo::optim::testing_reference {

template <class T>
T mul_f(T a, T b) {
  volatile T r = a * b;
  return r;
}
template <class T>
T add_f(T a, T b) {
  volatile T r = a + b;
  return r;
}
template <class T>
T div_f(T a, T b) {
  volatile T r = a / b;
  return r;
}
template <class T>
T fma_f(T a, T b, T c) {
  volatile T r = std::fma(a, b, c);
  return r;
}
template <class T>
T sqrt_f(T a) {
  volatile T r = std::sqrt(a);
  return r;
}

// Parameters and gradients with varied signs and magnitudes.
template <class T>
struct Values {
  Values(std::int64_t n, unsigned seed) : n(n), seed(seed) { param = draw(seed); }

  std::vector<T> grad(int step) const {
    return draw(seed * 1000 + 1 + static_cast<unsigned>(step));
  }

  std::vector<T> draw(unsigned s) const {
    std::mt19937 gen(s);
    std::uniform_real_distribution<double> mantissa(-1.0, 1.0);
    std::uniform_int_distribution<int> exponent(-6, 3);
    std::vector<T> out(static_cast<std::size_t>(n));
    for (T& v : out) v = static_cast<T>(std::ldexp(mantissa(gen), exponent(gen)));
    return out;
  }

  Tensor tensor(const std::vector<T>& data) const {
    Tensor t = empty({n}, {.dtype = dtype_of_v<T>});
    std::memcpy(t.mutable_data_ptr(), data.data(), data.size() * sizeof(T));
    return t;
  }

  std::int64_t n;
  unsigned seed;
  std::vector<T> param;
};

// Same bit patterns (so -0.0 and 0.0 differ, and equal NaNs match).
template <class T>
bool bits_equal(const Tensor& t, const std::vector<T>& expected) {
  if (t.numel() != static_cast<std::int64_t>(expected.size())) return false;
  return std::memcmp(t.data<T>(), expected.data(), expected.size() * sizeof(T)) == 0;
}

// While alive, the optimizers run their portable loops instead of the AVX2+FMA ones.
class PortableLoops {
 public:
  explicit PortableLoops(bool on) : saved_(detail::fma_loops_disabled_for_testing()) {
    detail::fma_loops_disabled_for_testing() = on;
  }
  ~PortableLoops() { detail::fma_loops_disabled_for_testing() = saved_; }
  PortableLoops(const PortableLoops&) = delete;
  PortableLoops& operator=(const PortableLoops&) = delete;

 private:
  bool saved_;
};

}  // namespace mnemo::optim::testing_reference
