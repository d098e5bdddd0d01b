// Runs an optimizer's loops with hardware fused multiply-add where the CPU has it.
//
// The updates fuse exactly where PyTorch fuses. Built for a baseline x86-64 target (no
// -march), each fused multiply-add is a call into libm: correct, but it keeps the loop
// from vectorizing (about 13 ns per element). So each loop is also compiled for AVX2+FMA
// and chosen at run time; a fused multiply-add is then one instruction and the loop
// vectorizes. The results are the same bits either way: an fma and a square root are
// exactly rounded however they are computed, and strict_fp.h keeps the compiler from
// fusing anything else.
#pragma once

#include <cstdint>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MNEMO_OPTIM_HAVE_FMA_CLONE 1
#define MNEMO_OPTIM_FMA_TARGET __attribute__((target("avx2,fma")))
#define MNEMO_OPTIM_INLINE inline __attribute__((always_inline))
#else
#define MNEMO_OPTIM_HAVE_FMA_CLONE 0
#define MNEMO_OPTIM_FMA_TARGET
#define MNEMO_OPTIM_INLINE inline
#endif

namespace mnemo::optim::detail {

// Tests turn the AVX2+FMA loops off to check the portable ones on the same machine.
inline bool& fma_loops_disabled_for_testing() {
  static bool disabled = false;
  return disabled;
}

// Whether the AVX2+FMA build of a loop may run here.
inline bool use_fma_loops() {
#if MNEMO_OPTIM_HAVE_FMA_CLONE
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has && !fma_loops_disabled_for_testing();
#else
  return false;
#endif
}

#if MNEMO_OPTIM_HAVE_FMA_CLONE
// Square roots of a block, in place, eight or four at a time. GCC does not vectorize
// std::sqrt by itself while it may have to set errno (and -fno-math-errno cannot be set
// for one file); the instruction's result is the correctly rounded root either way.
MNEMO_OPTIM_FMA_TARGET inline void sqrt_in_place(float* x, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_sqrt_ps(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) _mm_store_ss(x + i, _mm_sqrt_ss(_mm_load_ss(x + i)));
}
MNEMO_OPTIM_FMA_TARGET inline void sqrt_in_place(double* x, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 4 <= n; i += 4) _mm256_storeu_pd(x + i, _mm256_sqrt_pd(_mm256_loadu_pd(x + i)));
  for (; i < n; ++i) _mm_store_sd(x + i, _mm_sqrt_sd(_mm_setzero_pd(), _mm_load_sd(x + i)));
}
#endif

}  // namespace mnemo::optim::detail
