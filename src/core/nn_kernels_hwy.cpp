// SPDX-License-Identifier: MIT
// Highway (runtime-dispatched SIMD) GELU, LayerNorm and the linear layer's bias + GELU epilogue
// (gpsa/core/nn_kernels.hpp). Compiled to nothing unless CMake found Highway and GPSA_SIMD is not
// OFF.
#if defined(GPSA_HAVE_HWY)

#include <cmath>
#include <cstddef>

#include "nn_kernels_hwy.hpp"

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "nn_kernels_hwy.cpp"
#include <hwy/foreach_target.h>  // re-includes this file once per target
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace gpsa::detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using tag_f = hn::CappedTag<float, 16>;
constexpr std::size_t kMaxLanes = 16;

// 0.5 x (1 + erf(x / sqrt 2)) with the rational erf of gelu_coeff (the scalar formula of
// nn_kernels.cpp, lane by lane). Min/Max keep a NaN x as NaN through the clamps on x86 and Arm.
template <class D, class V>
HWY_INLINE V gelu_vec(D d, V x) {
  using namespace gelu_coeff;
  const V a = hn::Set(d, kErfClamp);
  V u = hn::Mul(x, hn::Set(d, kRsqrt2));
  u = hn::Min(hn::Max(u, hn::Neg(a)), a);
  const V t = hn::Mul(u, u);
  V p = hn::Set(d, p5);
  p = hn::MulAdd(p, t, hn::Set(d, p4));
  p = hn::MulAdd(p, t, hn::Set(d, p3));
  p = hn::MulAdd(p, t, hn::Set(d, p2));
  p = hn::MulAdd(p, t, hn::Set(d, p1));
  p = hn::MulAdd(p, t, hn::Set(d, p0));
  V q = hn::Set(d, q5);
  q = hn::MulAdd(q, t, hn::Set(d, q4));
  q = hn::MulAdd(q, t, hn::Set(d, q3));
  q = hn::MulAdd(q, t, hn::Set(d, q2));
  q = hn::MulAdd(q, t, hn::Set(d, q1));
  q = hn::MulAdd(q, t, hn::Set(d, 1.0f));
  const V one = hn::Set(d, 1.0f);
  const V e = hn::Min(hn::Max(hn::Div(hn::Mul(u, p), q), hn::Neg(one)), one);
  const V y = hn::Mul(hn::Mul(hn::Set(d, 0.5f), x), hn::Add(one, e));
  return hn::IfThenElse(hn::Eq(x, x), y, x);  // NaN in, NaN out
}

void gelu_impl(float* x, std::size_t n) {
  const tag_f d;
  const std::size_t L = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(gelu_vec(d, hn::LoadU(d, x + i)), d, x + i);
  if (i < n) {  // tail through a padded buffer: never reads or writes past the array
    HWY_ALIGN float buf[kMaxLanes] = {};
    for (std::size_t j = 0; j < n - i; ++j) buf[j] = x[i + j];
    hn::Store(gelu_vec(d, hn::Load(d, buf)), d, buf);
    for (std::size_t j = 0; j < n - i; ++j) x[i + j] = buf[j];
  }
}

// c (rows x cols, stride ld) += bias (per column; null: none), then GELU when `gelu`: the
// linear layer's epilogue on a block of its output that is still in cache.
void bias_act_impl(float* c, std::size_t ld, std::size_t rows, std::size_t cols, const float* bias,
                   bool gelu) {
  const tag_f d;
  const std::size_t L = hn::Lanes(d);
  const std::size_t full = cols - cols % L;
  HWY_ALIGN float buf[kMaxLanes] = {};
  for (std::size_t r = 0; r < rows; ++r) {
    float* cr = c + r * ld;
    std::size_t j = 0;
    for (; j < full; j += L) {
      auto v = hn::LoadU(d, cr + j);
      if (bias != nullptr) v = hn::Add(v, hn::LoadU(d, bias + j));
      if (gelu) v = gelu_vec(d, v);
      hn::StoreU(v, d, cr + j);
    }
    if (j < cols) {  // tail through a padded buffer: never reads or writes past the row
      for (std::size_t i = 0; i < L; ++i)
        buf[i] = j + i < cols ? cr[j + i] + (bias != nullptr ? bias[j + i] : 0.0f) : 0.0f;
      auto v = hn::Load(d, buf);
      if (gelu) v = gelu_vec(d, v);
      hn::Store(v, d, buf);
      for (std::size_t i = 0; j + i < cols; ++i) cr[j + i] = buf[i];
    }
  }
}

// LayerNorm of one row per iteration, float lanes. The row is shifted by its first value before
// summing (x - x0 is exact for nearby values), so a large mean does not cost accuracy; the
// variance is then a sum of non-negative squares. Both sums are kept in 32 partials whatever the
// vector width: of the row's first dim16 = dim - dim % 16 elements, element j goes to partial
// j mod 32, the last dim % 16 to partials 16, 17, ...; the partials are added pairwise (p and
// p + 16), then in fixed_order_sum's order. So every target with the same arithmetic (AVX2 and
// AVX-512: fused multiply-add) gives the same bits, and AVX-512's are those of its own 16-lane
// reduction (_mm512_reduce_add_ps's order).
constexpr std::size_t kHalf = 16;  // partials per half

// The 16 sums p + (p + 16) of 32 partials held in vectors of L lanes (2 * 16 / L vectors), added
// in one fixed pairwise order: (p, p + 8), (p, p + 4), then (0 + 2) + (1 + 3).
template <class D, class V>
HWY_INLINE float fixed_order_sum32(D d, const V* s) {
  const std::size_t L = hn::Lanes(d), half_vecs = kHalf / L;
  HWY_ALIGN float part[kHalf];
  for (std::size_t q = 0; q < half_vecs; ++q)
    hn::Store(hn::Add(s[q], s[half_vecs + q]), d, part + q * L);
  float h8[8], h4[4];
  for (std::size_t k = 0; k < 8; ++k) h8[k] = part[k] + part[k + 8];
  for (std::size_t k = 0; k < 4; ++k) h4[k] = h8[k] + h8[k + 4];
  return (h4[0] + h4[2]) + (h4[1] + h4[3]);
}

void layer_norm_impl(const float* x, std::size_t rows, std::size_t dim, std::size_t ldx,
                     const float* weight, const float* bias, float eps, float* y, std::size_t ldy) {
  const tag_f d;
  using V = hn::Vec<tag_f>;
  const std::size_t L = hn::Lanes(d);
  static_assert(kHalf % hn::MaxLanes(tag_f()) == 0, "16 partials must fill whole vectors");
  constexpr std::size_t kVecs = 2 * kHalf / hn::MaxLanes(tag_f());  // vectors of 32 partials
  const std::size_t hv = kHalf / L;                                 // vectors of 16 partials
  const std::size_t dim16 = dim - dim % kHalf, rem16 = dim - dim16;
  const std::size_t full = dim - dim % L, rem = dim - full;
  HWY_ALIGN float buf[kHalf] = {};
  HWY_ALIGN float wbuf[kMaxLanes] = {};
  HWY_ALIGN float bbuf[kMaxLanes] = {};
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xi = x + r * ldx;
    float* yi = y + r * ldy;
    const float first = xi[0];  // read before y (which may be x) is written
    const V x0 = hn::Set(d, first);
    // Sum of x - x0: the row 32 elements at a time into the 32 partials, a last 16 into partials
    // 0..15, the remaining dim % 16 (x - x0 in a zero-padded buffer) into partials 16...
    V s[kVecs];
    for (std::size_t q = 0; q < kVecs; ++q) s[q] = hn::Zero(d);
    std::size_t j = 0;
    for (; j + 2 * kHalf <= dim16; j += 2 * kHalf)
      for (std::size_t q = 0; q < 2 * hv; ++q)
        s[q] = hn::Add(s[q], hn::Sub(hn::LoadU(d, xi + j + q * L), x0));
    if (j < dim16)
      for (std::size_t q = 0; q < hv; ++q)
        s[q] = hn::Add(s[q], hn::Sub(hn::LoadU(d, xi + j + q * L), x0));
    if (rem16 != 0) {
      for (std::size_t k = 0; k < kHalf; ++k) buf[k] = k < rem16 ? xi[dim16 + k] - first : 0.0f;
      for (std::size_t q = 0; q < hv; ++q) s[hv + q] = hn::Add(s[hv + q], hn::Load(d, buf + q * L));
    }
    const float shift = fixed_order_sum32(d, s) / static_cast<float>(dim);
    const V ms = hn::Set(d, shift);  // mean - x0; deviations are (x - x0) - ms
    // Sum of squared deviations, the same partials.
    for (std::size_t q = 0; q < kVecs; ++q) s[q] = hn::Zero(d);
    for (j = 0; j + 2 * kHalf <= dim16; j += 2 * kHalf)
      for (std::size_t q = 0; q < 2 * hv; ++q) {
        const V a = hn::Sub(hn::Sub(hn::LoadU(d, xi + j + q * L), x0), ms);
        s[q] = hn::MulAdd(a, a, s[q]);
      }
    if (j < dim16)
      for (std::size_t q = 0; q < hv; ++q) {
        const V a = hn::Sub(hn::Sub(hn::LoadU(d, xi + j + q * L), x0), ms);
        s[q] = hn::MulAdd(a, a, s[q]);
      }
    if (rem16 != 0) {
      for (std::size_t k = 0; k < kHalf; ++k)
        buf[k] = k < rem16 ? (xi[dim16 + k] - first) - shift : 0.0f;
      for (std::size_t q = 0; q < hv; ++q) {
        const V a = hn::Load(d, buf + q * L);
        s[hv + q] = hn::MulAdd(a, a, s[hv + q]);
      }
    }
    const double var = static_cast<double>(fixed_order_sum32(d, s)) / static_cast<double>(dim);
    const float rstd = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    const V rs = hn::Set(d, rstd);
    // y = ((x - x0) - ms) * rstd * weight + bias, lane by lane; the tail through padded buffers
    // (the same operations, so an element's value does not depend on the vector width).
    for (j = 0; j < full; j += L) {
      const V wv = weight != nullptr ? hn::LoadU(d, weight + j) : hn::Set(d, 1.0f);
      const V bv = bias != nullptr ? hn::LoadU(d, bias + j) : hn::Zero(d);
      const V n = hn::Mul(hn::Sub(hn::Sub(hn::LoadU(d, xi + j), x0), ms), rs);
      hn::StoreU(hn::MulAdd(n, wv, bv), d, yi + j);
    }
    if (rem != 0) {
      for (std::size_t k = 0; k < L; ++k) {
        const bool in = k < rem;
        buf[k] = in ? xi[full + k] : 0.0f;
        wbuf[k] = in && weight != nullptr ? weight[full + k] : 1.0f;
        bbuf[k] = in && bias != nullptr ? bias[full + k] : 0.0f;
      }
      const V n = hn::Mul(hn::Sub(hn::Sub(hn::Load(d, buf), x0), ms), rs);
      hn::Store(hn::MulAdd(n, hn::Load(d, wbuf), hn::Load(d, bbuf)), d, buf);
      for (std::size_t k = 0; k < rem; ++k) yi[full + k] = buf[k];
    }
  }
}

// o (rows x d, stride ld) = o * (oml / sums[i]) per row i, plus lam * pv (stride ldp) when pv is
// set: the end of an attention block (nn.cpp). The edge of a row goes through masked lanes.
void attention_rows_impl(float* o, std::size_t ld, std::size_t rows, std::size_t d,
                         const float* sums, float oml, float lam, const float* pv,
                         std::size_t ldp) {
  const tag_f d16;
  const std::size_t L = hn::Lanes(d16);
  const std::size_t full = d - d % L;
  const auto vl = hn::Set(d16, lam);
  HWY_ALIGN float bo[kMaxLanes] = {}, bp[kMaxLanes] = {};
  for (std::size_t i = 0; i < rows; ++i) {
    float* oi = o + i * ld;
    const float* pi = pv != nullptr ? pv + i * ldp : nullptr;
    const auto f = hn::Set(d16, oml / sums[i]);
    std::size_t j = 0;
    for (; j < full; j += L) {
      auto v = hn::Mul(hn::LoadU(d16, oi + j), f);
      if (pi != nullptr) v = hn::MulAdd(vl, hn::LoadU(d16, pi + j), v);
      hn::StoreU(v, d16, oi + j);
    }
    if (j < d) {  // the tail through padded buffers: never reads or writes past the row
      for (std::size_t k = 0; k < d - j; ++k) {
        bo[k] = oi[j + k];
        bp[k] = pi != nullptr ? pi[j + k] : 0.0f;
      }
      auto v = hn::Mul(hn::Load(d16, bo), f);
      if (pi != nullptr) v = hn::MulAdd(vl, hn::Load(d16, bp), v);
      hn::Store(v, d16, bo);
      for (std::size_t k = 0; k < d - j; ++k) oi[j + k] = bo[k];
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace gpsa::detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace gpsa::detail {

HWY_EXPORT(gelu_impl);
HWY_EXPORT(bias_act_impl);
HWY_EXPORT(layer_norm_impl);
HWY_EXPORT(attention_rows_impl);

void hwy_attention_rows(float* o, std::size_t ld, std::size_t rows, std::size_t d,
                        const float* sums, float oml, float lam, const float* pv,
                        std::size_t ldp) noexcept {
  HWY_DYNAMIC_DISPATCH(attention_rows_impl)(o, ld, rows, d, sums, oml, lam, pv, ldp);
}

void hwy_gelu(float* x, std::size_t n) noexcept { HWY_DYNAMIC_DISPATCH(gelu_impl)(x, n); }
void hwy_bias_act(float* c, std::size_t ld, std::size_t rows, std::size_t cols, const float* bias,
                  bool gelu) noexcept {
  HWY_DYNAMIC_DISPATCH(bias_act_impl)(c, ld, rows, cols, bias, gelu);
}
void hwy_layer_norm(const float* x, std::size_t rows, std::size_t dim, std::size_t ldx,
                    const float* weight, const float* bias, float eps, float* y,
                    std::size_t ldy) noexcept {
  HWY_DYNAMIC_DISPATCH(layer_norm_impl)(x, rows, dim, ldx, weight, bias, eps, y, ldy);
}

}  // namespace gpsa::detail
#endif  // HWY_ONCE

#endif  // GPSA_HAVE_HWY
