// Matrix products through OpenBLAS, and the test of whether a strided 2-D view can be
// handed to it without a copy. Private to the library.
#pragma once

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "mnemo/core/error.h"

namespace mnemo::detail {

// How BLAS reads a row-major matrix: as stored, or transposed, with leading dimension ld.
struct BlasLayout {
  bool transposed = false;
  std::int64_t ld = 1;
};

// The layout of a rows x cols view with strides (row_stride, col_stride), or nullopt
// when BLAS cannot read it in place (a copy is needed). A dimension of size 1 may
// have any stride.
inline std::optional<BlasLayout> blas_layout(std::int64_t rows, std::int64_t cols,
                                             std::int64_t row_stride, std::int64_t col_stride) {
  if ((cols == 1 || col_stride == 1) &&
      (rows == 1 || row_stride >= std::max<std::int64_t>(1, cols))) {
    return BlasLayout{false, rows == 1 ? std::max<std::int64_t>(1, cols) : row_stride};
  }
  if ((rows == 1 || row_stride == 1) &&
      (cols == 1 || col_stride >= std::max<std::int64_t>(1, rows))) {
    return BlasLayout{true, cols == 1 ? std::max<std::int64_t>(1, rows) : col_stride};
  }
  return std::nullopt;
}

inline int blas_int(std::int64_t value) {
  MNEMO_CHECK(value >= 0 && value <= INT_MAX, "matrix dimension ", value,
              " exceeds what BLAS accepts (", INT_MAX, ")");
  return static_cast<int>(value);
}

// Row-major C (m x n) = A (m x k) * B (k x n) + beta * C, where A and B are read with
// their layouts. REQUIRES: m, n, k > 0.
template <class T>
void gemm(std::int64_t m, std::int64_t n, std::int64_t k, const T* a, BlasLayout la, const T* b,
          BlasLayout lb, T beta, T* c, std::int64_t ldc) {
  const auto ta = la.transposed ? CblasTrans : CblasNoTrans;
  const auto tb = lb.transposed ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, blas_int(m), blas_int(n), blas_int(k), 1.0f, a,
                blas_int(la.ld), b, blas_int(lb.ld), beta, c, blas_int(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, blas_int(m), blas_int(n), blas_int(k), 1.0, a,
                blas_int(la.ld), b, blas_int(lb.ld), beta, c, blas_int(ldc));
  }
}

}  // namespace mnemo::detail
