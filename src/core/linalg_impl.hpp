// SPDX-License-Identifier: MIT
// Core-private entry points behind gpsa/core/linalg.hpp: the portable kernels and the SIMD target
// controls, exposed so the tests and benchmarks cover every backend and target in any build.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gpsa/core/types.hpp"

namespace gpsa::detail {

// gpsa::gemm and gpsa::softmax_rows without the argument checks: for the core's own hot paths,
// whose arguments are checked once by the public entry point that calls them.
void gemm_unchecked(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k,
                    float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb,
                    float beta, float* c, std::size_t ldc, const executor* ex = nullptr) noexcept;
void softmax_rows_unchecked(std::size_t rows, std::size_t cols, float* x, std::size_t ld) noexcept;

// The plain-C++ blocked GEMM (the firmware path, vectorised only by the compiler's own flags).
// Same contract and the same K blocking as gpsa::gemm.
void gemm_blocked_scalar(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k,
                         float alpha, const float* a, std::size_t lda, const float* b,
                         std::size_t ldb, float beta, float* c, std::size_t ldc) noexcept;

// Scalar exp and softmax (firmware path), same contracts as gpsa::exp_values / softmax_rows.
void exp_scalar(const float* in, float* out, std::size_t n) noexcept;
void softmax_rows_scalar(float* x, std::size_t rows, std::size_t cols, std::size_t ld) noexcept;

// The unnormalised softmax: each row of x becomes exp(x - rowmax) (values below FLT_MIN flushed
// to 0, as softmax_rows does) and sums[i] receives row i's sum, added in softmax_rows' fixed
// order; dividing row i by sums[i] gives softmax_rows' probabilities. Lets a caller fold the
// 1 / sum into a later, smaller product (the attention's rows of attn @ v).
void exp_rows(float* x, std::size_t rows, std::size_t cols, std::size_t ld, float* sums) noexcept;
void exp_rows_scalar(float* x, std::size_t rows, std::size_t cols, std::size_t ld,
                     float* sums) noexcept;

// SIMD targets this build compiled that this CPU runs, best first (Highway names: "AVX3",
// "AVX2", "SSE4", ..., "EMU128"); a build without Highway has one, "scalar".
std::size_t simd_target_count() noexcept;
const char* simd_target_name(std::size_t index) noexcept;
// Makes every later dispatch use target `index` (< simd_target_count()); an index past the end
// restores the automatic choice. For tests and benchmarks: not safe while other threads run
// gpsa kernels.
void simd_target_select(std::size_t index) noexcept;

// A register-only FMA loop on the dispatched target (no memory traffic): `iterations` rounds of
// fma_peak_flops_per_iteration() floating-point operations. Returns a value derived from the
// accumulators so the loop cannot be dropped.
float fma_peak(std::size_t iterations) noexcept;
std::size_t fma_peak_flops_per_iteration() noexcept;

}  // namespace gpsa::detail
