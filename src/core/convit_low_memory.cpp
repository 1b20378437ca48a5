// SPDX-License-Identifier: MIT
// The whole-ConViT forward planned for little RAM (convit_plan::low_memory, gpsa/core/convit.hpp):
// one image at a time, one head at a time, every buffer reused by every block. What a
// microcontroller runs; the fast plan (convit.cpp) trades memory for speed.
//
// Scratch, per image (T tokens, N patches, D width, d = D/H, M MLP width, K = C p p, r = min(T,
// 16) rows per block; every region rounded up to 16 floats):
//   x  T*D   the token stream
//   o  T*D   the attention's heads, concatenated (proj reads whole rows of it)
//   w        the largest of
//            attention: k_h, v_h (2 T d), r rows of norm1(x) (r D), then either the separable
//                       product's intermediate (N d) or q_h's rows, attn @ v_h's rows (2 r d)
//                       and a block of scores with their sums (r (T + 1))
//            MLP:       r rows of norm2(x) (r D) and their hidden layer (r M)
//            patches:   r rows of image patches (r K)
// No (T, D) normed copy is kept: norm1(x) is recomputed for each head's k/v pass and q pass
// (x does not change until proj), norm2(x) per block of rows (the MLP is row-local). The
// arithmetic of every product is the fast plan's (the same GEMM, whose sums depend on K alone),
// but the attention is formed per head from rows normed in blocks, so the two plans agree to
// float rounding, not bit for bit.
#include <cstddef>
#include <cstring>

#include "fold_kernels.hpp"
#include "fp_env.hpp"
#include "gemm_blocked.hpp"
#include "gpsa/core/convit.hpp"
#include "gpsa/core/fold.hpp"
#include "gpsa/core/layer.hpp"
#include "linalg_impl.hpp"
#include "nn.hpp"
#include "nn_kernels_impl.hpp"

namespace gpsa {
namespace {

using detail::activation;
using detail::checked_add;
using detail::checked_mul;
using detail::linear_weight;
using detail::round_up_aligned;

// Rows per block: norm rows, query rows, MLP rows, patch rows.
constexpr std::size_t kRows = 16;

constexpr std::size_t max_of(std::size_t a, std::size_t b) noexcept { return a > b ? a : b; }
constexpr std::size_t min_of(std::size_t a, std::size_t b) noexcept { return a < b ? a : b; }

// The regions of one image's scratch, in floats (each a multiple of 16).
struct low_plan {
  std::size_t T = 0, N = 0, D = 0, d = 0, M = 0, K = 0, rows = 0;
  std::size_t stream = 0;               // x and o, each
  std::size_t kv = 0, norm = 0;         // k_h + v_h; rows of norm1(x)
  std::size_t pos = 0;                  // the separable product's intermediate
  std::size_t q = 0, scores = 0;        // q_h rows (and attn @ v_h rows: the same size)
  std::size_t hidden = 0, patches = 0;  // MLP hidden rows; patch rows
  std::size_t work = 0;                 // the shared region w
  std::size_t total = 0;                // x + o + w + alignment slack
};

// n rounded up to 16 floats (64 bytes); false on overflow.
bool aligned(std::size_t n, std::size_t& out) noexcept { return round_up_aligned(n, out); }

bool plan_of(const convit_config& c, low_plan& p) noexcept {
  p.N = c.patches();
  p.T = c.tokens();
  p.D = c.dim;
  p.d = c.head_dim();
  p.M = c.mlp_hidden;
  p.rows = min_of(p.T, kRows);
  if (!checked_mul<std::size_t>(c.channels, c.patch_size, c.patch_size, p.K)) return false;
  std::size_t n = 0;
  if (!checked_mul<std::size_t>(p.T, p.D, n) || !aligned(n, p.stream)) return false;
  if (!checked_mul<std::size_t>(2, p.T, p.d, n) || !aligned(n, p.kv)) return false;
  if (!checked_mul<std::size_t>(p.rows, p.D, n) || !aligned(n, p.norm)) return false;
  if (!checked_mul<std::size_t>(p.N, p.d, n) || !aligned(n, p.pos)) return false;
  if (!checked_mul<std::size_t>(p.rows, p.d, n) || !aligned(n, p.q)) return false;
  if (!checked_mul<std::size_t>(p.rows, p.T + 1, n) || !aligned(n, p.scores)) return false;
  if (!checked_mul<std::size_t>(p.rows, p.M, n) || !aligned(n, p.hidden)) return false;
  if (!checked_mul<std::size_t>(p.rows, p.K, n) || !aligned(n, p.patches)) return false;
  std::size_t att = 0, rows_part = 0, mlp = 0;
  if (!checked_add<std::size_t>(p.q, p.q, rows_part) ||
      !checked_add<std::size_t>(rows_part, p.scores, rows_part))
    return false;
  if (!checked_add<std::size_t>(p.kv, p.norm, att) ||
      !checked_add<std::size_t>(att, max_of(p.pos, rows_part), att))
    return false;
  if (!checked_add<std::size_t>(p.norm, p.hidden, mlp)) return false;
  p.work = max_of(max_of(att, mlp), p.patches);
  return checked_add<std::size_t>(p.stream, p.stream, p.total) &&
         checked_add<std::size_t>(p.total, p.work, p.total) &&
         checked_add<std::size_t>(p.total, scratch_align_floats, p.total);
}

const float* offset(const float* p, std::size_t n) noexcept {
  return p != nullptr ? p + n : nullptr;
}

// One image through the model; x, o and w point into the aligned scratch (plan p).
struct low_forward {
  const convit_weights& w;
  const convit_config& c;
  const low_plan& p;
  float* x;
  float* o;
  float* wk;
  const executor* ex;

  void norm_rows(const float* nw, const float* nb, std::size_t r0, std::size_t nr,
                 float* out) const noexcept {
    detail::layer_norm_unchecked(nr, p.D, nw, nb, c.eps, x + r0 * p.D, p.D, out, p.D);
  }

  // x (N, D) = patch_embed(image) + pos_embed, r patch rows at a time.
  void patch_embed(const float* image) const noexcept {
    const std::size_t S = c.image_size, ps = c.patch_size, G = c.grid_side();
    const linear_weight lw{w.patch_weight, nullptr, w.patch_bias};
    if (c.use_pos_embed)
      std::memcpy(x, w.pos_embed, sizeof(float) * p.N * p.D);
    else
      std::memset(x, 0, sizeof(float) * p.N * p.D);
    for (std::size_t n0 = 0; n0 < p.N; n0 += p.rows) {
      const std::size_t nr = min_of(p.rows, p.N - n0);
      for (std::size_t r = 0; r < nr; ++r) {
        const std::size_t py = (n0 + r) / G, px = (n0 + r) % G;
        float* row = wk + r * p.K;
        for (std::size_t ch = 0; ch < c.channels; ++ch)
          for (std::size_t ky = 0; ky < ps; ++ky)
            std::memcpy(row + (ch * ps + ky) * ps, image + (ch * S + py * ps + ky) * S + px * ps,
                        sizeof(float) * ps);
      }
      detail::linear(nr, p.D, p.K, wk, p.K, lw, x + n0 * p.D, p.D, true, activation::none, ex);
    }
  }

  // o[:, h d, (h+1) d) = attention_h of norm1(x) for the first `outputs` of the `tokens` tokens
  // of block i (every token's k and v enter it).
  void head(std::size_t i, std::size_t h, std::size_t tokens, std::size_t outputs) const noexcept {
    const convit_block_weights& b = w.blocks[i];
    const bool gpsa = c.is_gpsa_block(i);
    const std::size_t D = p.D, d = p.d;
    float* k = wk;
    float* v = k + tokens * d;
    float* nrm = wk + p.kv;
    float* rest = nrm + p.norm;  // the separable product's intermediate, or q / out / scores
    float* q = rest;
    float* out = q + p.q;
    float* s = out + p.q;
    float* sums = s + p.rows * tokens;
    // weights of head h: q rows [h d, (h+1) d) and k rows D + [h d, (h+1) d) of qk (GPSA) or
    // qkv (MHSA, whose v rows follow at 2 D).
    const float* qk_w = gpsa ? b.qk_weight : b.qkv_weight;
    const float* qk_b = gpsa ? b.qk_bias : b.qkv_bias;
    const linear_weight wq{qk_w + h * d * D, nullptr, offset(qk_b, h * d)};
    const linear_weight wk_{qk_w + (D + h * d) * D, nullptr, offset(qk_b, D + h * d)};
    const linear_weight wv =
        gpsa ? linear_weight{b.v_weight + h * d * D, nullptr, offset(b.v_bias, h * d)}
             : linear_weight{qk_w + (2 * D + h * d) * D, nullptr, offset(qk_b, 2 * D + h * d)};
    for (std::size_t r0 = 0; r0 < tokens; r0 += p.rows) {
      const std::size_t nr = min_of(p.rows, tokens - r0);
      norm_rows(b.norm1_weight, b.norm1_bias, r0, nr, nrm);
      detail::linear(nr, d, D, nrm, D, wk_, k + r0 * d, d, false, activation::none, ex);
      detail::linear(nr, d, D, nrm, D, wv, v + r0 * d, d, false, activation::none, ex);
    }
    float lam = 0.0f, keep = 1.0f;
    if (gpsa) {
      // position_h @ v_h into o's head columns, through the separable factors.
      const folded_view& f = b.folded;
      const std::size_t R = f.shape.rows, C = f.shape.cols;
      detail::positional_apply_factors(f.fx + h * C * C, f.gy + h * R * R, R, C, d, v, d, o + h * d,
                                       D, rest);
      lam = f.lambda[h];
      keep = 1.0f - lam;  // PyTorch's (1. - sigmoid(g)) in float
    }
    const float scale = head_scale(d);
    for (std::size_t r0 = 0; r0 < outputs; r0 += p.rows) {
      const std::size_t nr = min_of(p.rows, outputs - r0);
      norm_rows(b.norm1_weight, b.norm1_bias, r0, nr, nrm);
      detail::linear(nr, d, D, nrm, D, wq, q, d, false, activation::none, ex);
      detail::gemm_run(
          detail::gemm_problem{false, true, nr, tokens, d, scale, q, d, k, d, 0.0f, s, tokens},
          detail::gemm_b_source{});
      detail::exp_rows(s, nr, tokens, tokens, sums);
      detail::gemm_run(
          detail::gemm_problem{false, false, nr, d, tokens, 1.0f, s, tokens, v, d, 0.0f, out, d},
          detail::gemm_b_source{});
      // (1 - lambda) softmax @ v + lambda (position @ v), or softmax @ v; as the fast plan's
      // fused attention: no row renormalisation (both terms are row-stochastic).
      for (std::size_t r = 0; r < nr; ++r) {
        float* orow = o + (r0 + r) * D + h * d;
        const float* arow = out + r * d;
        const float f = keep / sums[r];
        if (gpsa) {
          for (std::size_t j = 0; j < d; ++j) orow[j] = arow[j] * f + lam * orow[j];
        } else {
          for (std::size_t j = 0; j < d; ++j) orow[j] = arow[j] * f;
        }
      }
    }
  }

  // Block i on `tokens` tokens, its output for the first `outputs` rows of x (the others are
  // left as they were: the last block when the head reads row 0 alone).
  void block(std::size_t i, std::size_t tokens, std::size_t outputs) const noexcept {
    const convit_block_weights& b = w.blocks[i];
    const std::size_t D = p.D, M = p.M;
    for (std::size_t h = 0; h < c.heads; ++h) head(i, h, tokens, outputs);
    detail::linear(outputs, D, D, o, D, {b.proj_weight, nullptr, b.proj_bias}, x, D, true,
                   activation::none, ex);
    float* nrm = wk;
    float* hidden = wk + p.norm;
    const linear_weight fc1{b.fc1_weight, nullptr, b.fc1_bias};
    const linear_weight fc2{b.fc2_weight, nullptr, b.fc2_bias};
    for (std::size_t r0 = 0; r0 < outputs; r0 += p.rows) {
      const std::size_t nr = min_of(p.rows, outputs - r0);
      norm_rows(b.norm2_weight, b.norm2_bias, r0, nr, nrm);
      detail::linear(nr, M, D, nrm, D, fc1, hidden, M, false, activation::gelu, ex);
      detail::linear(nr, D, M, hidden, M, fc2, x + r0 * D, D, true, activation::none, ex);
    }
  }

  void run(const float* image, float* logits, float* features) const noexcept {
    patch_embed(image);
    // Without features and with the class-token pool the head reads row 0 alone: the last block
    // computes that row only (rows are independent after the attention: the same bits).
    const bool head_row_only = features == nullptr && c.pool == convit_pool::token;
    std::size_t tokens = p.N;
    for (std::size_t i = 0; i < c.depth; ++i) {
      if (i == c.local_up_to_layer) {
        std::memmove(x + p.D, x, sizeof(float) * p.N * p.D);
        std::memcpy(x, w.cls_token, sizeof(float) * p.D);
        tokens = p.N + 1;
      }
      block(i, tokens, head_row_only && i + 1 == c.depth ? 1 : tokens);
    }
    // The final norm of every token into `features`, or of the row(s) the head reads: the class
    // token, or (global_pool avg) every token, normed a block of rows at a time and summed into
    // o's first row, as the fast plan averages tokens [1, T) (in double, rounded once).
    const float* head_in = wk;
    if (features != nullptr) norm_rows(w.norm_weight, w.norm_bias, 0, p.T, features);
    if (c.pool == convit_pool::avg) {
      double* sum = reinterpret_cast<double*>(o);  // D doubles: 2 D floats of o (T >= 2)
      for (std::size_t j = 0; j < p.D; ++j) sum[j] = 0.0;
      for (std::size_t r0 = 1; r0 < p.T; r0 += p.rows) {
        const std::size_t nr = min_of(p.rows, p.T - r0);
        const float* rows = features;
        if (features != nullptr) {
          rows = features + r0 * p.D;
        } else {
          norm_rows(w.norm_weight, w.norm_bias, r0, nr, wk);
          rows = wk;
        }
        for (std::size_t r = 0; r < nr; ++r)
          for (std::size_t j = 0; j < p.D; ++j) sum[j] += static_cast<double>(rows[r * p.D + j]);
      }
      float* pooled = wk + p.norm;
      for (std::size_t j = 0; j < p.D; ++j)
        pooled[j] = static_cast<float>(sum[j] / static_cast<double>(p.T - 1));
      head_in = pooled;
    } else if (features != nullptr) {
      head_in = features;
    } else {
      norm_rows(w.norm_weight, w.norm_bias, 0, 1, wk);
    }
    detail::linear(1, c.classes, p.D, head_in, p.D, {w.head_weight, nullptr, w.head_bias}, logits,
                   c.classes, false, activation::none, ex);
  }
};

}  // namespace

status convit_scratch_size(const convit_config& c, convit_plan plan, std::size_t batch,
                           std::size_t workers, std::size_t& floats) noexcept {
  if (plan == convit_plan::fast) return convit_scratch_size(c, batch, workers, floats);
  if (plan != convit_plan::low_memory) return status::invalid_argument;
  if (const status s = validate(c); s != status::ok) return s;
  if (workers == 0) return status::invalid_argument;
  low_plan p{};
  if (!plan_of(c, p)) return status::size_overflow;
  floats = p.total;
  return status::ok;
}

status convit_forward(const convit_weights& w, convit_plan plan, std::size_t batch,
                      std::span<const float> images, std::span<float> logits,
                      std::span<float> features, std::span<float> scratch,
                      const executor* ex) noexcept {
  if (plan == convit_plan::fast)
    return convit_forward(w, batch, images, logits, features, scratch, ex);
  if (plan != convit_plan::low_memory) return status::invalid_argument;
  if (const status s = validate(w); s != status::ok) return s;
  if (const status s = validate(ex); s != status::ok) return s;
  const convit_config& c = w.config;
  low_plan p{};
  if (!plan_of(c, p)) return status::size_overflow;
  std::size_t image_floats = 0, logit_floats = 0, feature_floats = 0;
  if (!checked_mul<std::size_t>(batch, c.channels, c.image_size * c.image_size, image_floats) ||
      !checked_mul<std::size_t>(batch, c.classes, logit_floats) ||
      !checked_mul<std::size_t>(batch, c.tokens(), c.dim, feature_floats))
    return status::size_overflow;
  if (images.size() != image_floats || logits.size() != logit_floats ||
      (!features.empty() && features.size() != feature_floats))
    return status::shape_mismatch;
  if (batch == 0) return status::ok;
  if (images.data() == nullptr || logits.data() == nullptr) return status::invalid_argument;
  if (const status s = validate_folded(w); s != status::ok) return s;
  // This plan reads the plain linear weights (w.packed is not used): a model that holds its
  // weights only packed (gpsa::convit without keep_plain_weights) cannot run it.
  if (w.patch_weight == nullptr || w.head_weight == nullptr) return status::invalid_argument;
  for (std::size_t i = 0; i < c.depth; ++i) {
    const convit_block_weights& b = w.blocks[i];
    const bool attn = c.is_gpsa_block(i) ? b.qk_weight != nullptr && b.v_weight != nullptr
                                         : b.qkv_weight != nullptr;
    if (!attn || b.proj_weight == nullptr || b.fc1_weight == nullptr || b.fc2_weight == nullptr)
      return status::invalid_argument;
  }
  if (scratch.size() < p.total || scratch.data() == nullptr) return status::buffer_too_small;

  [[maybe_unused]] const detail::flush_subnormals ftz;
  float* x = detail::align_floats(scratch.data());
  const low_forward f{w, c, p, x, x + p.stream, x + 2 * p.stream, ex};
  const std::size_t per_image = c.channels * c.image_size * c.image_size;
  for (std::size_t b = 0; b < batch; ++b)
    f.run(images.data() + b * per_image, logits.data() + b * c.classes,
          features.empty() ? nullptr : features.data() + b * p.T * p.D);
  return status::ok;
}

}  // namespace gpsa
