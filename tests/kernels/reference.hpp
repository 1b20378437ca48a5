// SPDX-License-Identifier: MIT
// Independent float64 GPSA reference for the tests, written straight from docs/DESIGN.md §3-4
// (no gpsa code involved), plus a seeded random layer.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "gpsa/core/fold.hpp"
#include "gpsa/core/layer.hpp"

#include "../support/test_util.hpp"

namespace gpsa_test {

using dvec = std::vector<double>;
using fvec = std::vector<float>;

// A layer's parameters as float arrays (what the code under test reads).
struct rand_layer {
  std::size_t H = 0, D = 0;
  fvec qk_w, qk_b, v_w, v_b, proj_w, proj_b, pos_w, pos_b, gating;

  gpsa::layer_weights view() const {
    gpsa::layer_weights w;
    w.heads = H;
    w.dim = D;
    w.qk_weight = qk_w.data();
    w.qk_bias = qk_b.empty() ? nullptr : qk_b.data();
    w.v_weight = v_w.data();
    w.v_bias = v_b.empty() ? nullptr : v_b.data();
    w.proj_weight = proj_w.data();
    w.proj_bias = proj_b.data();
    return w;
  }
};

// The folded positional branch of a rand_layer for one grid, in test-owned buffers (the core
// links no runtime, so no gpsa::folded_state here).
struct folded_buffers {
  gpsa::grid g{};
  std::size_t H = 0;
  fvec fx, gy, lam;
  gpsa::status code = gpsa::status::ok;

  folded_buffers(const rand_layer& l, gpsa::grid grid,
                 gpsa::nonfinite_policy policy = gpsa::nonfinite_policy::reject)
      : g(grid),
        H(l.H),
        fx(l.H * grid.cols * grid.cols),
        gy(l.H * grid.rows * grid.rows),
        lam(l.H) {
    code = gpsa::layer_fold(g, H, l.pos_w, l.pos_b, l.gating, fx, gy, lam, policy);
  }
  gpsa::folded_view view() const { return {H, g, fx.data(), gy.data(), lam.data()}; }
};

inline fvec uniform(std::mt19937& rng, std::size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  fvec v(n);
  for (auto& e : v) e = d(rng);
  return v;
}

// Weights of the scale timm's init gives (|w| ~ 1/sqrt(D)), random pos_proj and gating.
inline rand_layer make_layer(std::size_t H, std::size_t D, bool qkv_bias, std::uint32_t seed) {
  std::mt19937 rng(seed);
  const float s = 1.0f / std::sqrt(static_cast<float>(D));
  rand_layer l;
  l.H = H;
  l.D = D;
  l.qk_w = uniform(rng, 2 * D * D, -s, s);
  l.v_w = uniform(rng, D * D, -s, s);
  l.proj_w = uniform(rng, D * D, -s, s);
  l.proj_b = uniform(rng, D, -s, s);
  if (qkv_bias) {
    l.qk_b = uniform(rng, 2 * D, -s, s);
    l.v_b = uniform(rng, D, -s, s);
  }
  l.pos_w = uniform(rng, 3 * H, -2.0f, 2.0f);
  for (std::size_t h = 0; h < H; ++h) l.pos_w[3 * h + 2] = -std::abs(l.pos_w[3 * h + 2]);
  l.pos_b = uniform(rng, H, -1.0f, 1.0f);
  l.gating = uniform(rng, H, -3.0f, 3.0f);
  return l;
}

inline dvec to_d(const fvec& v) { return dvec(v.begin(), v.end()); }

// softmax of each row (rows x cols), max-subtracted.
inline void softmax_rows(dvec& x, std::size_t rows, std::size_t cols) {
  for (std::size_t i = 0; i < rows; ++i) {
    double* r = x.data() + i * cols;
    const double m = *std::max_element(r, r + cols);
    double s = 0;
    for (std::size_t j = 0; j < cols; ++j) s += (r[j] = std::exp(r[j] - m));
    for (std::size_t j = 0; j < cols; ++j) r[j] /= s;
  }
}

// P[h,p,q] from the formula, (H,N,N), grid R x C.
inline dvec pos_logits(std::size_t R, std::size_t C, std::size_t H, const fvec& w, const fvec& b) {
  const std::size_t N = R * C;
  dvec P(H * N * N);
  for (std::size_t h = 0; h < H; ++h)
    for (std::size_t p = 0; p < N; ++p)
      for (std::size_t q = 0; q < N; ++q) {
        const double dx = double(q % C) - double(p % C), dy = double(q / C) - double(p / C);
        P[(h * N + p) * N + q] = double(w[3 * h]) * dx + double(w[3 * h + 1]) * dy +
                                 double(w[3 * h + 2]) * (dx * dx + dy * dy) +
                                 (b.empty() ? 0.0 : double(b[h]));
      }
  return P;
}

inline dvec pos_attention(std::size_t R, std::size_t C, std::size_t H, const fvec& w,
                          const fvec& b) {
  dvec P = pos_logits(R, C, H, w, b);
  softmax_rows(P, H * R * C, R * C);
  return P;
}

inline double sigmoid(double g) { return 1.0 / (1.0 + std::exp(-g)); }

// y = x W^T + b for rows of x (m x k), W (n x k).
inline dvec linear(const dvec& x, std::size_t m, std::size_t k, const fvec& w, std::size_t n,
                   const fvec& b) {
  dvec y(m * n);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      double s = b.empty() ? 0.0 : double(b[j]);
      for (std::size_t t = 0; t < k; ++t) s += x[i * k + t] * double(w[j * k + t]);
      y[i * n + j] = s;
    }
  return y;
}

// GPSA forward in float64: returns y (B,N,D); attn (B,H,N,N) into *attn when non-null.
inline dvec forward(const rand_layer& l, std::size_t R, std::size_t C, const fvec& xf,
                    std::size_t B, dvec* attn_out) {
  const std::size_t N = R * C, D = l.D, H = l.H, d = D / H;
  const dvec x = to_d(xf);
  const dvec pos = pos_attention(R, C, H, l.pos_w, l.pos_b);
  const double scale = 1.0 / std::sqrt(double(d));
  dvec y(B * N * D), attn(B * H * N * N);
  for (std::size_t b = 0; b < B; ++b) {
    const dvec xb(x.begin() + b * N * D, x.begin() + (b + 1) * N * D);
    const dvec qk = linear(xb, N, D, l.qk_w, 2 * D, l.qk_b);
    const dvec v = linear(xb, N, D, l.v_w, D, l.v_b);
    dvec o(N * D, 0.0);
    for (std::size_t h = 0; h < H; ++h) {
      dvec c(N * N);
      for (std::size_t p = 0; p < N; ++p)
        for (std::size_t q = 0; q < N; ++q) {
          double s = 0;
          for (std::size_t t = 0; t < d; ++t)
            s += qk[p * 2 * D + h * d + t] * qk[q * 2 * D + D + h * d + t];
          c[p * N + q] = s * scale;
        }
      softmax_rows(c, N, N);
      const double lam = sigmoid(double(l.gating[h]));
      double* a = attn.data() + (b * H + h) * N * N;
      for (std::size_t p = 0; p < N; ++p) {
        double sum = 0;
        for (std::size_t q = 0; q < N; ++q)
          sum += (a[p * N + q] = (1 - lam) * c[p * N + q] + lam * pos[(h * N + p) * N + q]);
        for (std::size_t q = 0; q < N; ++q) a[p * N + q] /= sum;
      }
      for (std::size_t p = 0; p < N; ++p)
        for (std::size_t t = 0; t < d; ++t) {
          double s = 0;
          for (std::size_t q = 0; q < N; ++q) s += a[p * N + q] * v[q * D + h * d + t];
          o[p * D + h * d + t] = s;
        }
    }
    const dvec yb = linear(o, N, D, l.proj_w, D, l.proj_b);
    std::copy(yb.begin(), yb.end(), y.begin() + b * N * D);
  }
  if (attn_out != nullptr) *attn_out = attn;
  return y;
}

// dist[h] = (1/N) sum_pq sqrt(dx^2+dy^2) mean_b attn[b,h,p,q].
template <class T>
dvec dist(std::size_t R, std::size_t C, std::size_t H, std::size_t B, const std::vector<T>& attn) {
  const std::size_t N = R * C;
  dvec out(H, 0.0);
  for (std::size_t h = 0; h < H; ++h) {
    double s = 0;
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t p = 0; p < N; ++p)
        for (std::size_t q = 0; q < N; ++q) {
          const double dx = double(q % C) - double(p % C), dy = double(q / C) - double(p / C);
          s += std::sqrt(dx * dx + dy * dy) * double(attn[((b * H + h) * N + p) * N + q]);
        }
    out[h] = s / double(B) / double(N);
  }
  return out;
}

}  // namespace gpsa_test
