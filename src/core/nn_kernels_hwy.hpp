// SPDX-License-Identifier: MIT
// Private to gpsa::core: the Highway (runtime-dispatched) GELU, LayerNorm and bias + GELU epilogue
// (nn_kernels_hwy.cpp), and the GELU's erf coefficients the plain C++ path shares.
#pragma once

#include <cstddef>

namespace gpsa::detail {

#if defined(GPSA_HAVE_HWY)
// gelu_unchecked on the best SIMD target of the running CPU (nn_kernels_hwy.cpp).
void hwy_gelu(float* x, std::size_t n) noexcept;
// c += bias (per column, may be null), then GELU when `gelu` (nn.hpp bias_act_rows).
void hwy_bias_act(float* c, std::size_t ld, std::size_t rows, std::size_t cols, const float* bias,
                  bool gelu) noexcept;
// layer_norm_unchecked, float lanes with a shifted two-pass sum (nn_kernels_hwy.cpp).
void hwy_layer_norm(const float* x, std::size_t rows, std::size_t dim, std::size_t ldx,
                    const float* weight, const float* bias, float eps, float* y,
                    std::size_t ldy) noexcept;
// o (rows x d, stride ld) = o * (oml / sums[i]) + lam * pv (stride ldp; pv may be null): the end
// of an attention block (nn.cpp).
void hwy_attention_rows(float* o, std::size_t ld, std::size_t rows, std::size_t d,
                        const float* sums, float oml, float lam, const float* pv,
                        std::size_t ldp) noexcept;
#endif

// The rational erf approximation of the GELU: erf(u) ~ u P(u^2) / Q(u^2) for |u| <= kErfClamp,
// +-1 beyond (coefficients from tools/fit_erf.py; max |error| 3.7e-7 in float).
namespace gelu_coeff {
inline constexpr float kErfClamp = 3.925f;
inline constexpr float p0 = 1.128378987e+00f, p1 = 1.929735690e-01f, p2 = 5.308448523e-02f,
                       p3 = 3.876371542e-03f, p4 = 2.874933125e-04f, p5 = 2.030861879e-06f;
inline constexpr float q1 = 5.043500066e-01f, q2 = 1.151678786e-01f, q3 = 1.518844254e-02f,
                       q4 = 1.189761213e-03f, q5 = 3.803143409e-05f;
inline constexpr float kRsqrt2 = 0.70710678118654752f;
}  // namespace gelu_coeff

namespace {
// GELU of x[0..n) with the rational erf, in plain C++, branch-free so the loop vectorises; a NaN
// u falls through the clamps and stays NaN. The portable gelu_unchecked (nn_kernels.cpp) and the
// int8 forward (convit_int8.cpp, one IEEE operation per step) run it; internal linkage keeps each
// file's floating-point flags (the int8 file builds with -ffp-contract=off).
inline void gelu_rational(float* x, std::size_t n) noexcept {
  using namespace gelu_coeff;
  for (std::size_t i = 0; i < n; ++i) {
    const float v = x[i];
    float u = v * kRsqrt2;
    u = u > kErfClamp ? kErfClamp : u;
    u = u < -kErfClamp ? -kErfClamp : u;
    const float t = u * u;
    const float P = ((((p5 * t + p4) * t + p3) * t + p2) * t + p1) * t + p0;
    const float Q = ((((q5 * t + q4) * t + q3) * t + q2) * t + q1) * t + 1.0f;
    float e = u * P / Q;
    e = e > 1.0f ? 1.0f : e;
    e = e < -1.0f ? -1.0f : e;
    x[i] = 0.5f * v * (1.0f + e);
  }
}
}  // namespace

}  // namespace gpsa::detail
