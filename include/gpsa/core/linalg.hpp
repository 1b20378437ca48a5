// SPDX-License-Identifier: MIT
// Dense primitives of gpsa::core (GEMM, pre-packed GEMM, row softmax, exp): no heap, no exceptions.
//
// Each returns a [[nodiscard]] gpsa::status after checking its arguments (a null pointer with
// work to do, a leading dimension shorter than its row, a bad executor: invalid_argument; a
// short buffer: buffer_too_small); the core's own hot paths call unchecked internals instead.
// Strided matrices are a pointer plus a leading dimension, their extents given as dims; flat
// buffers are spans.
#pragma once

#include <cstddef>
#include <span>

#include "gpsa/core/types.hpp"

namespace gpsa {

// C[m x n] = alpha * op(A) * op(B) + beta * C, row-major, leading dimensions lda/ldb/ldc.
// op(A) is A (m x k) or, with trans_a, A^T where A is stored k x m. Same for B (k x n / n x k).
// beta == 0 ignores C's old contents (NaN/Inf in C do not propagate); k == 0 gives beta * C.
//
// Deterministic by construction: each C element is summed in an order fixed by k alone (K in
// equal blocks of at most 192, 128 in the portable build, each an in-order FMA chain), so the
// bits do not depend on m, n, which part of C a call computes, the executor's worker count,
// environment variables, or (among targets with FMA: AVX2, AVX-512) the SIMD target. Subnormal
// inputs and results count as 0 inside the call (x86: MXCSR flush-to-zero, the caller's mode
// restored on return), which spares ~100-cycle microcode assists per operation on tiny values. gemm
// starts no thread and allocates nothing; it keeps one packed panel of op(B) on the stack: 36 KB
// (192 x 48 floats) in a SIMD build, 128 x 3 vectors of the compile flags in the portable one (3 KB
// on a scalar FPU).
//
// ex: null, or C split over the executor's workers in column units of 16 (or row blocks of 8
// when C is narrower than the worker count); bit-identical to the serial call for any worker
// count and schedule; each worker uses its own stack for packing. Call it from outside the
// executor's tasks (a pool that runs one parallel_for at a time, like
// gpsa::thread_pool_executor, would wait on itself).
status gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
            const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
            std::size_t ldc, const executor* ex = nullptr) noexcept;

// op(B) packed once for many products (constant weights, e.g. x W^T with trans_b): the packing
// gemm does on every call for every block of A's rows, done ahead. The layout is the build's (it
// does not depend on the SIMD target the CPU runs). gemm_packed gives exactly gemm's bits.
// Size in floats of the packed op(B) (k x n): k times n rounded up to whole panels (48 columns
// in a SIMD build); size_overflow if too big.
status gemm_packed_b_size(std::size_t k, std::size_t n, std::size_t& floats) noexcept;
// Packs op(B) (B stored k x n, or n x k with trans_b) into `packed` (>= gemm_packed_b_size).
// buffer_too_small / invalid_argument (null b with k, n > 0) / size_overflow.
status gemm_pack_b(bool trans_b, std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                   std::span<float> packed) noexcept;
// C = alpha * op(A) * B + beta * C with B from gemm_pack_b (same k and n; packed_b at least
// gemm_packed_b_size floats, else buffer_too_small); ex as in gemm (C is split in whole panels).
status gemm_packed(bool trans_a, std::size_t m, std::size_t n, std::size_t k, float alpha,
                   const float* a, std::size_t lda, std::span<const float> packed_b, float beta,
                   float* c, std::size_t ldc, const executor* ex = nullptr) noexcept;

// Numerically stable softmax of each row in place (subtracts the row max, so logits of +-1e4
// neither overflow nor give NaN): `rows` rows of `cols` values, row stride `ld` (>= cols).
// -inf entries get probability 0; probabilities below FLT_MIN (~1.2e-38) are flushed to 0, so
// products with them never meet subnormal numbers. A row that is all -inf (or contains NaN)
// becomes NaN, as in PyTorch. The row sum is taken in 16 partials added in a fixed order, so
// the bits do not depend on the vector width (AVX2 and AVX-512 agree).
status softmax_rows(std::size_t rows, std::size_t cols, float* x, std::size_t ld) noexcept;

// out[i] = exp(in[i]) for every value; in and out have the same length (shape_mismatch) and out
// may be in itself (other overlaps are not allowed). Accurate to a few ulp over the float range:
// underflows to 0 below ~-103.97, +inf above ~88.72, exp(-inf) = 0, exp(+inf) = +inf, NaN stays
// NaN.
status exp_values(std::span<const float> in, std::span<float> out) noexcept;

// The GEMM implementation compiled in: "blocked-highway" or "blocked-portable" (gpsa's own
// cache-blocked GEMM with Highway or plain C++ kernels).
const char* gemm_backend() noexcept;
// The SIMD target the kernels dispatch to: "scalar" (no Highway) or the Highway target (e.g.
// "AVX2", "AVX3").
const char* simd_backend() noexcept;

}  // namespace gpsa
