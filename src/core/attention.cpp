// GPSA gated attention and layer forward on caller-owned buffers (GEMMs and softmax from linalg).
#include <cmath>
#include <cstddef>
#include <cstring>

#include "gpsa/attention.hpp"
#include "gpsa/linalg.hpp"

namespace gpsa {
namespace {

using detail::mul_overflows;

// a*b*c with overflow checks.
bool mul3(std::size_t a, std::size_t b, std::size_t c, std::size_t& out) noexcept {
  std::size_t ab = 0;
  return !mul_overflows(a, b, ab) && !mul_overflows(ab, c, out);
}

bool add(std::size_t a, std::size_t b, std::size_t& out) noexcept {
  if (a > static_cast<std::size_t>(-1) - b) return false;
  out = a + b;
  return true;
}

// out (m x n, stride ldo) = in (m x k, stride ldi) W^T + b, W (n x k) row-major; like
// nn.Linear's addmm, the bias is the GEMM's initial C.
void linear(std::size_t m, std::size_t n, std::size_t k, const float* in, std::size_t ldi,
            const float* weight, const float* bias, float* out, std::size_t ldo) noexcept {
  float beta = 0.0f;
  if (bias != nullptr) {
    for (std::size_t i = 0; i < m; ++i) std::memcpy(out + i * ldo, bias, sizeof(float) * n);
    beta = 1.0f;
  }
  gemm(false, true, m, n, k, 1.0f, in, ldi, weight, k, beta, out, ldo);
}

// Sum of a row: eight independent float lanes (vectorisable, no long dependency chain),
// combined in double. Rows are probability rows, so the lanes never lose precision that matters.
inline float row_sum(const float* row, std::size_t n) noexcept {
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (std::size_t l = 0; l < 8; ++l) lane[l] += row[j + l];
  double s = 0.0;
  for (; j < n; ++j) s += row[j];
  for (float v : lane) s += v;
  return static_cast<float>(s);
}

// Divides a row by its sum (PyTorch: attn /= attn.sum(-1)), a true division as PyTorch does.
inline void renormalise(float* row, std::size_t n) noexcept {
  const float sum = row_sum(row, n);
  for (std::size_t j = 0; j < n; ++j) row[j] /= sum;
}

void blend_dense(std::size_t rows, std::size_t cols, float lam, float oml, float* attn,
                 std::size_t lda, const float* pos, std::size_t ldp) noexcept {
  for (std::size_t i = 0; i < rows; ++i) {
    float* a = attn + i * lda;
    const float* p = pos + i * ldp;
    for (std::size_t j = 0; j < cols; ++j) a[j] = oml * a[j] + lam * p[j];
    renormalise(a, cols);
  }
}

void blend_factored(std::size_t R, std::size_t C, float lam, float oml, float* attn,
                    const float* fx, const float* gy) noexcept {
  const std::size_t N = R * C;
  for (std::size_t p = 0; p < N; ++p) {
    float* a = attn + p * N;
    const float* frow = fx + (p % C) * C;
    const float* grow = gy + (p / C) * R;
    for (std::size_t yq = 0; yq < R; ++yq) {
      float* ab = a + yq * C;
      const float gv = grow[yq];
      // position = gy * fx first, so this equals blend_dense on the expanded factors bit for bit
      for (std::size_t xq = 0; xq < C; ++xq) ab[xq] = oml * ab[xq] + lam * (gv * frow[xq]);
    }
    renormalise(a, N);
  }
}

void blend_head(const pos_branch& pos, std::size_t h, float gating, float* attn) noexcept {
  const std::size_t R = pos.shape.rows, C = pos.shape.cols, N = R * C;
  const float lam = gate_lambda(gating), oml = gate_one_minus_lambda(gating);
  if (pos.dense != nullptr)
    blend_dense(N, N, lam, oml, attn, N, pos.dense + h * N * N, N);
  else
    blend_factored(R, C, lam, oml, attn, pos.fx + h * C * C, pos.gy + h * R * R);
}

status check_pos(const pos_branch& pos, grid g, std::size_t heads) noexcept {
  if (!(pos.shape == g) || pos.heads != heads) return status::shape_mismatch;
  if (pos.dense == nullptr && (pos.fx == nullptr || pos.gy == nullptr))
    return status::invalid_argument;
  return status::ok;
}

// Floats of the factors kernels compute themselves when no pos_branch is given.
status factor_floats(grid g, std::size_t heads, std::size_t& floats) noexcept {
  std::size_t fx = 0, gy = 0;
  if (const status s = pos_factors_count(g, heads, fx, gy); s != status::ok) return s;
  if (!add(fx, gy, floats)) return status::size_overflow;
  return status::ok;
}

// Common checks of gpsa_attention / gpsa_forward; fills N and validates pos.
status check_layer(const gpsa_weights& w, grid g, const pos_branch* pos) noexcept {
  if (const status s = validate(w); s != status::ok) return s;
  if (g.empty()) return status::empty_grid;
  if (pos != nullptr) return check_pos(*pos, g, w.heads);
  return status::ok;
}

// Uses the caller's pos or computes the factors into `tail` of scratch.
status resolve_pos(const gpsa_weights& w, grid g, const pos_branch* pos, float* tail,
                   pos_branch& out) noexcept {
  if (pos != nullptr) {
    out = *pos;
    return status::ok;
  }
  std::size_t fx = 0, gy = 0;
  if (const status s = pos_factors_count(g, w.heads, fx, gy); s != status::ok) return s;
  if (const status s = pos_factors(g, w.heads, w.pos_proj_weight, {tail, fx}, {tail + fx, gy});
      s != status::ok)
    return s;
  out = pos_branch{g, w.heads, nullptr, tail, tail + fx};
  return status::ok;
}

}  // namespace

status validate(const gpsa_weights& w) noexcept {
  if (w.heads == 0 || w.dim == 0 || w.dim % w.heads != 0) return status::invalid_argument;
  if (w.qk_weight == nullptr || w.v_weight == nullptr || w.proj_weight == nullptr ||
      w.pos_proj_weight == nullptr || w.gating_param == nullptr)
    return status::invalid_argument;
  std::size_t dd = 0;
  if (mul3(w.dim, w.dim, 3, dd) == false) return status::size_overflow;
  return status::ok;
}

float head_scale(std::size_t head_dim) noexcept {
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
}

float gate_lambda(float gating) noexcept {
  // sigmoid without overflow: exp of a non-positive argument only.
  const double g = gating;
  if (g >= 0.0) return static_cast<float>(1.0 / (1.0 + std::exp(-g)));
  const double e = std::exp(g);  // also NaN -> NaN
  return static_cast<float>(e / (1.0 + e));
}

float gate_one_minus_lambda(float gating) noexcept { return gate_lambda(-gating); }

status content_attention(std::size_t nq, std::size_t nk, std::size_t d, const float* q,
                         std::size_t ldq, const float* k, std::size_t ldk, float scale, float* out,
                         std::size_t ldo) noexcept {
  if (nq == 0 || nk == 0) return status::ok;
  if (q == nullptr || k == nullptr || out == nullptr) return status::invalid_argument;
  if (ldq < d || ldk < d || ldo < nk) return status::invalid_argument;
  gemm(false, true, nq, nk, d, scale, q, ldq, k, ldk, 0.0f, out, ldo);
  softmax_rows(out, nq, nk, ldo);
  return status::ok;
}

status gate_blend(std::size_t rows, std::size_t cols, float gating, float* attn,
                  std::size_t ld_attn, const float* position, std::size_t ld_pos) noexcept {
  if (rows == 0 || cols == 0) return status::ok;
  if (attn == nullptr || position == nullptr || ld_attn < cols || ld_pos < cols)
    return status::invalid_argument;
  blend_dense(rows, cols, gate_lambda(gating), gate_one_minus_lambda(gating), attn, ld_attn,
              position, ld_pos);
  return status::ok;
}

status gate_blend_factored(grid g, float gating, float* attn, const float* fx_h,
                           const float* gy_h) noexcept {
  if (g.empty()) return status::empty_grid;
  if (attn == nullptr || fx_h == nullptr || gy_h == nullptr) return status::invalid_argument;
  blend_factored(g.rows, g.cols, gate_lambda(gating), gate_one_minus_lambda(gating), attn, fx_h,
                 gy_h);
  return status::ok;
}

status attention_scratch_size(const gpsa_weights& w, grid g, std::size_t batch, bool with_pos,
                              std::size_t& floats) noexcept {
  (void)batch;  // one item at a time
  if (const status s = check_layer(w, g, nullptr); s != status::ok) return s;
  std::size_t qk = 0, extra = 0, total = 0;
  if (!mul3(g.patches(), w.dim, 2, qk)) return status::size_overflow;
  if (!with_pos)
    if (const status s = factor_floats(g, w.heads, extra); s != status::ok) return s;
  if (!add(qk, extra, total)) return status::size_overflow;
  floats = total;
  return status::ok;
}

status forward_scratch_size(const gpsa_weights& w, grid g, std::size_t batch, bool with_pos,
                            std::size_t& floats) noexcept {
  if (const status s = check_layer(w, g, nullptr); s != status::ok) return s;
  std::size_t N = 0, bn = 0, qkv = 0, nn = 0, extra = 0, total = 0;
  if (mul_overflows(g.rows, g.cols, N) || mul_overflows(batch, N, bn) || !mul3(bn, w.dim, 3, qkv) ||
      mul_overflows(N, N, nn) || !add(qkv, nn, total))
    return status::size_overflow;
  if (!with_pos)
    if (const status s = factor_floats(g, w.heads, extra); s != status::ok) return s;
  if (!add(total, extra, total)) return status::size_overflow;
  floats = total;
  return status::ok;
}

status gpsa_attention(const gpsa_weights& w, grid g, std::size_t batch, const float* x, float* attn,
                      const pos_branch* pos, std::span<float> scratch) noexcept {
  if (const status s = check_layer(w, g, pos); s != status::ok) return s;
  if (batch == 0) return status::ok;
  if (x == nullptr || attn == nullptr) return status::invalid_argument;
  std::size_t need = 0;
  if (const status s = attention_scratch_size(w, g, batch, pos != nullptr, need); s != status::ok)
    return s;
  std::size_t total = 0;
  if (!mul3(batch, w.heads, g.patches() * g.patches(), total)) return status::size_overflow;
  if (scratch.size() < need || scratch.data() == nullptr) return status::buffer_too_small;

  const std::size_t N = g.patches(), D = w.dim, H = w.heads, d = w.head_dim();
  float* qk = scratch.data();
  pos_branch pb{};
  if (const status s = resolve_pos(w, g, pos, qk + 2 * N * D, pb); s != status::ok) return s;
  const float scale = head_scale(d);
  for (std::size_t b = 0; b < batch; ++b) {
    linear(N, 2 * D, D, x + b * N * D, D, w.qk_weight, w.qk_bias, qk, 2 * D);
    for (std::size_t h = 0; h < H; ++h) {
      float* a = attn + (b * H + h) * N * N;
      content_attention(N, N, d, qk + h * d, 2 * D, qk + D + h * d, 2 * D, scale, a, N);
      blend_head(pb, h, w.gating_param[h], a);
    }
  }
  return status::ok;
}

status gpsa_forward(const gpsa_weights& w, grid g, std::size_t batch, const float* x, float* y,
                    float* attn_out, const pos_branch* pos, std::span<float> scratch) noexcept {
  if (const status s = check_layer(w, g, pos); s != status::ok) return s;
  if (batch == 0) return status::ok;
  if (x == nullptr || y == nullptr) return status::invalid_argument;
  std::size_t need = 0;
  if (const status s = forward_scratch_size(w, g, batch, pos != nullptr, need); s != status::ok)
    return s;
  if (attn_out != nullptr) {
    std::size_t total = 0;
    if (!mul3(batch, w.heads, g.patches() * g.patches(), total)) return status::size_overflow;
  }
  if (scratch.size() < need || scratch.data() == nullptr) return status::buffer_too_small;

  const std::size_t N = g.patches(), D = w.dim, H = w.heads, d = w.head_dim(), BN = batch * N;
  const std::size_t ld = 3 * D;  // row of qkv: [q (D) | k (D) | v (D)]; o_h overwrites q_h
  float* qkv = scratch.data();
  float* head = qkv + BN * ld;  // N x N, when the caller wants no attention copy
  pos_branch pb{};
  if (const status s = resolve_pos(w, g, pos, head + N * N, pb); s != status::ok) return s;

  // x is read only here, so y may alias x.
  linear(BN, 2 * D, D, x, D, w.qk_weight, w.qk_bias, qkv, ld);
  linear(BN, D, D, x, D, w.v_weight, w.v_bias, qkv + 2 * D, ld);

  const float scale = head_scale(d);
  for (std::size_t b = 0; b < batch; ++b) {
    float* rows = qkv + b * N * ld;
    for (std::size_t h = 0; h < H; ++h) {
      float* a = attn_out != nullptr ? attn_out + (b * H + h) * N * N : head;
      float* q = rows + h * d;
      content_attention(N, N, d, q, ld, rows + D + h * d, ld, scale, a, N);
      blend_head(pb, h, w.gating_param[h], a);
      // o_h = attn_h v_h, written over q_h (no longer needed): the concat of heads is then
      // columns [0, D) of qkv.
      gemm(false, false, N, d, N, 1.0f, a, N, rows + 2 * D + h * d, ld, 0.0f, q, ld);
    }
  }
  linear(BN, D, D, qkv, ld, w.proj_weight, w.proj_bias, y, D);
  return status::ok;
}

}  // namespace gpsa
