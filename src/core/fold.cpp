// SPDX-License-Identifier: MIT
// Run-time kernels on folded positional factors: the separable product (Gy (x) Fx) V, the dense
// expansion, and the gated blend. No heap, no exceptions.
#include <cstddef>
#include <span>

#include "gpsa/core/fold.hpp"

#include "fold_kernels.hpp"
#include "linalg_impl.hpp"

namespace gpsa {

status validate(const folded_view& f) noexcept {
  if (f.shape.empty()) return status::empty_grid;
  if (f.heads == 0 || f.fx == nullptr || f.gy == nullptr || f.lambda == nullptr)
    return status::invalid_argument;
  fold_counts n{};
  std::size_t patches = 0, nn = 0;
  if (!detail::checked_mul(f.shape.rows, f.shape.cols, patches) ||
      !detail::checked_mul(patches, patches, nn))
    return status::size_overflow;
  return layer_folded_size(f.shape, f.heads, n);
}

namespace detail {

// The two passes for one head, as GEMMs (the blocked kernel of gpsa/core/linalg.hpp).
// Viewing V_h as a (y, x, k) tensor, Gy contracts the leading index and Fx the middle one; a GEMM
// contracts a leading index only, so Fx runs on the (x, y, k) transpose.
void positional_apply_factors(const float* fx, const float* gy, std::size_t R, std::size_t C,
                              std::size_t d, const float* v, std::size_t ldv, float* out,
                              std::size_t ldo, float* t) noexcept {
  const std::size_t Rd = R * d, Cd = C * d;
  if (ldo == d) {
    // t = V as (x, y, k); out = Fx t, still (x, y, k); t = out as (y, x, k); out = Gy t.
    for (std::size_t y = 0; y < R; ++y)
      for (std::size_t x = 0; x < C; ++x) {
        const float* src = v + (y * C + x) * ldv;
        float* dst = t + x * Rd + y * d;
        for (std::size_t k = 0; k < d; ++k) dst[k] = src[k];
      }
    gemm_unchecked(false, false, C, Rd, C, 1.0f, fx, C, t, Rd, 0.0f, out, Rd);
    for (std::size_t x = 0; x < C; ++x)
      for (std::size_t y = 0; y < R; ++y) {
        const float* src = out + x * Rd + y * d;
        float* dst = t + y * Cd + x * d;
        for (std::size_t k = 0; k < d; ++k) dst[k] = src[k];
      }
    gemm_unchecked(false, false, R, Cd, R, 1.0f, gy, R, t, Cd, 0.0f, out, Cd);
    return;
  }
  // Strided out: t_y = Fx V_y for each row y (t is (y, x, k)), then out_x = Gy t_x per column x.
  for (std::size_t y = 0; y < R; ++y)
    gemm_unchecked(false, false, C, d, C, 1.0f, fx, C, v + y * C * ldv, ldv, 0.0f, t + y * Cd, d);
  for (std::size_t x = 0; x < C; ++x)
    gemm_unchecked(false, false, R, d, R, 1.0f, gy, R, t + x * d, Cd, 0.0f, out + x * ldo, C * ldo);
}

}  // namespace detail

status positional_apply_head(const folded_view& f, std::size_t h, std::size_t head_dim,
                             const float* v_h, std::size_t ldv, float* out_h, std::size_t ldo,
                             std::span<float> scratch) noexcept {
  if (const status s = validate(f); s != status::ok) return s;
  if (h >= f.heads || head_dim == 0 || v_h == nullptr || out_h == nullptr || ldv < head_dim ||
      ldo < head_dim)
    return status::invalid_argument;
  std::size_t need = 0;
  if (!detail::checked_mul(f.patches(), head_dim, need)) return status::size_overflow;
  if (scratch.size() < need) return status::buffer_too_small;
  const std::size_t R = f.shape.rows, C = f.shape.cols;
  detail::positional_apply_factors(f.fx + h * C * C, f.gy + h * R * R, R, C, head_dim, v_h, ldv,
                                   out_h, ldo, scratch.data());
  return status::ok;
}

status positional_apply(const folded_view& f, std::size_t head_dim, const float* v, std::size_t ldv,
                        float* out, std::size_t ldo, std::span<float> scratch) noexcept {
  if (const status s = validate(f); s != status::ok) return s;
  std::size_t width = 0;
  if (!detail::checked_mul(f.heads, head_dim, width)) return status::size_overflow;
  if (head_dim == 0 || v == nullptr || out == nullptr || ldv < width || ldo < width)
    return status::invalid_argument;
  for (std::size_t h = 0; h < f.heads; ++h) {
    const status s = positional_apply_head(f, h, head_dim, v + h * head_dim, ldv,
                                           out + h * head_dim, ldo, scratch);
    if (s != status::ok) return s;
  }
  return status::ok;
}

status positional_expand(const folded_view& f, std::size_t h, std::span<float> out) noexcept {
  if (const status s = validate(f); s != status::ok) return s;
  if (h >= f.heads) return status::invalid_argument;
  const std::size_t n = f.patches(), R = f.shape.rows, C = f.shape.cols;
  if (out.size() < n * n) return status::buffer_too_small;
  const float* fx = f.fx + h * C * C;
  const float* gy = f.gy + h * R * R;
  float* o = out.data();
  for (std::size_t yp = 0; yp < R; ++yp)
    for (std::size_t xp = 0; xp < C; ++xp)
      for (std::size_t yq = 0; yq < R; ++yq) {
        const float g = gy[yp * R + yq];
        const float* fr = fx + xp * C;
        for (std::size_t xq = 0; xq < C; ++xq) *o++ = g * fr[xq];
      }
  return status::ok;
}

namespace detail {

void blend_rows_factored(const float* fx_h, const float* gy_h, std::size_t R, std::size_t C,
                         float lam, float one_minus, std::size_t p0, std::size_t rows,
                         const float* content, std::size_t ldc, float* out,
                         std::size_t ldo) noexcept {
  const std::size_t n = R * C;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t p = p0 + r;
    const float* frow = fx_h + (p % C) * C;
    const float* grow = gy_h + (p / C) * R;
    const float* c = content + r * ldc;
    float* o = out + r * ldo;
    for (std::size_t yq = 0; yq < R; ++yq) {
      const float gv = grow[yq];
      const float* cb = c + yq * C;
      float* ob = o + yq * C;
      for (std::size_t xq = 0; xq < C; ++xq) ob[xq] = one_minus * cb[xq] + lam * (gv * frow[xq]);
    }
    // PyTorch: attn /= attn.sum(dim=-1).unsqueeze(-1), a true division.
    const float sum = row_sum(o, n);
    for (std::size_t q = 0; q < n; ++q) o[q] /= sum;
  }
}

}  // namespace detail

status gated_blend_rows(const folded_view& f, std::size_t h, std::size_t p0, std::size_t rows,
                        const float* content, std::size_t ldc, float* out,
                        std::size_t ldo) noexcept {
  if (const status s = validate(f); s != status::ok) return s;
  const std::size_t n = f.patches(), R = f.shape.rows, C = f.shape.cols;
  if (h >= f.heads || content == nullptr || out == nullptr || ldc < n || ldo < n)
    return status::invalid_argument;
  if (p0 > n || rows > n - p0) return status::shape_mismatch;
  // As PyTorch, in float: (1 - sigmoid(g)) * patch_score + sigmoid(g) * pos_score, then / sum.
  const float lam = f.lambda[h];
  detail::blend_rows_factored(f.fx + h * C * C, f.gy + h * R * R, R, C, lam, 1.0f - lam, p0, rows,
                              content, ldc, out, ldo);
  return status::ok;
}

}  // namespace gpsa
