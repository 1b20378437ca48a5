// SPDX-License-Identifier: MIT
// Folds a GPSA layer's positional branch into separable factors, at compile time or run time.
//
// The compile-time and run-time folds give bit-identical factors (Fx, Gy, lambda); the kernels
// below apply them without forming N x N matrices: (Gy (x) Fx) V costs O(N(R+C)d) per head.
//
// The positional logits P[h,p,q] = W0*dx + W1*dy + W2*(dx^2+dy^2) + b split into a part in dx
// and a part in dy, so (docs/DESIGN.md §5), exactly,
//   softmax_rows(P[h])[(yp,xp),(yq,xq)] = Gy[h][yp][yq] * Fx[h][xp][xq]
//   Fx[h][i][j] = softmax_j(W0*(j-i) + W2*(j-i)^2)      C x C, column offsets
//   Gy[h][i][j] = softmax_j(W1*(j-i) + W2*(j-i)^2)      R x R, row offsets
// and the bias b cancels in the softmax. lambda_h = sigmoid(gating_param[h]).
// A layer's whole positional state is H*(R^2 + C^2) + H floats instead of H*N^2.
//
// Every factor is computed in double (logits, max-subtracted exp, normalisation) and rounded
// once to float, through the constexpr gpsa::detail::exp, so a table folded by the compiler and
// one folded at run time are the same bits. No heap, no exceptions, status returns.
#pragma once

#include <cstddef>
#include <span>

#include "gpsa/core/types.hpp"
#include "gpsa/detail/constexpr_math.hpp"

namespace gpsa {

// Element counts of a fold of `heads` heads on grid g: fx = H*C*C, gy = H*R*R, lambda = H (the
// lengths of layer_fold's three outputs; total() floats for one layer).
struct fold_counts {
  std::size_t fx = 0;
  std::size_t gy = 0;
  std::size_t lambda = 0;
  constexpr std::size_t total() const noexcept { return fx + gy + lambda; }
};

// The size query of layer_fold: the three array lengths, one per output span.
constexpr status layer_folded_size(grid g, std::size_t heads, fold_counts& out) noexcept {
  if (g.empty()) return status::empty_grid;
  if (heads == 0) return status::invalid_argument;
  std::size_t cc = 0, rr = 0, fx = 0, gy = 0;
  if (!detail::checked_mul(g.cols, g.cols, cc) || !detail::checked_mul(g.rows, g.rows, rr) ||
      !detail::checked_mul(cc, heads, fx) || !detail::checked_mul(rr, heads, gy))
    return status::size_overflow;
  if (fx > static_cast<std::size_t>(-1) - gy - heads) return status::size_overflow;
  out = fold_counts{fx, gy, heads};
  return status::ok;
}

// THE folded positional state of one GPSA layer, as a non-owning view: everything the kernels
// need from pos_proj and gating_param for one grid. fx is (H, C, C), gy (H, R, R), lambda (H),
// row-major; lambda[h] = sigmoid(gating_param[h]) as the fold computed it (every blend reads it;
// nothing recomputes it). Its owners: gpsa::folded_layer<H, R, C> below (constexpr storage),
// gpsa::folded_state (gpsa/runtime/folded_state.hpp, run time), or the caller's buffers. The C API
// spells the
// same view `gpsa_folded_view` (gpsa/gpsa.h; same members, same order, checked in
// src/core/c_api.cpp).
struct folded_view {
  std::size_t heads = 0;
  gpsa::grid shape{};
  const float* fx = nullptr;
  const float* gy = nullptr;
  const float* lambda = nullptr;

  constexpr std::size_t patches() const noexcept { return shape.patches(); }
  constexpr float fx_at(std::size_t h, std::size_t xp, std::size_t xq) const noexcept {
    return fx[(h * shape.cols + xp) * shape.cols + xq];
  }
  constexpr float gy_at(std::size_t h, std::size_t yp, std::size_t yq) const noexcept {
    return gy[(h * shape.rows + yp) * shape.rows + yq];
  }
  // softmax(P[h]) at query p, key q: one float multiplication of the two factors.
  constexpr float position(std::size_t h, std::size_t p, std::size_t q) const noexcept {
    const std::size_t c = shape.cols;
    return gy_at(h, p / c, q / c) * fx_at(h, p % c, q % c);
  }
};

namespace detail {

GPSA_FP_STRICT_BEGIN

// The logit of offset d, the one formula every step below uses.
constexpr double offset_logit(double lin, double sq, double d) noexcept {
  return lin * d + sq * (d * d);
}

// max over integer d in [lo, hi] of lin*d + sq*d^2: a quadratic in d, so the maximum is at an
// end of the range or (sq < 0) at an integer beside the vertex -lin / (2 sq). Four evaluations
// instead of a loop (Clang's constexpr step limit). Rounding may leave a neighbour a few ulp
// above the value found; harmless, the exponentials stay <= 1 + 1e-15.
constexpr double window_max(double lin, double sq, double lo, double hi) noexcept {
  double m = offset_logit(lin, sq, lo);
  const double e = offset_logit(lin, sq, hi);
  if (e > m) m = e;
  if (sq < 0) {
    const double v = -lin / (2 * sq);
    if (v > lo && v < hi) {
      double f = static_cast<double>(static_cast<long long>(v));  // |v| < n: fits
      if (f > v) f -= 1;                                          // floor, for v < 0
      const double a = offset_logit(lin, sq, f), b = offset_logit(lin, sq, f + 1);
      if (a > m) m = a;
      if (b > m) m = b;
    }
  }
  return m;
}

// out[i][j] = softmax_j(lin*(j-i) + sq*(j-i)^2) for i, j in [0, n), in double, rounded once.
// Logits are finite for finite float weights (|w|*n^2 stays far below double's range); the
// max-subtracted exponentials are <= 1 (up to rounding) and one is ~1, so the sum is in
// [1, n]. Rows of up to 64 keep their exponentials in a local cache, longer rows compute them
// twice: the same operations on the same operands, so the values are identical either way.
constexpr void fold_factor(double lin, double sq, std::size_t n, float* out) noexcept {
  constexpr std::size_t cached = 64;
  double e[cached] = {};
  for (std::size_t i = 0; i < n; ++i) {
    const double di = static_cast<double>(i);
    const double m = window_max(lin, sq, -di, static_cast<double>(n - 1) - di);
    double s = 0.0;
    for (std::size_t j = 0; j < n; ++j) {
      const double x = exp(offset_logit(lin, sq, static_cast<double>(j) - di) - m);
      if (j < cached) e[j] = x;
      s += x;
    }
    for (std::size_t j = 0; j < n; ++j) {
      const double x =
          j < cached ? e[j] : exp(offset_logit(lin, sq, static_cast<double>(j) - di) - m);
      out[i * n + j] = to_float(x / s);
    }
  }
}

GPSA_FP_STRICT_END

}  // namespace detail

// What the fold does with NaN/Inf in pos_proj.weight, pos_proj.bias or gating_param.
enum class nonfinite_policy {
  // invalid_argument: firmware and `gpsa fold` refuse weights that cannot be folded.
  reject,
  // PyTorch's result: a head whose pos_proj weight or bias is NaN/Inf has a softmax(P) row of
  // NaN everywhere (each row has a logit with a zero coefficient: Inf*0 = NaN; an infinite bias
  // gives Inf - Inf), so its fx and gy become NaN; lambda = sigmoid(gating) is NaN for a NaN
  // gate and exactly 1 / 0 for +Inf / -Inf. gpsa::layer folds this way (docs/reliability.md).
  propagate,
};

// Folds one layer: pos_weight is pos_proj.weight (H, 3) row-major, pos_bias pos_proj.bias (H)
// or empty (it cancels in the softmax; it is only checked for NaN/Inf), gating is
// gating_param (H). Writes fx (H*C*C), gy (H*R*R) and lambda (H) into caller-owned buffers.
// Errors: empty_grid, invalid_argument (heads == 0, or with nonfinite_policy::reject a NaN/Inf
// weight, bias or gate), shape_mismatch (spans of the wrong length), buffer_too_small,
// size_overflow. Usable in constant evaluation.
constexpr status layer_fold(grid g, std::size_t heads, std::span<const float> pos_weight,
                            std::span<const float> pos_bias, std::span<const float> gating,
                            std::span<float> fx, std::span<float> gy, std::span<float> lambda,
                            nonfinite_policy policy = nonfinite_policy::reject) noexcept {
  fold_counts n{};
  if (const status s = layer_folded_size(g, heads, n); s != status::ok) return s;
  if (pos_weight.size() != heads * 3 || gating.size() != heads ||
      (!pos_bias.empty() && pos_bias.size() != heads))
    return status::shape_mismatch;
  if (fx.size() < n.fx || gy.size() < n.gy || lambda.size() < n.lambda)
    return status::buffer_too_small;
  const auto finite = [](float v) { return detail::is_finite(static_cast<double>(v)); };
  const auto finite_head = [&](std::size_t h) {
    const bool w =
        finite(pos_weight[3 * h]) && finite(pos_weight[3 * h + 1]) && finite(pos_weight[3 * h + 2]);
    return w && (pos_bias.empty() || finite(pos_bias[h]));
  };
  if (policy == nonfinite_policy::reject)
    for (std::size_t h = 0; h < heads; ++h)
      if (!finite_head(h) || !finite(gating[h])) return status::invalid_argument;
  const std::size_t cc = g.cols * g.cols, rr = g.rows * g.rows;
  for (std::size_t h = 0; h < heads; ++h) {
    if (finite_head(h)) {
      const double w0 = static_cast<double>(pos_weight[3 * h]);
      const double w1 = static_cast<double>(pos_weight[3 * h + 1]);
      const double w2 = static_cast<double>(pos_weight[3 * h + 2]);
      detail::fold_factor(w0, w2, g.cols, fx.data() + h * cc);
      detail::fold_factor(w1, w2, g.rows, gy.data() + h * rr);
    } else {  // nonfinite_policy::propagate
      for (std::size_t i = 0; i < cc; ++i) fx[h * cc + i] = detail::quiet_nan_f;
      for (std::size_t i = 0; i < rr; ++i) gy[h * rr + i] = detail::quiet_nan_f;
    }
    lambda[h] = detail::to_float(detail::sigmoid(static_cast<double>(gating[h])));
  }
  return status::ok;
}

// Compile-time storage of a folded layer, exposing the one view: what a firmware build bakes
//   constexpr auto f = gpsa::layer_fold<9, 14>(weights, gating);
//   static_assert(f.state == gpsa::status::ok);
//   gpsa::layer_forward(w, f.view(), ...);
// The values are those layer_fold computes at run time, bit for bit.
template <std::size_t H, std::size_t R, std::size_t C = R>
struct folded_layer {
  static constexpr std::size_t heads = H, rows = R, cols = C, patches = R * C;
  static constexpr std::size_t fx_count = H * C * C, gy_count = H * R * R;

  // (never zero-sized: a zero H, R or C is reported once, by layer_fold or view())
  float fx[fx_count > 0 ? fx_count : 1]{};
  float gy[gy_count > 0 ? gy_count : 1]{};
  float lambda[H > 0 ? H : 1]{};
  gpsa::status state = status::ok;  // invalid_argument when a weight was NaN/Inf

  constexpr folded_view view() const noexcept {
    static_assert(H > 0 && R > 0 && C > 0,
                  "gpsa::folded_layer: a folded layer needs at least one "
                  "head, one row and one column");
    return {H, grid{R, C}, fx, gy, lambda};
  }
};

// pos_weight is pos_proj.weight flattened (H*3, row-major), gating is gating_param.
template <std::size_t H, std::size_t R, std::size_t C = R>
constexpr folded_layer<H, R, C> layer_fold(std::span<const float, H * 3> pos_weight,
                                           std::span<const float, H> gating) noexcept {
  // Here rather than in the class body, so a misuse gives one error (Clang adds follow-up errors
  // on every member of a class whose body failed an assertion).
  static_assert(H > 0 && R > 0 && C > 0,
                "gpsa::folded_layer: a folded layer needs at least one "
                "head, one row and one column");
  folded_layer<H, R, C> f{};
  f.state = layer_fold(grid{R, C}, H, pos_weight, {}, gating, f.fx, f.gy, f.lambda);
  return f;
}

// ---- run-time kernels on folded factors (src/core/fold.cpp) ------------------------------

// ok, or empty_grid, invalid_argument (no heads, a null array) or size_overflow (N*N or a
// factor count does not fit size_t). Every kernel that takes a folded_view checks it so.
status validate(const folded_view& f) noexcept;

// Scratch floats positional_apply and positional_apply_head need: N * head_dim. empty_grid,
// invalid_argument for head_dim == 0, size_overflow when it does not fit size_t.
constexpr status positional_apply_scratch_size(grid g, std::size_t head_dim,
                                               std::size_t& floats) noexcept {
  if (g.empty()) return status::empty_grid;
  if (head_dim == 0) return status::invalid_argument;
  std::size_t n = 0, f = 0;
  if (!detail::checked_mul(g.rows, g.cols, n) || !detail::checked_mul(n, head_dim, f))
    return status::size_overflow;
  floats = f;
  return status::ok;
}

// out_h = position[h] * V_h for every head, without forming the N x N matrix:
// position[h] = Gy[h] (x) Fx[h], so apply Fx along each key row's columns, then Gy across rows,
// O(N*(R+C)*d) per head instead of O(N^2*d). v is (N, H*head_dim) with row stride ldv, head h
// in columns [h*d, (h+1)*d); out likewise with stride ldo. out must not overlap v.
status positional_apply(const folded_view& f, std::size_t head_dim, const float* v, std::size_t ldv,
                        float* out, std::size_t ldo, std::span<float> scratch) noexcept;

// Same for one head h: v_h and out_h point at that head's first column.
status positional_apply_head(const folded_view& f, std::size_t h, std::size_t head_dim,
                             const float* v_h, std::size_t ldv, float* out_h, std::size_t ldo,
                             std::span<float> scratch) noexcept;

// The dense positional attention of head h, softmax(P[h]), N x N (for checking and export).
status positional_expand(const folded_view& f, std::size_t h, std::span<float> out) noexcept;

// The gated blend for rows [p0, p0 + rows) of head h, as PyTorch's GPSA.get_attention:
//   a = (1 - lambda_h) * content + lambda_h * position[h],  then each row divided by its sum.
// content and out are `rows` x N with row strides ldc / ldo; out may equal content.
status gated_blend_rows(const folded_view& f, std::size_t h, std::size_t p0, std::size_t rows,
                        const float* content, std::size_t ldc, float* out,
                        std::size_t ldo) noexcept;

}  // namespace gpsa
