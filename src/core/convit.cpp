// SPDX-License-Identifier: MIT
// Whole-ConViT forward on caller-owned buffers: patch embedding, GPSA / MHSA blocks, MLPs,
// LayerNorms, class token and head (gpsa/core/convit.hpp). The heavy lifting is the linear layer
// and multi-head attention (nn.hpp); the forward runs as phases, each one task set over the
// executor's workers.
#include "gpsa/core/convit.hpp"

#include <cstddef>
#include <cstring>
#include <utility>

#include "convit_layers.hpp"
#include "fp_env.hpp"
#include "nn.hpp"
#include "packing.hpp"

namespace gpsa {
namespace {

using detail::activation;
using detail::checked_add;
using detail::checked_mul;
using detail::linear_weight;

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
  std::size_t attn = 0;  // GPSA: the layer's pack (= qk); MHSA: qkv
  std::size_t v = 0, proj = 0, fc1 = 0, fc2 = 0;
};

block_pack walk_block(const convit_config& c, std::size_t i, pack_walk& walk) noexcept {
  block_pack b{};
  const std::size_t D = c.dim, M = c.mlp_hidden;
  if (c.is_gpsa_block(i)) {
    b.attn = walk.take_layer(D);
    detail::layer_pack_layout l{};
    (void)detail::layer_pack_layout_of(D, l);  // take_layer checked it
    b.v = b.attn + l.v;
    b.proj = b.attn + l.proj;
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

// The head's offset in the pack (after every block).
std::size_t pack_head(const convit_config& c) noexcept {
  pack_walk walk;
  walk.take_linear(c.dim, patch_inputs(c));
  for (std::size_t i = 0; i < c.depth; ++i) (void)walk_block(c, i, walk);
  return walk.take_linear(c.classes, c.dim);
}

const float* packed_at(const float* packed, std::size_t offset) noexcept {
  return packed != nullptr ? packed + offset : nullptr;
}

// ---- the forward's scratch ------------------------------------------------------------------

// The scratch, in order: the token stream x (B, T, D), its normed copy h, then a region holding
// the attention's q, k, v rows (B, T, 3D) followed by the attention's work, and the workers' own
// areas for the row phases (a block of the MLP's hidden rows or of im2col patches). With one
// worker its area overlaps the q, k, v rows (the phases using them run one after the other);
// with several, each worker's area follows the q, k, v rows (rows of different workers are in
// flight at once).
struct scratch_plan {
  std::size_t stream = 0;  // floats of x and of h (64-byte multiples)
  std::size_t qkv = 0;     // B*T*3D, rounded
  std::size_t attn = 0;    // the attention's work (the larger of the GPSA and MHSA needs)
  std::size_t rows = 0;    // rows per worker area (a block of the row phases)
  std::size_t local = 0;   // floats per worker area
  std::size_t region = 0;  // floats after x and h
};

status plan_scratch(const convit_config& c, std::size_t batch, std::size_t workers,
                    scratch_plan& p) noexcept {
  const std::size_t T = c.tokens(), D = c.dim;
  std::size_t all_rows = 0, gpsa = 0, mhsa = 0;
  if (!checked_mul(batch, T, D, p.stream) || !detail::round_up_aligned(p.stream, p.stream) ||
      !checked_mul(batch, T, 3 * D, p.qkv) || !detail::round_up_aligned(p.qkv, p.qkv) ||
      !checked_mul(batch, T, all_rows))
    return status::size_overflow;
  if (c.local_up_to_layer > 0 &&
      !detail::mha_scratch_floats({c.patches(), D, c.heads}, true, batch, workers, gpsa))
    return status::size_overflow;
  if (c.has_class_token() &&
      !detail::mha_scratch_floats({T, D, c.heads}, false, batch, workers, mhsa))
    return status::size_overflow;
  p.attn = max_of(gpsa, mhsa);
  const std::size_t per_worker = (all_rows + workers - 1) / workers;
  p.rows = min_of(kMlpRows, per_worker < 1 ? 1 : per_worker);
  if (!checked_mul(p.rows, max_of(c.mlp_hidden, patch_inputs(c)), p.local) ||
      !detail::round_up_aligned(p.local, p.local))
    return status::size_overflow;
  std::size_t with_attn = 0, areas = 0;
  if (!checked_add(p.qkv, p.attn, with_attn)) return status::size_overflow;
  if (workers == 1) {
    p.region = max_of(with_attn, p.local);
  } else if (!checked_mul(workers, p.local, areas) || !checked_add(areas, p.qkv, areas)) {
    return status::size_overflow;
  } else {
    p.region = max_of(with_attn, areas);
  }
  return status::ok;
}

// Where the forward keeps things, from a checked plan.
struct scratch_view {
  float* x;      // (B, T, D)
  float* h;      // (B, T, D)
  float* qkv;    // (B, T, 3D)
  float* attn;   // the attention's work
  float* areas;  // worker w's area: areas + w * local
  std::size_t attn_floats, local, area_rows;

  scratch_view(const scratch_plan& p, std::span<float> scratch, std::size_t workers) noexcept
      : x(detail::align_floats(scratch.data())),
        h(x + p.stream),
        qkv(h + p.stream),
        attn(qkv + p.qkv),
        areas(workers == 1 ? qkv : qkv + p.qkv),
        attn_floats(p.attn),
        local(p.local),
        area_rows(p.rows) {}
};

// ---- the row phases -------------------------------------------------------------------------

// What a row phase does to each of its rows of the token stream (B * tokens rows, or with
// `stride` = tokens the first row of each item only; rows are independent, so any cut over the
// workers gives the same bits). In order, as the flags say:
//   embed:  x = patch_embed(image patches) + pos_embed (0 without one)         (the first phase)
//   chain:  x += proj(o) (o: the attention's output, columns [0, D) of qkv); h = norm2(x);
//           x += fc2(gelu(fc1(h)))                                             (block `block`)
//   next:   h = norm1(x); qkv = the next block's qk | v (GPSA) or qkv (MHSA)   (block `next`)
//   final:  the final norm: every row into `features`; for the average (pool avg) every row
//           into h; else the class-token rows in place (x is not read again; the head reads
//           those rows)
struct row_phase {
  const convit_weights* w;
  const scratch_view* sv;
  const float* images;
  float* features;
  std::size_t batch, tokens, rows, chunks;
  std::size_t stride;       // token rows from one phase row to the next: 1, or tokens (row 0 of
                            // each item: the last block when only the head's rows are needed)
  std::size_t block, next;  // block indices (next: depth = none)
  bool embed, chain, final;
  block_pack bp, np;  // pack offsets of `block` and `next`
  std::size_t patch_offset;

  const float* packed(std::size_t offset) const noexcept { return packed_at(w->packed, offset); }

  static void layer_norm(const float* x, std::size_t rows, std::size_t dim, std::size_t ldx,
                         const float* weight, const float* bias, float eps, float* y,
                         std::size_t ldy) noexcept {
    detail::layer_norm_unchecked(rows, dim, weight, bias, eps, x, ldx, y, ldy);
  }

  // Patch rows [r0, r1) of the (B, N) patch rows into x: the patches as rows (im2col, columns
  // in the weight's (c, ky, kx) order) times the weight^T.
  void embed_rows(std::size_t r0, std::size_t r1, float* cols) const noexcept {
    const convit_config& c = w->config;
    const std::size_t S = c.image_size, p = c.patch_size, G = c.grid_side(), N = G * G;
    const std::size_t D = c.dim, K = patch_inputs(c);
    const linear_weight lw{w->patch_weight, packed(patch_offset), w->patch_bias};
    for (std::size_t b0 = r0; b0 < r1; b0 += sv->area_rows) {
      const std::size_t n_rows = min_of(sv->area_rows, r1 - b0);
      for (std::size_t r = 0; r < n_rows; ++r) {
        const std::size_t item = (b0 + r) / N, n = (b0 + r) % N, py = n / G, px = n % G;
        const float* img = images + item * c.channels * S * S;
        float* row = cols + r * K;
        for (std::size_t ch = 0; ch < c.channels; ++ch)
          for (std::size_t ky = 0; ky < p; ++ky)
            std::memcpy(row + (ch * p + ky) * p, img + (ch * S + py * p + ky) * S + px * p,
                        sizeof(float) * p);
        // pos_embed is the GEMM's initial C (zero without one); the conv bias comes with the
        // epilogue.
        float* xr = sv->x + (b0 + r) * D;
        if (c.use_pos_embed)
          std::memcpy(xr, w->pos_embed + n * D, sizeof(float) * D);
        else
          std::memset(xr, 0, sizeof(float) * D);
      }
      detail::linear(n_rows, D, K, cols, K, lw, sv->x + b0 * D, D, true, activation::none, nullptr);
    }
  }

  // proj, norm2 and the MLP of `block` for rows [r0, r1) (at `stride`; h's rows packed);
  // hidden: a worker area.
  void chain_rows(std::size_t r0, std::size_t r1, float* hidden) const noexcept {
    const convit_config& c = w->config;
    const convit_block_weights& b = w->blocks[block];
    const std::size_t D = c.dim, M = c.mlp_hidden, n = r1 - r0, ldx = stride * D;
    float* x = sv->x + r0 * ldx;
    float* h = sv->h + r0 * D;
    detail::linear(n, D, D, sv->qkv + r0 * 3 * ldx, 3 * ldx,
                   {b.proj_weight, packed(bp.proj), b.proj_bias}, x, ldx, true, activation::none,
                   nullptr);
    layer_norm(x, n, D, ldx, b.norm2_weight, b.norm2_bias, c.eps, h, D);
    const linear_weight fc1{b.fc1_weight, packed(bp.fc1), b.fc1_bias};
    const linear_weight fc2{b.fc2_weight, packed(bp.fc2), b.fc2_bias};
    // The bias and GELU run on each finished block of fc1's output (the GEMM's epilogue).
    for (std::size_t m0 = 0; m0 < n; m0 += sv->area_rows) {
      const std::size_t rb = min_of(sv->area_rows, n - m0);
      detail::linear(rb, M, D, h + m0 * D, D, fc1, hidden, M, false, activation::gelu, nullptr);
      detail::linear(rb, D, M, hidden, M, fc2, x + m0 * ldx, ldx, true, activation::none, nullptr);
    }
  }

  // norm1 and the q, k, v rows of block `next` for rows [r0, r1).
  void next_rows(std::size_t r0, std::size_t r1) const noexcept {
    const convit_config& c = w->config;
    const convit_block_weights& b = w->blocks[next];
    const std::size_t D = c.dim, n = r1 - r0;
    float* h = sv->h + r0 * D;
    float* qkv = sv->qkv + r0 * 3 * D;
    layer_norm(sv->x + r0 * D, n, D, D, b.norm1_weight, b.norm1_bias, c.eps, h, D);
    if (c.is_gpsa_block(next)) {
      detail::linear(n, 2 * D, D, h, D, {b.qk_weight, packed(np.attn), b.qk_bias}, qkv, 3 * D,
                     false, activation::none, nullptr);
      detail::linear(n, D, D, h, D, {b.v_weight, packed(np.v), b.v_bias}, qkv + 2 * D, 3 * D, false,
                     activation::none, nullptr);
    } else {
      detail::linear(n, 3 * D, D, h, D, {b.qkv_weight, packed(np.attn), b.qkv_bias}, qkv, 3 * D,
                     false, activation::none, nullptr);
    }
  }

  // The final norm of rows [r0, r1).
  void final_rows(std::size_t r0, std::size_t r1) const noexcept {
    const convit_config& c = w->config;
    const std::size_t D = c.dim;
    if (stride != 1) {  // the class-token rows alone
      layer_norm(sv->x + r0 * stride * D, r1 - r0, D, stride * D, w->norm_weight, w->norm_bias,
                 c.eps, sv->x + r0 * stride * D, stride * D);
      return;
    }
    if (features != nullptr || c.pool == convit_pool::avg) {
      float* out = features != nullptr ? features : sv->h;
      layer_norm(sv->x + r0 * D, r1 - r0, D, D, w->norm_weight, w->norm_bias, c.eps, out + r0 * D,
                 D);
      return;
    }
    for (std::size_t r = (r0 + tokens - 1) / tokens * tokens; r < r1; r += tokens)
      layer_norm(sv->x + r * D, 1, D, D, w->norm_weight, w->norm_bias, c.eps, sv->x + r * D, D);
  }

  static void run(void* arg, std::size_t index, std::size_t worker) noexcept {
    const auto& j = *static_cast<const row_phase*>(arg);
    const std::size_t r0 = j.rows * index / j.chunks, r1 = j.rows * (index + 1) / j.chunks;
    if (r0 == r1) return;
    float* area = j.sv->areas + worker * j.sv->local;
    if (j.embed) j.embed_rows(r0, r1, area);
    if (j.chain) j.chain_rows(r0, r1, area);
    if (j.next < j.w->config.depth) j.next_rows(r0, r1);
    if (j.final) j.final_rows(r0, r1);
  }
};

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
      for (std::size_t t = 1; t < T; ++t) sum += static_cast<double>(x[(b * T + t) * D + d]);
      pooled[b * D + d] = static_cast<float>(sum / static_cast<double>(T - 1));
    }
}

bool finite_nonneg(float v) noexcept { return v >= 0.0f && v <= 3.4028235e38f; }

}  // namespace

namespace detail {

layer_weights convit_gpsa_layer(const convit_weights& w, std::size_t i) noexcept {
  const convit_config& c = w.config;
  const convit_block_weights& b = w.blocks[i];
  layer_weights g{c.heads,    c.dim,    b.qk_weight,   b.qk_bias,
                  b.v_weight, b.v_bias, b.proj_weight, b.proj_bias};
  if (w.packed != nullptr) {
    pack_walk walk;
    walk.take_linear(c.dim, patch_inputs(c));
    for (std::size_t j = 0; j < i; ++j) (void)walk_block(c, j, walk);
    g.packed = w.packed + walk_block(c, i, walk).attn;
  }
  return g;
}

}  // namespace detail

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
  // The plain linear weights are read only when there is no packed copy.
  const bool plain = w.packed == nullptr;
  const auto missing = [plain](const float* linear) { return plain && linear == nullptr; };
  if (missing(w.patch_weight) || (c.use_pos_embed && w.pos_embed == nullptr) ||
      w.norm_weight == nullptr || missing(w.head_weight) ||
      (c.has_class_token() && w.cls_token == nullptr))
    return status::invalid_argument;
  for (std::size_t i = 0; i < c.depth; ++i) {
    const convit_block_weights& b = w.blocks[i];
    if (b.norm1_weight == nullptr || b.norm2_weight == nullptr || missing(b.proj_weight) ||
        missing(b.fc1_weight) || missing(b.fc2_weight))
      return status::invalid_argument;
    if (c.is_gpsa_block(i)) {
      // pos_proj and gating_param are read by convit_fold (which checks them), the forward reads
      // the folded view.
      if (missing(b.qk_weight) || missing(b.v_weight)) return status::invalid_argument;
    } else if (missing(b.qkv_weight)) {
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

status convit_pack_linear(const convit_config& c, convit_linear which, std::size_t block,
                          const float* weight, std::span<float> packed) noexcept {
  std::size_t need = 0;
  if (const status s = convit_packed_size(c, need); s != status::ok) return s;
  if (weight == nullptr) return status::invalid_argument;
  const bool model_level = which == convit_linear::patch_embed || which == convit_linear::head;
  if (model_level ? block != 0 : block >= c.depth) return status::invalid_argument;
  if (!model_level) {
    const bool gpsa_only = which == convit_linear::qk || which == convit_linear::v;
    if (c.is_gpsa_block(block) ? which == convit_linear::qkv : gpsa_only)
      return status::invalid_argument;
  }
  if (packed.size() < need || packed.data() == nullptr) return status::buffer_too_small;
  const std::size_t D = c.dim, M = c.mlp_hidden;
  pack_walk walk;
  const std::size_t patch = walk.take_linear(D, patch_inputs(c));
  block_pack bp{};
  for (std::size_t i = 0; i < c.depth; ++i) {
    const block_pack b = walk_block(c, i, walk);
    if (i == block) bp = b;
  }
  const std::size_t head = walk.take_linear(c.classes, D);
  std::size_t at = 0, out = D, in = D;
  switch (which) {
    case convit_linear::patch_embed:
      at = patch, in = patch_inputs(c);
      break;
    case convit_linear::qk:
      at = bp.attn, out = 2 * D;
      break;
    case convit_linear::v:
      at = bp.v;
      break;
    case convit_linear::qkv:
      at = bp.attn, out = 3 * D;
      break;
    case convit_linear::proj:
      at = bp.proj;
      break;
    case convit_linear::fc1:
      at = bp.fc1, out = M;
      break;
    case convit_linear::fc2:
      at = bp.fc2, in = M;
      break;
    case convit_linear::head:
      at = head, out = c.classes;
      break;
    default:
      return status::invalid_argument;
  }
  detail::linear_pack(out, in, weight, packed.data() + at);
  return status::ok;
}

status convit_pack(const convit_weights& w, std::span<float> packed) noexcept {
  if (const status s = validate(w); s != status::ok) return s;
  const convit_config& c = w.config;
  std::size_t need = 0;
  if (const status s = convit_packed_size(c, need); s != status::ok) return s;
  if (packed.size() < need || packed.data() == nullptr) return status::buffer_too_small;
  const auto pack = [&](convit_linear which, std::size_t block, const float* weight) {
    return convit_pack_linear(c, which, block, weight, packed);
  };
  if (const status s = pack(convit_linear::patch_embed, 0, w.patch_weight); s != status::ok)
    return s;
  for (std::size_t i = 0; i < c.depth; ++i) {
    const convit_block_weights& b = w.blocks[i];
    const bool g = c.is_gpsa_block(i);
    for (const auto& [which, weight] :
         {std::pair{g ? convit_linear::qk : convit_linear::qkv, g ? b.qk_weight : b.qkv_weight},
          std::pair{convit_linear::v, b.v_weight}, std::pair{convit_linear::proj, b.proj_weight},
          std::pair{convit_linear::fc1, b.fc1_weight},
          std::pair{convit_linear::fc2, b.fc2_weight}}) {
      if (which == convit_linear::v && !g) continue;
      if (const status s = pack(which, i, weight); s != status::ok) return s;
    }
  }
  return pack(convit_linear::head, 0, w.head_weight);
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
  scratch_plan p;
  if (const status s = plan_scratch(c, batch, workers, p); s != status::ok) return s;
  std::size_t total = 0;
  if (!checked_add(p.stream, p.stream, total) || !checked_add(total, p.region, total) ||
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
  const std::size_t workers = workers_of(ex);
  std::size_t need = 0, stream = 0, image_floats = 0, logit_floats = 0;
  if (const status s = convit_scratch_size(c, batch, workers, need); s != status::ok) return s;
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

  [[maybe_unused]] const detail::flush_subnormals ftz;
  const std::size_t D = c.dim, N = c.patches(), T = c.tokens(), L = c.local_up_to_layer;
  const std::size_t depth = c.depth;
  scratch_plan plan;
  if (const status s = plan_scratch(c, batch, workers, plan); s != status::ok) return s;
  const scratch_view sv(plan, scratch, workers);
  const std::span<float> attn_scratch(sv.attn, sv.attn_floats);

  // The forward as phases, each one task set over the executor's workers: row phases (every
  // token row on its own: embedding, proj, norms, MLP, the next block's q, k, v) and, between
  // them, each block's attention (which needs every row of its item).
  row_phase ph{};
  ph.w = &w;
  ph.sv = &sv;
  ph.images = images.data();
  ph.features = features.empty() ? nullptr : features.data();
  ph.batch = batch;
  ph.next = depth;
  pack_walk walk;
  ph.patch_offset = walk.take_linear(D, patch_inputs(c));
  const auto pack_of = [&c, first = walk](std::size_t i) noexcept {
    pack_walk pw = first;
    for (std::size_t j = 0; j < i; ++j) (void)walk_block(c, j, pw);
    return walk_block(c, i, pw);
  };
  const auto run_rows = [&](std::size_t tokens, std::size_t stride = 1) noexcept {
    ph.tokens = tokens;
    ph.stride = stride;
    ph.rows = batch * tokens / stride;
    ph.chunks = min_of(workers, ph.rows);
    detail::run_tasks(ex, ph.chunks, &row_phase::run, &ph);
  };
  const auto set_next = [&](std::size_t j) noexcept {
    ph.next = j;
    if (j < depth) ph.np = pack_of(j);
  };
  const auto class_token = [&]() noexcept {
    prepend_class_token(c, batch, w.cls_token, sv.x);
    ph.embed = ph.chain = ph.final = false;
    set_next(L);
    run_rows(T);
  };

  // Without features and with the class-token pool the head reads one row of each item (row 0):
  // the last block then attends, projects and runs its MLP for that row alone (every row's k
  // and v still enter its attention). Rows are computed independently (nn.hpp: each element's
  // arithmetic does not depend on which rows a call has), so the logits are the same bits.
  const bool head_rows_only = features.empty() && c.pool == convit_pool::token;
  ph.embed = true;
  set_next(L > 0 ? 0 : depth);
  run_rows(N);
  if (L == 0) class_token();
  for (std::size_t i = 0; i < depth; ++i) {
    const std::size_t tokens = i < L ? N : T;
    const bool last_rows_only = head_rows_only && i + 1 == depth;
    const std::size_t queries = last_rows_only ? 1 : 0;
    if (c.is_gpsa_block(i)) {
      if (probe != nullptr)
        if (const status s =
                probe->gpsa_block_input(probe->context, i, batch, {sv.h, batch * N * D});
            s != status::ok)
          return s;
      detail::mha_forward({N, D, c.heads, queries}, batch, sv.qkv, head_scale(c.head_dim()),
                          &w.blocks[i].folded, attn_scratch, ex);
    } else {
      detail::mha_forward({T, D, c.heads, queries}, batch, sv.qkv, head_scale(c.head_dim()),
                          nullptr, attn_scratch, ex);
    }
    ph.embed = false;
    ph.chain = true;
    ph.block = i;
    ph.bp = pack_of(i);
    ph.final = i + 1 == depth;
    set_next(i + 1 < depth && i + 1 != L ? i + 1 : depth);
    run_rows(tokens, last_rows_only ? tokens : 1);
    if (i + 1 < depth && i + 1 == L) class_token();
  }

  // The head: on the class-token rows (normed in place, or in `features`), or on the mean of
  // the normed tokens after the first (pool avg: every row normed into `features` or h; the
  // mean into h or x, both free by now).
  const float* head_in = ph.features != nullptr ? ph.features : sv.x;
  std::size_t head_ld = T * D;
  if (c.pool == convit_pool::avg) {
    const float* normed = ph.features != nullptr ? ph.features : sv.h;
    float* pooled = ph.features != nullptr ? sv.h : sv.x;
    average_tokens(normed, batch, T, D, pooled);
    head_in = pooled;
    head_ld = D;
  }
  detail::linear(batch, c.classes, D, head_in, head_ld,
                 {w.head_weight, packed_at(w.packed, pack_head(c)), w.head_bias}, logits.data(),
                 c.classes, false, activation::none, ex);
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
