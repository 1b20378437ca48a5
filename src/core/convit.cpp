// SPDX-License-Identifier: MIT
// Whole-ConViT forward on caller-owned buffers: patch embedding, GPSA / MHSA blocks, MLPs,
// LayerNorms, class token and head (gpsa/core/convit.hpp). The heavy lifting is the linear layer
// and multi-head attention (nn.hpp) and the GPSA layer's fused forward (layer_fused.hpp).
#include "gpsa/core/convit.hpp"

#include <cstddef>
#include <cstring>

#include "fp_env.hpp"
#include "layer_fused.hpp"
#include "nn.hpp"
#include "packing.hpp"

namespace gpsa {
namespace {

using detail::activation;
using detail::checked_add;
using detail::linear_weight;

using detail::checked_mul;

constexpr std::size_t max_of(std::size_t a, std::size_t b) noexcept { return a > b ? a : b; }
constexpr std::size_t min_of(std::size_t a, std::size_t b) noexcept { return a < b ? a : b; }

// Token rows per block of the MLP: the (256, M) hidden block (768 KB for ConViT-Ti) is still in
// cache when fc2 reads it, and the scratch does not grow with the batch.
constexpr std::size_t kMlpRows = 256;

// ---- the packed weights' layout -------------------------------------------------------------

// convit_pack's layout, in its fixed order (each piece's own layout: packing.hpp): the patch
// embedding; per block the attention (GPSA: the layer's own pack, layer_pack's qk | v | proj;
// MHSA: qkv, proj), fc1, fc2; then the head.
using detail::pack_walk;

// Where one block's packed weights are (offsets into the pack).
struct block_pack {
  std::size_t attn = 0, proj = 0, fc1 = 0, fc2 = 0;  // attn: the GPSA layer's pack, or qkv
};

block_pack walk_block(const convit_config& c, std::size_t i, pack_walk& walk) noexcept {
  block_pack b{};
  const std::size_t D = c.dim, M = c.mlp_hidden;
  if (c.is_gpsa_block(i)) {
    b.attn = walk.take_layer(D);
  } else {
    b.attn = walk.take_linear(3 * D, D);
    b.proj = walk.take_linear(D, D);
  }
  b.fc1 = walk.take_linear(M, D);
  b.fc2 = walk.take_linear(D, M);
  return b;
}

std::size_t patch_inputs(const convit_config& c) noexcept {
  return c.channels * c.patch_size * c.patch_size;
}

const float* packed_at(const float* packed, std::size_t offset) noexcept {
  return packed != nullptr ? packed + offset : nullptr;
}

// ---- the GPSA block -----------------------------------------------------------------------------

status gpsa_layer_scratch(const convit_config& c, std::size_t batch, std::size_t workers,
                          std::size_t& floats) noexcept {
  return layer_scratch_size({c.heads, c.dim, c.patch_grid(), batch}, workers, floats);
}

// The layer view of GPSA block b's attention (its weights, width and heads from the config).
layer_weights gpsa_layer_of(const convit_config& c, const convit_block_weights& b,
                            const float* packed) noexcept {
  return {c.heads,  c.dim,         b.qk_weight, b.qk_bias, b.v_weight,
          b.v_bias, b.proj_weight, b.proj_bias, packed};
}

// x (B, N, D) += GPSA(h) for block b (h = norm1(x)), through its folded view (convit_fold).
void gpsa_block(const convit_config& c, const convit_block_weights& b, const float* packed,
                std::size_t batch, const float* h, float* x, std::span<float> scratch,
                const executor* ex) noexcept {
  detail::layer_forward_fused(gpsa_layer_of(c, b, packed), b.folded, batch, h, x, true, scratch,
                              ex);
}

// ---- MHSA -----------------------------------------------------------------------------------

status mhsa_floats(const convit_config& c, std::size_t batch, std::size_t workers,
                   std::size_t& floats) noexcept {
  const std::size_t T = c.tokens();
  std::size_t qkv = 0, work = 0;
  if (!checked_mul(batch, T, 3 * c.dim, qkv) || !detail::round_up_aligned(qkv, qkv) ||
      !detail::mha_scratch_floats({T, c.dim, c.heads}, false, batch, workers, work) ||
      !checked_add(qkv, work, floats))
    return status::size_overflow;
  return status::ok;
}

// x (B, T, D) += proj(MHSA(h)), h = norm1(x) (B, T, D); big: mhsa_floats, 64-byte aligned.
void mhsa_block(const convit_config& c, const convit_block_weights& b, const float* packed,
                const block_pack& bp, std::size_t batch, const float* h, float* x,
                std::span<float> big, const executor* ex) noexcept {
  const std::size_t T = c.tokens(), D = c.dim, BT = batch * T;
  std::size_t qkv_n = 0;
  (void)detail::round_up_aligned(BT * 3 * D, qkv_n);  // checked by mhsa_floats
  float* qkv = big.data();
  detail::linear(BT, 3 * D, D, h, D, {b.qkv_weight, packed_at(packed, bp.attn), b.qkv_bias}, qkv,
                 3 * D, false, activation::none, ex);
  detail::mha_forward({T, D, c.heads}, batch, qkv, head_scale(c.head_dim()), nullptr,
                      big.subspan(qkv_n), ex);
  detail::linear(BT, D, D, qkv, 3 * D, {b.proj_weight, packed_at(packed, bp.proj), b.proj_bias}, x,
                 D, true, activation::none, ex);
}

// ---- MLP ------------------------------------------------------------------------------------

// x (rows, D) += fc2(gelu(fc1(h))), a block of kMlpRows token rows at a time; hidden: kMlpRows*M.
// The bias and GELU run on each finished block of fc1's output (the GEMM's epilogue).
void mlp_block(const convit_config& c, const convit_block_weights& b, const float* packed,
               const block_pack& bp, std::size_t rows, const float* h, float* x, float* hidden,
               const executor* ex) noexcept {
  const std::size_t D = c.dim, M = c.mlp_hidden;
  const linear_weight fc1{b.fc1_weight, packed_at(packed, bp.fc1), b.fc1_bias};
  const linear_weight fc2{b.fc2_weight, packed_at(packed, bp.fc2), b.fc2_bias};
  for (std::size_t r0 = 0; r0 < rows; r0 += kMlpRows) {
    const std::size_t rb = min_of(kMlpRows, rows - r0);
    detail::linear(rb, M, D, h + r0 * D, D, fc1, hidden, M, false, activation::gelu, ex);
    detail::linear(rb, D, M, hidden, M, fc2, x + r0 * D, D, true, activation::none, ex);
  }
}

// ---- patch embedding ------------------------------------------------------------------------

// x (B, N, D) = conv(images) + pos_embed: per image, the patches as rows (im2col, columns in the
// weight's (c, ky, kx) order) times the weight^T. cols: N * C * p * p floats.
void patch_embed(const convit_weights& w, const float* packed, std::size_t batch,
                 const float* images, float* x, float* cols, const executor* ex) noexcept {
  const convit_config& c = w.config;
  const std::size_t S = c.image_size, p = c.patch_size, G = c.grid_side(), N = G * G, D = c.dim;
  const std::size_t K = patch_inputs(c);
  const linear_weight lw{w.patch_weight, packed, w.patch_bias};
  for (std::size_t b = 0; b < batch; ++b) {
    const float* img = images + b * c.channels * S * S;
    for (std::size_t py = 0; py < G; ++py)
      for (std::size_t px = 0; px < G; ++px) {
        float* row = cols + (py * G + px) * K;
        for (std::size_t ch = 0; ch < c.channels; ++ch)
          for (std::size_t ky = 0; ky < p; ++ky)
            std::memcpy(row + (ch * p + ky) * p, img + (ch * S + py * p + ky) * S + px * p,
                        sizeof(float) * p);
      }
    // pos_embed is the GEMM's initial C (zero without one); the conv bias comes with the
    // epilogue.
    float* xb = x + b * N * D;
    if (c.use_pos_embed)
      std::memcpy(xb, w.pos_embed, sizeof(float) * N * D);
    else
      std::memset(xb, 0, sizeof(float) * N * D);
    detail::linear(N, D, K, cols, K, lw, xb, D, true, activation::none, ex);
  }
}

// (B, N, D) -> (B, N+1, D) in place with the class token first in each item: items move to
// their new offsets from the last to the first, so no item is overwritten before it moves.
void prepend_class_token(const convit_config& c, std::size_t batch, const float* cls,
                         float* x) noexcept {
  const std::size_t N = c.patches(), D = c.dim;
  for (std::size_t b = batch; b-- > 0;) {
    std::memmove(x + (b * (N + 1) + 1) * D, x + b * N * D, sizeof(float) * N * D);
    std::memcpy(x + b * (N + 1) * D, cls, sizeof(float) * D);
  }
}

// pooled (B, D) = the mean of tokens [1, T) of each item of x (B, T, D) (timm's
// x[:, 1:].mean(dim=1)), summed in double and rounded once.
void average_tokens(const float* x, std::size_t batch, std::size_t T, std::size_t D,
                    float* pooled) noexcept {
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t d = 0; d < D; ++d) {
      double sum = 0;
      for (std::size_t t = 1; t < T; ++t) sum += x[(b * T + t) * D + d];
      pooled[b * D + d] = static_cast<float>(sum / static_cast<double>(T - 1));
    }
}

// LayerNorm of `rows` rows, cut in row chunks over ex's workers (each row is independent).
struct norm_job {
  const float* x;
  std::size_t rows, dim, ldx;
  const float* weight;
  const float* bias;
  float eps;
  float* y;
  std::size_t ldy, chunks;

  static void run(void* arg, std::size_t index, std::size_t /*worker*/) noexcept {
    const auto& j = *static_cast<const norm_job*>(arg);
    const std::size_t r0 = j.rows * index / j.chunks, r1 = j.rows * (index + 1) / j.chunks;
    detail::layer_norm_unchecked(r1 - r0, j.dim, j.weight, j.bias, j.eps, j.x + r0 * j.ldx, j.ldx,
                                 j.y + r0 * j.ldy, j.ldy);
  }
};

void layer_norm(const float* x, std::size_t rows, std::size_t dim, std::size_t ldx,
                const float* weight, const float* bias, float eps, float* y, std::size_t ldy,
                const executor* ex) noexcept {
  const std::size_t chunks = min_of(workers_of(ex), (rows + 31) / 32);
  norm_job job{x, rows, dim, ldx, weight, bias, eps, y, ldy, chunks < 1 ? 1 : chunks};
  detail::run_tasks(ex, job.chunks, &norm_job::run, &job);
}

// Floats of the region shared by the stages (the largest one's need).
status shared_floats(const convit_config& c, std::size_t batch, std::size_t workers,
                     std::size_t& floats) noexcept {
  std::size_t cols = 0, mlp = 0, gpsa = 0, mhsa = 0;
  if (!checked_mul(c.patches(), c.channels * c.patch_size, c.patch_size, cols))
    return status::size_overflow;
  std::size_t rows = 0;
  if (!checked_mul(batch, c.tokens(), rows) ||
      !checked_mul(min_of(rows, kMlpRows), c.mlp_hidden, mlp))
    return status::size_overflow;
  if (c.local_up_to_layer > 0)
    if (const status s = gpsa_layer_scratch(c, batch, workers, gpsa); s != status::ok) return s;
  if (c.has_class_token())
    if (const status s = mhsa_floats(c, batch, workers, mhsa); s != status::ok) return s;
  floats = max_of(max_of(cols, mlp), max_of(gpsa, mhsa));
  return status::ok;
}

bool finite_nonneg(float v) noexcept { return v >= 0.0f && v <= 3.4028235e38f; }

}  // namespace

// ---- validation and sizes -------------------------------------------------------------------

status validate(const convit_config& c) noexcept {
  if (c.image_size == 0 || c.patch_size == 0 || c.channels == 0 || c.dim == 0 || c.heads == 0 ||
      c.depth == 0 || c.mlp_hidden == 0 || c.classes == 0)
    return status::invalid_argument;
  if (c.image_size < c.patch_size || c.dim % c.heads != 0 || c.local_up_to_layer > c.depth ||
      !finite_nonneg(c.eps) || (c.pool != convit_pool::token && c.pool != convit_pool::avg))
    return status::invalid_argument;
  if (c.pool == convit_pool::avg && c.tokens() < 2) return status::invalid_argument;
  return status::ok;
}

status validate(const convit_weights& w) noexcept {
  const convit_config& c = w.config;
  if (const status s = validate(c); s != status::ok) return s;
  if (w.blocks.size() != c.depth) return status::shape_mismatch;
  if (w.patch_weight == nullptr || (c.use_pos_embed && w.pos_embed == nullptr) ||
      w.norm_weight == nullptr || w.head_weight == nullptr ||
      (c.has_class_token() && w.cls_token == nullptr))
    return status::invalid_argument;
  for (std::size_t i = 0; i < c.depth; ++i) {
    const convit_block_weights& b = w.blocks[i];
    if (b.norm1_weight == nullptr || b.norm2_weight == nullptr || b.proj_weight == nullptr ||
        b.fc1_weight == nullptr || b.fc2_weight == nullptr)
      return status::invalid_argument;
    if (c.is_gpsa_block(i)) {
      // pos_proj and gating_param are read by convit_fold (which checks them), the forward reads
      // the folded view.
      if (b.qk_weight == nullptr || b.v_weight == nullptr) return status::invalid_argument;
    } else if (b.qkv_weight == nullptr) {
      return status::invalid_argument;
    }
  }
  return status::ok;
}

status validate_folded(const convit_weights& w) noexcept {
  const convit_config& c = w.config;
  if (w.blocks.size() < c.local_up_to_layer) return status::shape_mismatch;
  for (std::size_t i = 0; i < c.local_up_to_layer; ++i) {
    const folded_view& f = w.blocks[i].folded;
    if (f.fx == nullptr || f.gy == nullptr || f.lambda == nullptr) return status::invalid_argument;
    if (f.heads != c.heads || f.shape != c.patch_grid()) return status::shape_mismatch;
    if (const status s = validate(f); s != status::ok) return s;
  }
  return status::ok;
}

status convit_packed_size(const convit_config& c, std::size_t& floats) noexcept {
  if (const status s = validate(c); s != status::ok) return s;
  pack_walk walk;
  walk.take_linear(c.dim, patch_inputs(c));
  for (std::size_t i = 0; i < c.depth; ++i) (void)walk_block(c, i, walk);
  walk.take_linear(c.classes, c.dim);
  if (!walk.ok) return status::size_overflow;
  floats = walk.offset;
  return status::ok;
}

status convit_pack(const convit_weights& w, std::span<float> packed) noexcept {
  if (const status s = validate(w); s != status::ok) return s;
  const convit_config& c = w.config;
  std::size_t need = 0;
  if (const status s = convit_packed_size(c, need); s != status::ok) return s;
  if (packed.size() < need || packed.data() == nullptr) return status::buffer_too_small;
  const std::size_t D = c.dim, M = c.mlp_hidden;
  float* out = packed.data();
  pack_walk walk;
  detail::linear_pack(D, patch_inputs(c), w.patch_weight,
                      out + walk.take_linear(D, patch_inputs(c)));
  for (std::size_t i = 0; i < c.depth; ++i) {
    const convit_block_weights& b = w.blocks[i];
    const block_pack bp = walk_block(c, i, walk);
    if (c.is_gpsa_block(i)) {
      if (const status s = layer_pack(gpsa_layer_of(c, b, nullptr), packed.subspan(bp.attn));
          s != status::ok)
        return s;
    } else {
      detail::linear_pack(3 * D, D, b.qkv_weight, out + bp.attn);
      detail::linear_pack(D, D, b.proj_weight, out + bp.proj);
    }
    detail::linear_pack(M, D, b.fc1_weight, out + bp.fc1);
    detail::linear_pack(D, M, b.fc2_weight, out + bp.fc2);
  }
  detail::linear_pack(c.classes, D, w.head_weight, out + walk.take_linear(c.classes, D));
  return status::ok;
}

status convit_folded_size(const convit_config& c, std::size_t& floats) noexcept {
  if (const status s = validate(c); s != status::ok) return s;
  fold_counts n{};
  if (const status s = layer_folded_size(c.patch_grid(), c.heads, n); s != status::ok) return s;
  std::size_t total = 0;
  if (!checked_mul(n.total(), c.local_up_to_layer, total)) return status::size_overflow;
  floats = total;
  return status::ok;
}

status convit_fold(const convit_config& c, std::span<convit_block_weights> blocks,
                   std::span<float> folded) noexcept {
  if (const status s = validate(c); s != status::ok) return s;
  if (blocks.size() != c.depth) return status::shape_mismatch;
  std::size_t need = 0;
  if (const status s = convit_folded_size(c, need); s != status::ok) return s;
  if (folded.size() < need || (need != 0 && folded.data() == nullptr))
    return status::buffer_too_small;
  fold_counts n{};
  if (const status s = layer_folded_size(c.patch_grid(), c.heads, n); s != status::ok) return s;
  const std::size_t H = c.heads;
  for (std::size_t i = 0; i < c.local_up_to_layer; ++i) {
    const convit_block_weights& b = blocks[i];
    if (b.pos_proj_weight == nullptr || b.gating_param == nullptr) return status::invalid_argument;
    float* fx = folded.data() + i * n.total();
    float* gy = fx + n.fx;
    float* lam = gy + n.gy;
    if (const status s = layer_fold(c.patch_grid(), H, {b.pos_proj_weight, 3 * H}, {},
                                    {b.gating_param, H}, {fx, n.fx}, {gy, n.gy}, {lam, n.lambda});
        s != status::ok)
      return s;
  }
  // Only now that every block folded, so a failure leaves the views as they were.
  for (std::size_t i = 0; i < c.local_up_to_layer; ++i) {
    const float* fx = folded.data() + i * n.total();
    blocks[i].folded = folded_view{H, c.patch_grid(), fx, fx + n.fx, fx + n.fx + n.gy};
  }
  return status::ok;
}

status convit_scratch_size(const convit_config& c, std::size_t batch, std::size_t workers,
                           std::size_t& floats) noexcept {
  if (const status s = validate(c); s != status::ok) return s;
  if (workers == 0) return status::invalid_argument;
  std::size_t stream = 0, shared = 0, total = 0;
  if (!checked_mul(batch, c.tokens(), c.dim, stream) || !detail::round_up_aligned(stream, stream))
    return status::size_overflow;
  if (const status s = shared_floats(c, batch, workers, shared); s != status::ok) return s;
  if (!checked_add(stream, stream, total) || !checked_add(total, shared, total) ||
      !checked_add(total, scratch_align_floats, total))
    return status::size_overflow;
  floats = total;
  return status::ok;
}

// ---- forward --------------------------------------------------------------------------------

namespace {

// The forward; `probe` is null for convit_forward (one pointer test per GPSA block).
status convit_forward_impl(const convit_weights& w, std::size_t batch,
                           std::span<const float> images, std::span<float> logits,
                           std::span<float> features, std::span<float> scratch,
                           const convit_probe* probe, const executor* ex) noexcept {
  if (const status s = validate(w); s != status::ok) return s;
  if (const status s = validate_folded(w); s != status::ok) return s;
  if (const status s = validate(ex); s != status::ok) return s;
  if (batch == 0) return status::ok;
  const convit_config& c = w.config;
  std::size_t need = 0, stream = 0, image_floats = 0, logit_floats = 0;
  if (const status s = convit_scratch_size(c, batch, workers_of(ex), need); s != status::ok)
    return s;
  if (!checked_mul(batch, c.channels, c.image_size * c.image_size, image_floats) ||
      !checked_mul(batch, c.classes, logit_floats) ||
      !checked_mul(batch, c.tokens(), c.dim, stream))
    return status::size_overflow;
  if (images.size() != image_floats || logits.size() != logit_floats ||
      (!features.empty() && features.size() != stream))
    return status::shape_mismatch;
  if (images.data() == nullptr || logits.data() == nullptr) return status::invalid_argument;
  if (scratch.size() < need || scratch.data() == nullptr) return status::buffer_too_small;

  if (w.packed != nullptr) {
    std::size_t packed = 0;
    if (const status s = convit_packed_size(c, packed); s != status::ok) return s;
  }
  if (!detail::round_up_aligned(stream, stream)) return status::size_overflow;

  [[maybe_unused]] const detail::flush_subnormals ftz;
  const std::size_t D = c.dim, N = c.patches(), T = c.tokens();
  float* x = detail::align_floats(scratch.data());  // the token stream, (B, N, D) then (B, N+1, D)
  float* h = x + stream;                            // its normed copy
  float* shared = h + stream;  // patches, attention scratch or the MLP's hidden block
  const std::span<float> shared_span =
      scratch.subspan(static_cast<std::size_t>(shared - scratch.data()));

  pack_walk walk;
  patch_embed(w, packed_at(w.packed, walk.take_linear(D, patch_inputs(c))), batch, images.data(), x,
              shared, ex);
  std::size_t tokens = N;  // per item, before / after the class token
  for (std::size_t i = 0; i < c.depth; ++i) {
    const convit_block_weights& b = w.blocks[i];
    const block_pack bp = walk_block(c, i, walk);
    if (i == c.local_up_to_layer) {
      prepend_class_token(c, batch, w.cls_token, x);
      tokens = N + 1;
    }
    const std::size_t rows = batch * tokens;
    layer_norm(x, rows, D, D, b.norm1_weight, b.norm1_bias, c.eps, h, D, ex);
    if (c.is_gpsa_block(i)) {
      if (probe != nullptr)
        if (const status s = probe->gpsa_block_input(probe->context, i, batch, {h, rows * D});
            s != status::ok)
          return s;
      gpsa_block(c, b, packed_at(w.packed, bp.attn), batch, h, x, shared_span, ex);
    } else {
      mhsa_block(c, b, w.packed, bp, batch, h, x, shared_span, ex);
    }
    layer_norm(x, rows, D, D, b.norm2_weight, b.norm2_bias, c.eps, h, D, ex);
    mlp_block(c, b, w.packed, bp, rows, h, x, shared, ex);
  }

  // Final norm: every token into `features`, or only the rows the head reads (the class token;
  // every token for the average, normed into h and averaged into x, both free by now).
  const float* head_in = nullptr;
  std::size_t head_ld = 0;
  if (!features.empty()) {
    layer_norm(x, batch * T, D, D, w.norm_weight, w.norm_bias, c.eps, features.data(), D, ex);
    head_in = features.data();
    head_ld = T * D;
  } else if (c.pool == convit_pool::avg) {
    layer_norm(x, batch * T, D, D, w.norm_weight, w.norm_bias, c.eps, h, D, ex);
    head_in = h;
    head_ld = T * D;
  } else {
    layer_norm(x, batch, D, T * D, w.norm_weight, w.norm_bias, c.eps, h, D, ex);
    head_in = h;
    head_ld = D;
  }
  if (c.pool == convit_pool::avg) {
    float* pooled = !features.empty() ? h : x;
    average_tokens(head_in, batch, T, D, pooled);
    head_in = pooled;
    head_ld = D;
  }
  detail::linear(batch, c.classes, D, head_in, head_ld,
                 {w.head_weight, packed_at(w.packed, walk.take_linear(c.classes, D)), w.head_bias},
                 logits.data(), c.classes, false, activation::none, ex);
  return status::ok;
}

}  // namespace

status convit_forward(const convit_weights& w, std::size_t batch, std::span<const float> images,
                      std::span<float> logits, std::span<float> features, std::span<float> scratch,
                      const executor* ex) noexcept {
  return convit_forward_impl(w, batch, images, logits, features, scratch, nullptr, ex);
}

status convit_forward_probed(const convit_weights& w, const convit_probe& probe, std::size_t batch,
                             std::span<const float> images, std::span<float> logits,
                             std::span<float> features, std::span<float> scratch,
                             const executor* ex) noexcept {
  return convit_forward_impl(w, batch, images, logits, features, scratch,
                             probe.gpsa_block_input != nullptr ? &probe : nullptr, ex);
}

}  // namespace gpsa
