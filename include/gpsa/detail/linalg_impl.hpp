// Internal entry points of gpsa/linalg.hpp's backends, exposed so tests cover every one in any
// build.
#pragma once

#include <cstddef>

namespace gpsa::detail {

// The blocked GEMM used when no CBLAS is linked: Highway-vectorised when GPSA_SIMD is on,
// else the scalar kernel below. Same contract as gpsa::gemm.
void gemm_blocked(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k,
                  float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb,
                  float beta, float* c, std::size_t ldc) noexcept;

// The plain-C++ blocked GEMM (firmware path; vectorised only by the compiler's own flags).
void gemm_blocked_scalar(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k,
                         float alpha, const float* a, std::size_t lda, const float* b,
                         std::size_t ldb, float beta, float* c, std::size_t ldc) noexcept;

// Scalar exp and softmax (firmware path), same contracts as gpsa::exp_inplace / softmax_rows.
void exp_scalar(const float* in, float* out, std::size_t n) noexcept;
void softmax_rows_scalar(float* x, std::size_t rows, std::size_t cols, std::size_t ld) noexcept;

}  // namespace gpsa::detail
