// Folds a GPSA layer's positional branch into separable factors, at compile time or run time.
//
// The compile-time and run-time folds give bit-identical factors (Fx, Gy, lambda); the kernels
// below apply them without forming N x N matrices: (Gy (x) Fx) V costs O(N(R+C)d) per head.
//
// The positional logits P[h,p,q] = W0*dx + W1*dy + W2*(dx^2+dy^2) + b split into a part in dx
// and a part in dy, so (DESIGN.md section 1), exactly,
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

#include "gpsa/detail/constexpr_math.hpp"
#include "gpsa/grid.hpp"
#include "gpsa/status.hpp"

namespace gpsa {

// Element counts of a fold of `heads` heads on grid g: fx = H*C*C, gy = H*R*R, lambda = H.
struct fold_counts {
  std::size_t fx = 0;
  std::size_t gy = 0;
  std::size_t lambda = 0;
  constexpr std::size_t total() const noexcept { return fx + gy + lambda; }
};

constexpr status fold_size(grid g, std::size_t heads, fold_counts& out) noexcept {
  if (g.empty()) return status::empty_grid;
  if (heads == 0) return status::invalid_argument;
  std::size_t cc = 0, rr = 0, fx = 0, gy = 0;
  if (detail::mul_overflows(g.cols, g.cols, cc) || detail::mul_overflows(g.rows, g.rows, rr) ||
      detail::mul_overflows(cc, heads, fx) || detail::mul_overflows(rr, heads, gy))
    return status::size_overflow;
  if (fx > static_cast<std::size_t>(-1) - gy - heads) return status::size_overflow;
  out = fold_counts{fx, gy, heads};
  return status::ok;
}

// A read-only view of folded factors: fx is (H, C, C), gy (H, R, R), lambda (H), row-major.
struct folded_view {
  gpsa::grid shape{};
  std::size_t heads = 0;
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

// Folds one layer: pos_weight is pos_proj.weight (H, 3) row-major, pos_bias pos_proj.bias (H)
// or empty (it cancels; when given it is only checked), gating is gating_param (H).
// Writes fx (H*C*C), gy (H*R*R) and lambda (H) into caller-owned buffers.
// Errors: empty_grid, invalid_argument (heads == 0, or a NaN/Inf weight, bias or gating, for
// which PyTorch's softmax would give NaN), shape_mismatch (spans of the wrong length),
// buffer_too_small, size_overflow. Usable in constant evaluation.
constexpr status fold_positional(grid g, std::size_t heads, std::span<const float> pos_weight,
                                 std::span<const float> pos_bias, std::span<const float> gating,
                                 std::span<float> fx, std::span<float> gy,
                                 std::span<float> lambda) noexcept {
  fold_counts n{};
  if (const status s = fold_size(g, heads, n); s != status::ok) return s;
  if (pos_weight.size() != heads * 3 || gating.size() != heads ||
      (!pos_bias.empty() && pos_bias.size() != heads))
    return status::shape_mismatch;
  if (fx.size() < n.fx || gy.size() < n.gy || lambda.size() < n.lambda)
    return status::buffer_too_small;
  for (const float v : pos_weight)
    if (!detail::is_finite(v)) return status::invalid_argument;
  for (const float v : pos_bias)
    if (!detail::is_finite(v)) return status::invalid_argument;
  for (const float v : gating)
    if (!detail::is_finite(v)) return status::invalid_argument;
  for (std::size_t h = 0; h < heads; ++h) {
    const double w0 = pos_weight[3 * h], w1 = pos_weight[3 * h + 1], w2 = pos_weight[3 * h + 2];
    detail::fold_factor(w0, w2, g.cols, fx.data() + h * g.cols * g.cols);
    detail::fold_factor(w1, w2, g.rows, gy.data() + h * g.rows * g.rows);
    lambda[h] = detail::to_float(detail::sigmoid(gating[h]));
  }
  return status::ok;
}

// A layer folded into fixed-size storage: what a firmware build bakes with
//   constexpr auto f = gpsa::fold_layer<9, 14>(weights, gating);
//   static_assert(f.state == gpsa::status::ok);
// The values are those fold_positional computes at run time, bit for bit.
template <std::size_t H, std::size_t R, std::size_t C = R>
struct folded_layer {
  static_assert(H > 0 && R > 0 && C > 0,
                "gpsa::folded_layer: needs at least one head, row, column");
  static constexpr std::size_t heads = H, rows = R, cols = C, patches = R * C;
  static constexpr std::size_t fx_count = H * C * C, gy_count = H * R * R;

  float fx[fx_count]{};
  float gy[gy_count]{};
  float lambda[H]{};
  gpsa::status state = status::ok;  // invalid_argument when a weight was NaN/Inf

  constexpr folded_view view() const noexcept { return {grid{R, C}, H, fx, gy, lambda}; }
  constexpr float position(std::size_t h, std::size_t p, std::size_t q) const noexcept {
    return view().position(h, p, q);
  }
};

// pos_weight is pos_proj.weight flattened (H*3, row-major), gating is gating_param.
template <std::size_t H, std::size_t R, std::size_t C = R>
constexpr folded_layer<H, R, C> fold_layer(std::span<const float, H * 3> pos_weight,
                                           std::span<const float, H> gating) noexcept {
  folded_layer<H, R, C> f{};
  f.state = fold_positional(grid{R, C}, H, pos_weight, {}, gating, f.fx, f.gy, f.lambda);
  return f;
}

// ---- run-time kernels on folded factors (src/core/fold.cpp) ------------------------------

// Scratch floats positional_apply needs: N * head_dim.
constexpr std::size_t positional_apply_scratch(grid g, std::size_t head_dim) noexcept {
  return g.patches() * head_dim;
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
