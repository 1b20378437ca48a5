// SPDX-License-Identifier: MIT
// Generic NN kernels (gpsa/core/nn_kernels.hpp): the exact GELU and LayerNorm, Highway-dispatched
// (nn_kernels_hwy.cpp) or plain C++ (the portable build).
#include "gpsa/core/nn_kernels.hpp"

#include <cstddef>
#include <span>

#include "gpsa/detail/constexpr_math.hpp"
#include "nn_kernels_hwy.hpp"
#include "nn_kernels_impl.hpp"

namespace gpsa {
namespace detail {

void gelu_unchecked(float* x, std::size_t n) noexcept {
#if defined(GPSA_HAVE_HWY)
  hwy_gelu(x, n);
#else
  gelu_rational(x, n);
#endif
}

void layer_norm_unchecked(std::size_t rows, std::size_t dim, const float* weight, const float* bias,
                          float eps, const float* x, std::size_t ldx, float* y,
                          std::size_t ldy) noexcept {
  if (dim == 0) return;
#if defined(GPSA_HAVE_HWY)
  hwy_layer_norm(x, rows, dim, ldx, weight, bias, eps, y, ldy);
#elif defined(__ARM_FP) && !(__ARM_FP & 8)
  // An FPU without double precision (Cortex-M4F): double would be software arithmetic, ~50
  // instructions an operation (measured: 60 % of the digits model's forward). Two passes in
  // float as the SIMD build does: the sum of values shifted by the row's first element (no
  // cancellation when the mean is far larger than the spread), then the squared deviations.
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xi = x + r * ldx;
    float* yi = y + r * ldy;
    const float shift = xi[0];
    float s = 0.0f;
    for (std::size_t j = 0; j < dim; ++j) s += xi[j] - shift;
    const float mean = shift + s / static_cast<float>(dim);
    float v = 0.0f;
    for (std::size_t j = 0; j < dim; ++j) {
      const float dj = xi[j] - mean;
      v += dj * dj;
    }
    const float rstd = static_cast<float>(
        1.0 / runtime_sqrt(static_cast<double>(v / static_cast<float>(dim) + eps)));
    for (std::size_t j = 0; j < dim; ++j) {
      const float w = weight != nullptr ? weight[j] : 1.0f;
      const float b = bias != nullptr ? bias[j] : 0.0f;
      yi[j] = (xi[j] - mean) * rstd * w + b;
    }
  }
#else
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xi = x + r * ldx;
    float* yi = y + r * ldy;
    // Two passes in double: the mean, then the squared deviations (no cancellation).
    double s = 0.0;
    for (std::size_t j = 0; j < dim; ++j) s += static_cast<double>(xi[j]);
    const double mean = s / static_cast<double>(dim);
    double v = 0.0;
    for (std::size_t j = 0; j < dim; ++j) {
      const double dj = static_cast<double>(xi[j]) - mean;
      v += dj * dj;
    }
    const double rstd = 1.0 / runtime_sqrt(v / static_cast<double>(dim) + static_cast<double>(eps));
    for (std::size_t j = 0; j < dim; ++j) {
      const float w = weight != nullptr ? weight[j] : 1.0f;
      const float b = bias != nullptr ? bias[j] : 0.0f;
      yi[j] = static_cast<float>((static_cast<double>(xi[j]) - mean) * rstd) * w + b;
    }
  }
#endif
}

}  // namespace detail

status gelu_inplace(std::span<float> x) noexcept {
  if (x.empty()) return status::ok;
  if (x.data() == nullptr) return status::invalid_argument;
  detail::gelu_unchecked(x.data(), x.size());
  return status::ok;
}

status layer_norm_rows(std::size_t rows, std::size_t dim, std::span<const float> weight,
                       std::span<const float> bias, float eps, const float* x, std::size_t ldx,
                       float* y, std::size_t ldy) noexcept {
  if (!(eps >= 0.0f && eps <= 3.4028235e38f)) return status::invalid_argument;
  if ((!weight.empty() && weight.size() != dim) || (!bias.empty() && bias.size() != dim))
    return status::shape_mismatch;
  if (rows == 0 || dim == 0) return status::ok;
  if (x == nullptr || y == nullptr || ldx < dim || ldy < dim) return status::invalid_argument;
  detail::layer_norm_unchecked(rows, dim, weight.empty() ? nullptr : weight.data(),
                               bias.empty() ? nullptr : bias.data(), eps, x, ldx, y, ldy);
  return status::ok;
}

}  // namespace gpsa
