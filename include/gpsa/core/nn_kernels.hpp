// SPDX-License-Identifier: MIT
// Generic neural-network kernels of gpsa::core (exact GELU, LayerNorm): no heap, no exceptions.
//
// Conventions as gpsa/core/linalg.hpp: a [[nodiscard]] gpsa::status after checking the
// arguments; strided rows are a pointer plus a leading dimension, flat buffers are spans.
#pragma once

#include <cstddef>
#include <span>

#include "gpsa/core/types.hpp"

namespace gpsa {

// The exact GELU PyTorch's nn.GELU() computes, 0.5 x (1 + erf(x / sqrt 2)), in place, with a
// vectorisable erf (rational approximation, max |error| 3.7e-7 in float against the exact erf;
// tools/fit_erf.py derives its coefficients). invalid_argument for a null non-empty span.
status gelu_inplace(std::span<float> x) noexcept;

// LayerNorm of `rows` rows of `dim` values: y = (x - mean) / sqrt(var + eps) * weight + bias,
// biased variance; weight and bias hold dim floats or are empty (1 and 0; shape_mismatch for
// another length). x and y are strided rows (ldx, ldy >= dim; y may equal x). Two passes (mean,
// then squared deviations): in double in the portable build, in float on values shifted by the
// row's first element otherwise, in 32 partial sums whatever the vector width (AVX2 and AVX-512
// give the same bytes, docs/DESIGN.md §8); both stay within a few float ulps of the float64
// result, also for rows whose mean is far larger than their spread. invalid_argument for a null
// x or y with rows > 0, a short stride, or eps that is not a finite value >= 0.
status layer_norm_rows(std::size_t rows, std::size_t dim, std::span<const float> weight,
                       std::span<const float> bias, float eps, const float* x, std::size_t ldx,
                       float* y, std::size_t ldy) noexcept;

}  // namespace gpsa
