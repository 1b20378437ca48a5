// SPDX-License-Identifier: MIT
// Core-private: gpsa::gelu_inplace and gpsa::layer_norm_rows without their argument checks
// (nn_kernels.cpp), for the core's hot paths (the linear layer's epilogue, the model's
// LayerNorms) whose arguments are checked once at their own entry points.
#pragma once

#include <cstddef>

namespace gpsa::detail {

void gelu_unchecked(float* x, std::size_t n) noexcept;
// weight / bias may be null (1 / 0).
void layer_norm_unchecked(std::size_t rows, std::size_t dim, const float* weight, const float* bias,
                          float eps, const float* x, std::size_t ldx, float* y,
                          std::size_t ldy) noexcept;

}  // namespace gpsa::detail
