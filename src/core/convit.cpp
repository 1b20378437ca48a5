// SPDX-License-Identifier: MIT
// Whole-ConViT forward on caller-owned buffers: patch embedding, GPSA / MHSA blocks, MLPs,
// LayerNorms, class token and head (gpsa/convit.hpp). The heavy lifting is GEMM (linalg.hpp) and
// the GPSA layer kernel (attention.hpp).
#include "gpsa/convit.hpp"

#include <cmath>
#include <cstddef>
#include <cstring>

#include "convit_simd.hpp"
#include "fp_env.hpp"
#include "gpsa/attention.hpp"
#include "gpsa/detail/constexpr_math.hpp"
#include "gpsa/fold.hpp"
#include "gpsa/linalg.hpp"
#include "nn.hpp"

namespace gpsa {
namespace {

using detail::activation;
using detail::add;
using detail::linear_weight;
using detail::mul3;
using detail::mul_overflows;

constexpr std::size_t max_of(std::size_t a, std::size_t b) noexcept { return a > b ? a : b; }
constexpr std::size_t min_of(std::size_t a, std::size_t b) noexcept { return a < b ? a : b; }

// Token rows per block of the MLP: the (256, M) hidden block (768 KB for ConViT-Ti) is still in
// cache when fc2 reads it, and the scratch does not grow with the batch.
constexpr std::size_t kMlpRows = 256;

// ---- the packed weights' layout ---------------------------------------------------------------

// Walks convit_pack_weights' layout in its fixed order: the patch embedding; per block the
// attention (GPSA: the layer's own pack, gpsa_pack_weights' qk | v | proj; MHSA: qkv, proj),
// fc1, fc2; then the head. Each take() returns the offset of the next weight.
struct pack_walk {
  std::size_t offset = 0;
  bool ok = true;

  std::size_t advance(std::size_t floats) noexcept {
    const std::size_t at = offset;
    if (!add(offset, floats, offset)) ok = false;
    return at;
  }
  std::size_t take(std::size_t out, std::size_t in) noexcept {
    std::size_t f = 0;
    if (!detail::linear_packed_floats(out, in, f)) ok = false;
    return advance(f);
  }
  std::size_t take_gpsa(std::size_t dim) noexcept {
    std::size_t f = 0;
    if (gpsa_packed_size(dim, f) != status::ok) ok = false;
    return advance(f);
  }
};

// Where one block's packed weights are (offsets into the pack).
struct block_pack {
  std::size_t attn = 0, proj = 0, fc1 = 0, fc2 = 0;  // attn: the GPSA layer's pack, or qkv
};

block_pack walk_block(const convit_config& c, std::size_t i, pack_walk& walk) noexcept {
  block_pack b{};
  const std::size_t D = c.dim, M = c.mlp_hidden;
  if (c.is_gpsa_block(i)) {
    b.attn = walk.take_gpsa(D);
  } else {
    b.attn = walk.take(3 * D, D);
    b.proj = walk.take(D, D);
  }
  b.fc1 = walk.take(M, D);
  b.fc2 = walk.take(D, M);
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
  return gpsa_scratch_size({batch, c.patch_grid(), c.heads, c.dim}, workers, floats);
}

// x (B, N, D) += GPSA(h) for block b (h = norm1(x)); `folded` is its folded state (fx, gy,
// lambda as convit_fold wrote them), whose lambda the kernel's blend reads.
void gpsa_block(const convit_config& c, const convit_block_weights& b, const float* packed,
                const float* folded, const fold_counts& n, std::size_t batch, const float* h,
                float* x, std::span<float> scratch, const executor* ex) noexcept {
  gpsa_weights w{c.heads,    c.dim,    b.qk_weight,   b.qk_bias,
                 b.v_weight, b.v_bias, b.proj_weight, b.proj_bias};
  w.packed = packed;
  const folded_view pos{c.heads, c.patch_grid(), folded, folded + n.fx, folded + n.fx + n.gy};
  detail::gpsa_forward_fused(w, pos, batch, h, x, true, scratch, ex);
}

// ---- MHSA -----------------------------------------------------------------------------------

status mhsa_floats(const convit_config& c, std::size_t batch, std::size_t workers,
                   std::size_t& floats) noexcept {
  const std::size_t T = c.tokens();
  std::size_t qkv = 0, work = 0;
  if (!mul3(batch, T, 3 * c.dim, qkv) || !detail::round_up_aligned(qkv, qkv) ||
      !detail::mha_scratch_floats({T, c.dim, c.heads}, false, batch, workers, work) ||
      !add(qkv, work, floats))
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
    // pos_embed is the GEMM's initial C; the conv bias comes with the epilogue.
    float* xb = x + b * N * D;
    std::memcpy(xb, w.pos_embed, sizeof(float) * N * D);
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
    layer_norm_rows(j.x + r0 * j.ldx, r1 - r0, j.dim, j.ldx, j.weight, j.bias, j.eps,
                    j.y + r0 * j.ldy, j.ldy);
  }
};

void layer_norm(const float* x, std::size_t rows, std::size_t dim, std::size_t ldx,
                const float* weight, const float* bias, float eps, float* y, std::size_t ldy,
                const executor* ex) noexcept {
  const std::size_t chunks = min_of(detail::workers_of(ex), (rows + 31) / 32);
  norm_job job{x, rows, dim, ldx, weight, bias, eps, y, ldy, chunks < 1 ? 1 : chunks};
  detail::run_tasks(ex, job.chunks, &norm_job::run, &job);
}

// Floats of the region shared by the stages (the largest one's need).
status shared_floats(const convit_config& c, std::size_t batch, std::size_t workers,
                     std::size_t& floats) noexcept {
  std::size_t cols = 0, mlp = 0, gpsa = 0, mhsa = 0;
  if (!mul3(c.patches(), c.channels * c.patch_size, c.patch_size, cols))
    return status::size_overflow;
  std::size_t rows = 0;
  if (mul_overflows(batch, c.tokens(), rows) ||
      mul_overflows(min_of(rows, kMlpRows), c.mlp_hidden, mlp))
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

// ---- small kernels --------------------------------------------------------------------------

void gelu_inplace(float* x, std::size_t n) noexcept {
#if defined(GPSA_HAVE_HWY)
  detail::hwy_gelu(x, n);
#else
  // Branch-free, so the loop vectorises; a NaN u falls through the clamps and stays NaN.
  using namespace detail::gelu_coeff;
  for (std::size_t i = 0; i < n; ++i) {
    const float v = x[i];
    float u = v * kRsqrt2;
    u = u > kErfClamp ? kErfClamp : u;
    u = u < -kErfClamp ? -kErfClamp : u;
    const float t = u * u;
    const float P = ((((p5 * t + p4) * t + p3) * t + p2) * t + p1) * t + p0;
    const float Q = ((((q5 * t + q4) * t + q3) * t + q2) * t + q1) * t + 1.0f;
    float e = u * P / Q;
    e = e > 1.0f ? 1.0f : e;
    e = e < -1.0f ? -1.0f : e;
    x[i] = 0.5f * v * (1.0f + e);
  }
#endif
}

void layer_norm_rows(const float* x, std::size_t rows, std::size_t dim, std::size_t ldx,
                     const float* weight, const float* bias, float eps, float* y,
                     std::size_t ldy) noexcept {
  if (dim == 0) return;
#if defined(GPSA_HAVE_HWY)
  detail::hwy_layer_norm(x, rows, dim, ldx, weight, bias, eps, y, ldy);
#elif defined(__ARM_FP) && !(__ARM_FP & 8)
  // An FPU without double precision (Cortex-M4F): double would be software arithmetic, ~50
  // instructions an operation (measured: 60 % of the digits model's forward). Two passes in
  // float as the SIMD build does: the sum of values shifted by the row's first element (no
  // cancellation when the mean is far larger than the spread), then the squared deviations.
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xi = x + r * ldx;
    float* yi = y + r * ldy;
    const float shift = xi[0];
    float s = 0.0f;
    for (std::size_t j = 0; j < dim; ++j) s += xi[j] - shift;
    const float mean = shift + s / static_cast<float>(dim);
    float v = 0.0f;
    for (std::size_t j = 0; j < dim; ++j) {
      const float dj = xi[j] - mean;
      v += dj * dj;
    }
    const float rstd = static_cast<float>(
        1.0 / detail::runtime_sqrt(static_cast<double>(v / static_cast<float>(dim) + eps)));
    for (std::size_t j = 0; j < dim; ++j) {
      const float w = weight != nullptr ? weight[j] : 1.0f;
      const float b = bias != nullptr ? bias[j] : 0.0f;
      yi[j] = (xi[j] - mean) * rstd * w + b;
    }
  }
#else
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xi = x + r * ldx;
    float* yi = y + r * ldy;
    // Two passes in double: the mean, then the squared deviations (no cancellation).
    double s = 0.0;
    for (std::size_t j = 0; j < dim; ++j) s += xi[j];
    const double mean = s / static_cast<double>(dim);
    double v = 0.0;
    for (std::size_t j = 0; j < dim; ++j) {
      const double dj = xi[j] - mean;
      v += dj * dj;
    }
    const double rstd =
        1.0 / detail::runtime_sqrt(v / static_cast<double>(dim) + static_cast<double>(eps));
    for (std::size_t j = 0; j < dim; ++j) {
      const float w = weight != nullptr ? weight[j] : 1.0f;
      const float b = bias != nullptr ? bias[j] : 0.0f;
      yi[j] = static_cast<float>((xi[j] - mean) * rstd) * w + b;
    }
  }
#endif
}

// ---- validation and sizes -------------------------------------------------------------------

status validate(const convit_config& c) noexcept {
  if (c.image_size == 0 || c.patch_size == 0 || c.channels == 0 || c.dim == 0 || c.heads == 0 ||
      c.depth == 0 || c.mlp_hidden == 0 || c.classes == 0)
    return status::invalid_argument;
  if (c.image_size % c.patch_size != 0 || c.dim % c.heads != 0 || c.local_up_to_layer > c.depth ||
      !finite_nonneg(c.eps))
    return status::invalid_argument;
  return status::ok;
}

status validate(const convit_weights& w) noexcept {
  const convit_config& c = w.config;
  if (const status s = validate(c); s != status::ok) return s;
  if (w.blocks.size() != c.depth) return status::shape_mismatch;
  if (w.patch_weight == nullptr || w.pos_embed == nullptr || w.norm_weight == nullptr ||
      w.head_weight == nullptr || (c.has_class_token() && w.cls_token == nullptr))
    return status::invalid_argument;
  for (std::size_t i = 0; i < c.depth; ++i) {
    const convit_block_weights& b = w.blocks[i];
    if (b.norm1_weight == nullptr || b.norm2_weight == nullptr || b.proj_weight == nullptr ||
        b.fc1_weight == nullptr || b.fc2_weight == nullptr)
      return status::invalid_argument;
    if (c.is_gpsa_block(i)) {
      if (b.qk_weight == nullptr || b.v_weight == nullptr || b.pos_proj_weight == nullptr ||
          b.gating_param == nullptr)
        return status::invalid_argument;
    } else if (b.qkv_weight == nullptr) {
      return status::invalid_argument;
    }
  }
  return status::ok;
}

status convit_packed_size(const convit_config& c, std::size_t& floats) noexcept {
  if (const status s = validate(c); s != status::ok) return s;
  pack_walk walk;
  walk.take(c.dim, patch_inputs(c));
  for (std::size_t i = 0; i < c.depth; ++i) (void)walk_block(c, i, walk);
  walk.take(c.classes, c.dim);
  if (!walk.ok) return status::size_overflow;
  floats = walk.offset;
  return status::ok;
}

status convit_pack_weights(const convit_weights& w, std::span<float> packed) noexcept {
  if (const status s = validate(w); s != status::ok) return s;
  const convit_config& c = w.config;
  std::size_t need = 0;
  if (const status s = convit_packed_size(c, need); s != status::ok) return s;
  if (packed.size() < need || packed.data() == nullptr) return status::buffer_too_small;
  const std::size_t D = c.dim, M = c.mlp_hidden;
  float* out = packed.data();
  pack_walk walk;
  detail::linear_pack(D, patch_inputs(c), w.patch_weight, out + walk.take(D, patch_inputs(c)));
  for (std::size_t i = 0; i < c.depth; ++i) {
    const convit_block_weights& b = w.blocks[i];
    const block_pack bp = walk_block(c, i, walk);
    if (c.is_gpsa_block(i)) {
      const gpsa_weights g{c.heads,    c.dim,    b.qk_weight,   b.qk_bias,
                           b.v_weight, b.v_bias, b.proj_weight, b.proj_bias};
      std::size_t n = 0;
      (void)gpsa_packed_size(D, n);
      if (const status s = gpsa_pack_weights(g, {out + bp.attn, n}); s != status::ok) return s;
    } else {
      detail::linear_pack(3 * D, D, b.qkv_weight, out + bp.attn);
      detail::linear_pack(D, D, b.proj_weight, out + bp.proj);
    }
    detail::linear_pack(M, D, b.fc1_weight, out + bp.fc1);
    detail::linear_pack(D, M, b.fc2_weight, out + bp.fc2);
  }
  detail::linear_pack(c.classes, D, w.head_weight, out + walk.take(c.classes, D));
  return status::ok;
}

status convit_folded_size(const convit_config& c, std::size_t& floats) noexcept {
  if (const status s = validate(c); s != status::ok) return s;
  fold_counts n{};
  if (const status s = fold_size(c.patch_grid(), c.heads, n); s != status::ok) return s;
  std::size_t total = 0;
  if (mul_overflows(n.total(), c.local_up_to_layer, total)) return status::size_overflow;
  floats = total;
  return status::ok;
}

status convit_fold(const convit_weights& w, std::span<float> folded) noexcept {
  if (const status s = validate(w); s != status::ok) return s;
  const convit_config& c = w.config;
  std::size_t need = 0;
  if (const status s = convit_folded_size(c, need); s != status::ok) return s;
  if (folded.size() < need || (need != 0 && folded.data() == nullptr))
    return status::buffer_too_small;
  fold_counts n{};
  if (const status s = fold_size(c.patch_grid(), c.heads, n); s != status::ok) return s;
  const std::size_t H = c.heads;
  for (std::size_t i = 0; i < c.local_up_to_layer; ++i) {
    const convit_block_weights& b = w.blocks[i];
    float* fx = folded.data() + i * n.total();
    float* gy = fx + n.fx;
    float* lam = gy + n.gy;
    if (const status s =
            fold_positional(c.patch_grid(), H, {b.pos_proj_weight, 3 * H}, {}, {b.gating_param, H},
                            {fx, n.fx}, {gy, n.gy}, {lam, n.lambda});
        s != status::ok)
      return s;
  }
  return status::ok;
}

status convit_scratch_size(const convit_config& c, std::size_t batch, std::size_t workers,
                           std::size_t& floats) noexcept {
  if (const status s = validate(c); s != status::ok) return s;
  if (workers == 0) return status::invalid_argument;
  std::size_t stream = 0, shared = 0, total = 0;
  if (!mul3(batch, c.tokens(), c.dim, stream) || !detail::round_up_aligned(stream, stream))
    return status::size_overflow;
  if (const status s = shared_floats(c, batch, workers, shared); s != status::ok) return s;
  if (!add(stream, stream, total) || !add(total, shared, total) ||
      !add(total, detail::kAlignFloats, total))
    return status::size_overflow;
  floats = total;
  return status::ok;
}

// ---- forward --------------------------------------------------------------------------------

namespace {

// The forward; `probe` is null for convit_forward (one pointer test per GPSA block).
status convit_forward_impl(const convit_weights& w, std::span<const float> folded,
                           std::size_t batch, const float* images, float* logits, float* features,
                           std::span<float> scratch, const convit_probe* probe,
                           const executor* ex) noexcept {
  if (const status s = validate(w); s != status::ok) return s;
  if (ex != nullptr && (ex->workers == 0 || ex->parallel_for == nullptr))
    return status::invalid_argument;
  if (batch == 0) return status::ok;
  if (images == nullptr || logits == nullptr) return status::invalid_argument;
  const convit_config& c = w.config;
  const std::size_t workers = ex != nullptr ? ex->workers : 1;
  std::size_t need = 0, need_folded = 0, stream = 0;
  if (const status s = convit_scratch_size(c, batch, workers, need); s != status::ok) return s;
  if (const status s = convit_folded_size(c, need_folded); s != status::ok) return s;
  if (scratch.size() < need || scratch.data() == nullptr) return status::buffer_too_small;
  if (folded.size() < need_folded || (need_folded != 0 && folded.data() == nullptr))
    return status::buffer_too_small;
  std::size_t image_floats = 0;
  if (!mul3(batch, c.channels, c.image_size * c.image_size, image_floats) ||
      !mul3(batch, c.tokens(), c.dim, stream))
    return status::size_overflow;

  if (w.packed != nullptr) {
    std::size_t packed = 0;
    if (const status s = convit_packed_size(c, packed); s != status::ok) return s;
  }
  if (!detail::round_up_aligned(stream, stream)) return status::size_overflow;

  [[maybe_unused]] const detail::flush_subnormals ftz;
  const std::size_t D = c.dim, N = c.patches(), T = c.tokens();
  fold_counts fc{};
  if (const status s = fold_size(c.patch_grid(), c.heads, fc); s != status::ok) return s;
  float* x = detail::align_floats(scratch.data());  // the token stream, (B, N, D) then (B, N+1, D)
  float* h = x + stream;                            // its normed copy
  float* shared = h + stream;  // patches, attention scratch or the MLP's hidden block
  const std::span<float> shared_span =
      scratch.subspan(static_cast<std::size_t>(shared - scratch.data()));

  pack_walk walk;
  patch_embed(w, packed_at(w.packed, walk.take(D, patch_inputs(c))), batch, images, x, shared, ex);
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
      gpsa_block(c, b, packed_at(w.packed, bp.attn), folded.data() + i * fc.total(), fc, batch, h,
                 x, shared_span, ex);
    } else {
      mhsa_block(c, b, w.packed, bp, batch, h, x, shared_span, ex);
    }
    layer_norm(x, rows, D, D, b.norm2_weight, b.norm2_bias, c.eps, h, D, ex);
    mlp_block(c, b, w.packed, bp, rows, h, x, shared, ex);
  }

  // Final norm: every token into `features`, or only the class-token rows the head reads.
  const float* head_in = nullptr;
  std::size_t head_ld = 0;
  if (features != nullptr) {
    layer_norm(x, batch * T, D, D, w.norm_weight, w.norm_bias, c.eps, features, D, ex);
    head_in = features;
    head_ld = T * D;
  } else {
    layer_norm(x, batch, D, T * D, w.norm_weight, w.norm_bias, c.eps, h, D, ex);
    head_in = h;
    head_ld = D;
  }
  detail::linear(batch, c.classes, D, head_in, head_ld,
                 {w.head_weight, packed_at(w.packed, walk.take(c.classes, D)), w.head_bias}, logits,
                 c.classes, false, activation::none, ex);
  return status::ok;
}

}  // namespace

status convit_forward(const convit_weights& w, std::span<const float> folded, std::size_t batch,
                      const float* images, float* logits, float* features, std::span<float> scratch,
                      const executor* ex) noexcept {
  return convit_forward_impl(w, folded, batch, images, logits, features, scratch, nullptr, ex);
}

status convit_forward_probed(const convit_weights& w, std::span<const float> folded,
                             std::size_t batch, const float* images, float* logits, float* features,
                             std::span<float> scratch, const convit_probe& probe,
                             const executor* ex) noexcept {
  return convit_forward_impl(w, folded, batch, images, logits, features, scratch,
                             probe.gpsa_block_input != nullptr ? &probe : nullptr, ex);
}

}  // namespace gpsa
