// Include this LAST in a source file whose arithmetic must round exactly as PyTorch's:
// it stops the compiler from fusing a product and a sum into one fused multiply-add
// where the source does not ask for one, and gives the kernels their fused
// multiply-add and square root.
//
// Why: PyTorch's results depend on which operations its kernels fuse (reference §8), so
// mnemo fuses exactly those, with fused_multiply_add, and must round every other product
// on its own. GCC contracts a*b+c into an fma by default in C++ (-ffp-contract=fast; only
// ISO C modes turn it off) whenever the target has FMA instructions — with -march=native,
// and in the AVX2+FMA builds of the loops (fma_dispatch.h); Clang contracts within one
// expression. Either would change the last bit of an update or an lr. The pragma applies
// to the functions defined after it, so headers included before it are untouched.
//
// The kernels call the helpers below rather than <cmath>'s functions: they are builtins,
// so they become single instructions in the AVX2+FMA loops (fma_dispatch.h).
#pragma once

#include <cmath>

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace mnemo::optim::detail {

#if defined(__GNUC__) || defined(__clang__)
inline float fused_multiply_add(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
inline double fused_multiply_add(double a, double b, double c) { return __builtin_fma(a, b, c); }
inline float square_root(float x) { return __builtin_sqrtf(x); }
inline double square_root(double x) { return __builtin_sqrt(x); }
#else
inline float fused_multiply_add(float a, float b, float c) { return std::fma(a, b, c); }
inline double fused_multiply_add(double a, double b, double c) { return std::fma(a, b, c); }
inline float square_root(float x) { return std::sqrt(x); }
inline double square_root(double x) { return std::sqrt(x); }
#endif

}  // namespace mnemo::optim::detail
