// SPDX-License-Identifier: MIT
// An independent float64 ConViT forward for the tests, written straight from timm's ConViT math
// (docs/DESIGN.md §8) with plain loops: direct convolution, dense positional softmax from the
// relative offsets, PyTorch's gating order and renormalisation, std::erf GELU. It shares no code
// with gpsa (no GEMM, no fold, no kernels), so agreement is evidence, not a tautology.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace convit_ref {

struct config {
  std::size_t image = 0, patch = 0, channels = 3, dim = 0, heads = 0, depth = 0, local = 0,
              hidden = 0, classes = 0;
  double eps = 1e-6;
};

using tensors = std::map<std::string, std::vector<float>>;  // timm keys -> values

struct result {
  std::vector<double> logits;    // (B, classes)
  std::vector<double> features;  // (B, T, D)
};

namespace detail {

inline const std::vector<float>& at(const tensors& t, const std::string& k) {
  const auto it = t.find(k);
  if (it == t.end()) throw std::runtime_error("reference: missing " + k);
  return it->second;
}

// Dot product with four accumulators (keeps the scalar loop throughput-bound, not latency-bound).
inline double dot(const double* a, const float* b, std::size_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const std::size_t n4 = n - n % 4;
  std::size_t i = 0;
  for (; i < n4; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

inline double dot(const double* a, const double* b, std::size_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const std::size_t n4 = n - n % 4;
  std::size_t i = 0;
  for (; i < n4; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

// y (rows, out) = x (rows, in) W^T + b, W (out, in).
inline std::vector<double> linear(const std::vector<double>& x, std::size_t rows, std::size_t in,
                                  const std::vector<float>& w, const std::vector<float>* b,
                                  std::size_t out) {
  std::vector<double> y(rows * out);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t o = 0; o < out; ++o)
      y[r * out + o] = dot(&x[r * in], &w[o * in], in) + (b != nullptr ? (*b)[o] : 0.0);
  return y;
}

inline std::vector<double> layer_norm(const std::vector<double>& x, std::size_t rows, std::size_t d,
                                      const std::vector<float>& w, const std::vector<float>& b,
                                      double eps) {
  std::vector<double> y(x.size());
  for (std::size_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (std::size_t j = 0; j < d; ++j) mean += x[r * d + j];
    mean /= static_cast<double>(d);
    for (std::size_t j = 0; j < d; ++j) var += (x[r * d + j] - mean) * (x[r * d + j] - mean);
    var /= static_cast<double>(d);
    for (std::size_t j = 0; j < d; ++j)
      y[r * d + j] = (x[r * d + j] - mean) / std::sqrt(var + eps) * w[j] + b[j];
  }
  return y;
}

inline void softmax(double* row, std::size_t n) {
  double m = row[0], s = 0;
  for (std::size_t j = 1; j < n; ++j) m = std::max(m, row[j]);
  for (std::size_t j = 0; j < n; ++j) s += (row[j] = std::exp(row[j] - m));
  for (std::size_t j = 0; j < n; ++j) row[j] /= s;
}

// Attention of one item: q, k, v (T, D) with heads in column blocks; returns (T, D) before proj.
// pos: nullptr for MHSA, else the GPSA's (H, T, T) positional softmax and gates.
// dist: null, or H sums that get each head's (1/T) sum_i sum_j |j - i| attn[i, j] added, the
// distance between patches i and j of a grid x grid image (GPSA only).
inline std::vector<double> attend(const double* q, const double* k, const double* v, std::size_t T,
                                  std::size_t D, std::size_t H, const std::vector<double>* pos,
                                  const std::vector<float>* gating, double* dist = nullptr,
                                  std::size_t grid = 0) {
  const std::size_t d = D / H;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<double> out(T * D, 0.0), qh(d), kh(T * d), row(T);
  for (std::size_t h = 0; h < H; ++h) {
    for (std::size_t j = 0; j < T; ++j)
      for (std::size_t c = 0; c < d; ++c) kh[j * d + c] = k[j * D + h * d + c];
    const double lam = gating != nullptr ? 1.0 / (1.0 + std::exp(-double((*gating)[h]))) : 0.0;
    for (std::size_t i = 0; i < T; ++i) {
      for (std::size_t c = 0; c < d; ++c) qh[c] = q[i * D + h * d + c];
      for (std::size_t j = 0; j < T; ++j) row[j] = dot(qh.data(), &kh[j * d], d) * scale;
      softmax(row.data(), T);
      if (pos != nullptr) {
        double s = 0;
        for (std::size_t j = 0; j < T; ++j) {
          row[j] = (1.0 - lam) * row[j] + lam * (*pos)[(h * T + i) * T + j];
          s += row[j];
        }
        for (std::size_t j = 0; j < T; ++j) row[j] /= s;
        if (dist != nullptr)
          for (std::size_t j = 0; j < T; ++j) {
            const double dx = double(j % grid) - double(i % grid);
            const double dy = double(j / grid) - double(i / grid);
            dist[h] += std::sqrt(dx * dx + dy * dy) * row[j] / static_cast<double>(T);
          }
      }
      for (std::size_t j = 0; j < T; ++j)
        for (std::size_t c = 0; c < d; ++c) out[i * D + h * d + c] += row[j] * v[j * D + h * d + c];
    }
  }
  return out;
}

}  // namespace detail

// The whole model in float64 for `batch` images (B, C, S, S). gpsa_distances: null, or receives
// (local, H) the nonlocality of every GPSA block's attention (timm's get_attention_map: mean
// distance in patches, averaged over the batch).
inline result forward(const config& c, const tensors& t, const std::vector<float>& images,
                      std::size_t batch, std::vector<double>* gpsa_distances = nullptr) {
  using namespace detail;
  const std::size_t S = c.image, p = c.patch, G = S / p, N = G * G, D = c.dim, H = c.heads;
  const std::size_t M = c.hidden;
  const bool cls = c.local < c.depth;
  const std::size_t T = N + (cls ? 1 : 0);
  result res;
  res.logits.assign(batch * c.classes, 0.0);
  res.features.assign(batch * T * D, 0.0);
  if (gpsa_distances != nullptr) gpsa_distances->assign(c.local * H, 0.0);

  // Positional softmax of every GPSA block, from the offsets (dx, dy) of key q from query p.
  std::vector<std::vector<double>> pos(c.local);
  for (std::size_t l = 0; l < c.local; ++l) {
    const auto& w = at(t, "blocks." + std::to_string(l) + ".attn.pos_proj.weight");
    const auto& b = at(t, "blocks." + std::to_string(l) + ".attn.pos_proj.bias");
    pos[l].assign(H * N * N, 0.0);
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t i = 0; i < N; ++i) {
        double* row = &pos[l][(h * N + i) * N];
        for (std::size_t j = 0; j < N; ++j) {
          const double dx = double(j % G) - double(i % G), dy = double(j / G) - double(i / G);
          row[j] = w[h * 3] * dx + w[h * 3 + 1] * dy + w[h * 3 + 2] * (dx * dx + dy * dy) + b[h];
        }
        softmax(row, N);
      }
  }

  for (std::size_t bi = 0; bi < batch; ++bi) {
    const float* img = &images[bi * c.channels * S * S];
    // Patch embedding: direct convolution, kernel p, stride p; then pos_embed.
    const auto& pw = at(t, "patch_embed.proj.weight");
    const auto& pb = at(t, "patch_embed.proj.bias");
    const auto& pe = at(t, "pos_embed");
    std::vector<double> x(N * D);
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t o = 0; o < D; ++o) {
        double s = pb[o];
        for (std::size_t ch = 0; ch < c.channels; ++ch)
          for (std::size_t ky = 0; ky < p; ++ky)
            for (std::size_t kx = 0; kx < p; ++kx)
              s += double(pw[((o * c.channels + ch) * p + ky) * p + kx]) *
                   img[(ch * S + (n / G) * p + ky) * S + (n % G) * p + kx];
        x[n * D + o] = s + pe[n * D + o];
      }
    std::size_t tok = N;
    for (std::size_t l = 0; l < c.depth; ++l) {
      const std::string k = "blocks." + std::to_string(l) + ".";
      if (l == c.local) {
        const auto& ct = at(t, "cls_token");
        std::vector<double> nx(ct.begin(), ct.end());
        nx.insert(nx.end(), x.begin(), x.end());
        x.swap(nx);
        tok = N + 1;
      }
      const auto h1 =
          layer_norm(x, tok, D, at(t, k + "norm1.weight"), at(t, k + "norm1.bias"), c.eps);
      std::vector<double> a;
      if (l < c.local) {
        const auto qkb = t.count(k + "attn.qk.bias") ? &at(t, k + "attn.qk.bias") : nullptr;
        const auto vb = t.count(k + "attn.v.bias") ? &at(t, k + "attn.v.bias") : nullptr;
        const auto qk = linear(h1, tok, D, at(t, k + "attn.qk.weight"), qkb, 2 * D);
        const auto v = linear(h1, tok, D, at(t, k + "attn.v.weight"), vb, D);
        std::vector<double> q(tok * D), kk(tok * D);
        for (std::size_t i = 0; i < tok; ++i)
          for (std::size_t j = 0; j < D; ++j) {
            q[i * D + j] = qk[i * 2 * D + j];
            kk[i * D + j] = qk[i * 2 * D + D + j];
          }
        const auto& g = at(t, k + "attn.gating_param");
        a = attend(q.data(), kk.data(), v.data(), tok, D, H, &pos[l], &g,
                   gpsa_distances != nullptr ? &(*gpsa_distances)[l * H] : nullptr, G);
      } else {
        const auto qb = t.count(k + "attn.qkv.bias") ? &at(t, k + "attn.qkv.bias") : nullptr;
        const auto qkv = linear(h1, tok, D, at(t, k + "attn.qkv.weight"), qb, 3 * D);
        std::vector<double> q(tok * D), kk(tok * D), v(tok * D);
        for (std::size_t i = 0; i < tok; ++i)
          for (std::size_t j = 0; j < D; ++j) {
            q[i * D + j] = qkv[i * 3 * D + j];
            kk[i * D + j] = qkv[i * 3 * D + D + j];
            v[i * D + j] = qkv[i * 3 * D + 2 * D + j];
          }
        a = attend(q.data(), kk.data(), v.data(), tok, D, H, nullptr, nullptr);
      }
      const auto& prb = at(t, k + "attn.proj.bias");
      const auto pr = linear(a, tok, D, at(t, k + "attn.proj.weight"), &prb, D);
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += pr[i];
      const auto h2 =
          layer_norm(x, tok, D, at(t, k + "norm2.weight"), at(t, k + "norm2.bias"), c.eps);
      const auto& f1b = at(t, k + "mlp.fc1.bias");
      auto hid = linear(h2, tok, D, at(t, k + "mlp.fc1.weight"), &f1b, M);
      for (auto& u : hid) u = 0.5 * u * (1.0 + std::erf(u / std::sqrt(2.0)));
      const auto& f2b = at(t, k + "mlp.fc2.bias");
      const auto m = linear(hid, tok, M, at(t, k + "mlp.fc2.weight"), &f2b, D);
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += m[i];
    }
    const auto f = layer_norm(x, tok, D, at(t, "norm.weight"), at(t, "norm.bias"), c.eps);
    for (std::size_t i = 0; i < tok * D; ++i) res.features[bi * T * D + i] = f[i];
    const auto& hb = at(t, "head.bias");
    const auto lg = linear(std::vector<double>(f.begin(), f.begin() + D), 1, D,
                           at(t, "head.weight"), &hb, c.classes);
    for (std::size_t j = 0; j < c.classes; ++j) res.logits[bi * c.classes + j] = lg[j];
  }
  if (gpsa_distances != nullptr)
    for (double& d : *gpsa_distances) d /= static_cast<double>(batch);
  return res;
}

}  // namespace convit_ref
