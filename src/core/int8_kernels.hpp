// SPDX-License-Identifier: MIT
// Core-private: the int8 inner-product backends behind gpsa/core/int8.hpp, exposed so the tests
// (and the Cortex-M4 image that compares them) run each one in any build.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gpsa::detail {

// c (m x n) = x (m x k) w (n x k)^T in int32, rows contiguous; unchecked (k <= int8_max_in).
// The portable code: plain C++ multiply-accumulates, two rows by two columns at a time.
void int8_gemm_portable(std::size_t m, std::size_t n, std::size_t k, const std::int8_t* x,
                        const std::int8_t* w, std::int32_t* c) noexcept;

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#define GPSA_HAVE_INT8_DSP 1
// The same product with the Arm DSP extension: four int8 of each operand per 32-bit load,
// widened by SXTB16 (bytes 0, 2 and, rotated, 1, 3) and accumulated by SMLAD. Same bits.
void int8_gemm_dsp(std::size_t m, std::size_t n, std::size_t k, const std::int8_t* x,
                   const std::int8_t* w, std::int32_t* c) noexcept;
#endif

}  // namespace gpsa::detail
