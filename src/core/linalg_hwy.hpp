// SPDX-License-Identifier: MIT
// Core-private: the Highway entry points (linalg_hwy.cpp) behind gpsa/core/linalg.hpp.
#pragma once

#include <cstddef>

#include "gemm_blocked.hpp"

namespace gpsa::detail {

void hwy_exp(const float* in, float* out, std::size_t n) noexcept;
void hwy_softmax_rows(float* x, std::size_t rows, std::size_t cols, std::size_t ld) noexcept;
void hwy_exp_rows(float* x, std::size_t rows, std::size_t cols, std::size_t ld,
                  float* sums) noexcept;
void hwy_gemm(const gemm_problem& g, const gemm_b_source& src) noexcept;
// The gemm_pack_b layout (gemm_blocked.hpp) of op(B), k x n.
void hwy_pack_b(bool trans_b, std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                float* out) noexcept;
const char* hwy_target_name() noexcept;

}  // namespace gpsa::detail
