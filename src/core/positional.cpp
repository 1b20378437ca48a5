// SPDX-License-Identifier: MIT
// GPSA positional branch (dense logits and softmax; the separable factors: gpsa/core/fold.hpp),
// local_init and the nonlocality metrics (gpsa/core/positional.hpp).
#include "gpsa/core/positional.hpp"

#include <cstddef>
#include <cstring>

#include "gpsa/detail/constexpr_math.hpp"
#include "linalg_impl.hpp"

namespace gpsa {
namespace {

using detail::checked_mul;

// One logit, evaluated in double and rounded once, so the offset path and the table path
// give bit-identical floats whatever order a compiler picks.
inline float logit(const float* w, float b, double dx, double dy) noexcept {
  const double v = static_cast<double>(w[0]) * dx + static_cast<double>(w[1]) * dy +
                   static_cast<double>(w[2]) * (dx * dx + dy * dy) + static_cast<double>(b);
  return static_cast<float>(v);
}

inline float bias_of(std::span<const float> bias, std::size_t h) noexcept {
  return bias.empty() ? 0.0f : bias[h];
}

// The checks every dense entry point shares: the sizes of weight, bias and out.
status check_dense(grid g, std::size_t heads, std::span<const float> weight,
                   std::span<const float> bias, std::span<float> out) noexcept;

// The distance of offset (dx, dy), the one formula both nonlocality metrics weigh by.
inline double offset_distance(double dx, double dy) noexcept {
  return detail::runtime_sqrt(dx * dx + dy * dy);
}

// H*N*N with overflow checks.
status dense_count(grid g, std::size_t heads, std::size_t& count) noexcept {
  if (g.empty()) return status::empty_grid;
  if (heads == 0) return status::invalid_argument;
  std::size_t n = 0, nn = 0, c = 0;
  if (!checked_mul(g.rows, g.cols, n) || !checked_mul(n, n, nn) || !checked_mul(nn, heads, c))
    return status::size_overflow;
  count = c;
  return status::ok;
}

status check_dense(grid g, std::size_t heads, std::span<const float> weight,
                   std::span<const float> bias, std::span<float> out) noexcept {
  std::size_t count = 0;
  if (const status s = dense_count(g, heads, count); s != status::ok) return s;
  if (weight.size() / 3 != heads || weight.size() % 3 != 0 ||
      (!bias.empty() && bias.size() != heads))
    return status::shape_mismatch;
  if (weight.data() == nullptr || out.data() == nullptr) return status::invalid_argument;
  if (out.size() < count) return status::buffer_too_small;
  return status::ok;
}

}  // namespace

status pos_logits_size(grid g, std::size_t heads, std::size_t& floats) noexcept {
  return dense_count(g, heads, floats);
}

status pos_logits(grid g, std::size_t heads, std::span<const float> weight,
                  std::span<const float> bias, std::span<float> out) noexcept {
  if (const status s = check_dense(g, heads, weight, bias, out); s != status::ok) return s;
  const std::size_t R = g.rows, C = g.cols, N = R * C;
  for (std::size_t h = 0; h < heads; ++h) {
    const float* w = weight.data() + 3 * h;
    const float b = bias_of(bias, h);
    float* ph = out.data() + h * N * N;
    for (std::size_t yp = 0; yp < R; ++yp) {
      for (std::size_t xp = 0; xp < C; ++xp) {
        float* row = ph + (yp * C + xp) * N;
        // Query (yp, xp) sees key block yq exactly as query (yp-1, xp) sees block yq-1
        // (same dx, same dy): compute key block 0 (all blocks for yp == 0), copy the rest.
        const std::size_t blocks = yp == 0 ? R : 1;
        for (std::size_t yq = 0; yq < blocks; ++yq)
          for (std::size_t xq = 0; xq < C; ++xq)
            row[yq * C + xq] = logit(w, b, static_cast<double>(xq) - static_cast<double>(xp),
                                     static_cast<double>(yq) - static_cast<double>(yp));
        if (yp > 0) std::memcpy(row + C, row - C * N, sizeof(float) * C * (R - 1));
      }
    }
  }
  return status::ok;
}

status pos_logits_from_table(rel_view<float> table, std::size_t heads,
                             std::span<const float> weight, std::span<const float> bias,
                             std::span<float> out) noexcept {
  if (const status s = check_dense(table.shape, heads, weight, bias, out); s != status::ok)
    return s;
  if (table.values == nullptr) return status::invalid_argument;
  const std::size_t NN = table.patches() * table.patches();
  for (std::size_t h = 0; h < heads; ++h) {
    const float* w = weight.data() + 3 * h;
    const float b = bias_of(bias, h);
    float* ph = out.data() + h * NN;
    const float* t = table.values;
    for (std::size_t i = 0; i < NN; ++i) {
      // channel 2 of the table is dx^2+dy^2; use it as stored, like pos_proj does.
      const double v = static_cast<double>(w[0]) * static_cast<double>(t[3 * i]) +
                       static_cast<double>(w[1]) * static_cast<double>(t[3 * i + 1]) +
                       static_cast<double>(w[2]) * static_cast<double>(t[3 * i + 2]) +
                       static_cast<double>(b);
      ph[i] = static_cast<float>(v);
    }
  }
  return status::ok;
}

status pos_attention(grid g, std::size_t heads, std::span<const float> weight,
                     std::span<const float> bias, std::span<float> out) noexcept {
  if (const status s = pos_logits(g, heads, weight, bias, out); s != status::ok) return s;
  const std::size_t N = g.patches();
  detail::softmax_rows_unchecked(heads * N, N, out.data(), N);
  return status::ok;
}

status pos_attention_from_table(rel_view<float> table, std::size_t heads,
                                std::span<const float> weight, std::span<const float> bias,
                                std::span<float> out) noexcept {
  if (const status s = pos_logits_from_table(table, heads, weight, bias, out); s != status::ok)
    return s;
  const std::size_t N = table.patches();
  detail::softmax_rows_unchecked(heads * N, N, out.data(), N);
  return status::ok;
}

status local_init(std::size_t heads, float alpha, std::span<float> pos_proj_weight) noexcept {
  if (heads == 0 || pos_proj_weight.data() == nullptr) return status::invalid_argument;
  if (heads > pos_proj_weight.size() / 3) return status::buffer_too_small;
  const std::size_t K = detail::isqrt(heads);
  // 2(h - c) with c = (K-1)/2 is the integer 2h - (K-1), exact in float at any K.
  const auto twice_offset = [K](std::size_t h) {
    return static_cast<float>(2 * static_cast<long long>(h) - static_cast<long long>(K - 1));
  };
  float* w = pos_proj_weight.data();
  for (std::size_t h1 = 0; h1 < K; ++h1) {
    for (std::size_t h2 = 0; h2 < K; ++h2) {
      float* row = w + 3 * (h1 + K * h2);
      row[0] = twice_offset(h2);
      row[1] = twice_offset(h1);
      row[2] = -1.0f;
    }
  }
  // timm: pos_proj.weight.data *= locality_strength -- every head, those past K*K included.
  for (std::size_t i = 0; i < 3 * heads; ++i) w[i] *= alpha;
  return status::ok;
}

status identity_init(std::size_t dim, std::span<float> v_weight) noexcept {
  if (dim == 0 || v_weight.data() == nullptr) return status::invalid_argument;
  std::size_t dd = 0;
  if (!checked_mul(dim, dim, dd)) return status::size_overflow;
  if (v_weight.size() < dd) return status::buffer_too_small;
  for (std::size_t i = 0; i < dd; ++i) v_weight[i] = 0.0f;
  for (std::size_t i = 0; i < dim; ++i) v_weight[i * dim + i] = 1.0f;
  return status::ok;
}

status local_init(std::size_t heads, float alpha, std::size_t dim, std::span<float> pos_proj_weight,
                  std::span<float> v_weight) noexcept {
  // Check both outputs before writing either, so a failure changes nothing.
  if (heads == 0 || dim == 0 || pos_proj_weight.data() == nullptr || v_weight.data() == nullptr)
    return status::invalid_argument;
  std::size_t dd = 0;
  if (!checked_mul(dim, dim, dd)) return status::size_overflow;
  if (heads > pos_proj_weight.size() / 3 || v_weight.size() < dd) return status::buffer_too_small;
  if (const status s = local_init(heads, alpha, pos_proj_weight); s != status::ok) return s;
  return identity_init(dim, v_weight);
}

status nonlocality(grid g, std::size_t heads, std::size_t batch, std::span<const float> attn_all,
                   std::span<float> dist) noexcept {
  std::size_t count = 0, total = 0;
  if (const status s = dense_count(g, heads, count); s != status::ok) return s;
  if (batch == 0 || attn_all.data() == nullptr || dist.data() == nullptr)
    return status::invalid_argument;
  if (!checked_mul(count, batch, total)) return status::size_overflow;
  if (attn_all.size() != total) return status::shape_mismatch;
  if (dist.size() < heads) return status::buffer_too_small;
  const float* attn = attn_all.data();
  const std::size_t R = g.rows, C = g.cols, N = R * C;
  if (N == 1) {  // PyTorch's squeeze() breaks here; the only distance is 0
    for (std::size_t h = 0; h < heads; ++h) dist[h] = 0.0f;
    return status::ok;
  }
  for (std::size_t h = 0; h < heads; ++h) {
    double acc = 0.0;
    for (std::size_t p = 0; p < N; ++p) {
      const double xp = static_cast<double>(p % C), yp = static_cast<double>(p / C);
      for (std::size_t q = 0; q < N; ++q) {
        const double dx = static_cast<double>(q % C) - xp, dy = static_cast<double>(q / C) - yp;
        const double r = offset_distance(dx, dy);
        double a = 0.0;
        for (std::size_t b = 0; b < batch; ++b)
          a += static_cast<double>(attn[((b * heads + h) * N + p) * N + q]);
        acc += r * a;
      }
    }
    dist[h] = static_cast<float>(acc / (static_cast<double>(batch) * static_cast<double>(N)));
  }
  return status::ok;
}

status positional_nonlocality(const folded_view& f, std::span<float> dist) noexcept {
  if (const status s = validate(f); s != status::ok) return s;
  if (dist.size() < f.heads || dist.data() == nullptr) return status::buffer_too_small;
  const std::size_t R = f.shape.rows, C = f.shape.cols;
  // position[h, p, q] = gy[h, yp, yq] * fx[h, xp, xq], so the sum over (p, q) runs over the
  // four coordinates; the distance depends on |xq - xp| and |yq - yp| only.
  for (std::size_t h = 0; h < f.heads; ++h) {
    double sum = 0;
    for (std::size_t yp = 0; yp < R; ++yp)
      for (std::size_t yq = 0; yq < R; ++yq) {
        const double dy = static_cast<double>(yq) - static_cast<double>(yp);
        const double gy = static_cast<double>(f.gy_at(h, yp, yq));
        double row = 0;
        for (std::size_t xp = 0; xp < C; ++xp)
          for (std::size_t xq = 0; xq < C; ++xq) {
            const double dx = static_cast<double>(xq) - static_cast<double>(xp);
            row += offset_distance(dx, dy) * static_cast<double>(f.fx_at(h, xp, xq));
          }
        sum += gy * row;
      }
    dist[h] = static_cast<float>(sum / static_cast<double>(R * C));
  }
  return status::ok;
}

}  // namespace gpsa
