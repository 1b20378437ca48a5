// Low-level dense primitives of the core (GEMM, row softmax, exp): no heap, no exceptions.
#pragma once

#include <cstddef>

namespace gpsa {

// C[m x n] = alpha * op(A) * op(B) + beta * C, row-major, leading dimensions lda/ldb/ldc.
// op(A) is A (m x k) or, with trans_a, A^T where A is stored k x m. Same for B (k x n / n x k).
// beta == 0 ignores C's old contents (NaN/Inf in C do not propagate); k == 0 gives beta * C.
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc) noexcept;

// Numerically stable softmax of each row in place (subtracts the row max, so logits of +-1e4
// neither overflow nor give NaN): `rows` rows of `cols` values, row stride `ld`.
// -inf entries get probability 0. A row that is all -inf (or contains NaN) becomes NaN, as in
// PyTorch.
void softmax_rows(float* x, std::size_t rows, std::size_t cols, std::size_t ld) noexcept;

// out[i] = exp(in[i]) for n values; out may equal in (other overlaps are not allowed).
// Accurate to a few ulp over the float range: underflows to 0 below ~-103.97, +inf above ~88.72,
// exp(-inf) = 0, exp(+inf) = +inf, NaN stays NaN.
void exp_inplace(const float* in, float* out, std::size_t n) noexcept;

// The GEMM implementation compiled in: "portable" or "cblas".
const char* gemm_backend() noexcept;
// The SIMD implementation of exp/softmax in use: "scalar" or the Highway target (e.g. "AVX2").
const char* simd_backend() noexcept;

}  // namespace gpsa
