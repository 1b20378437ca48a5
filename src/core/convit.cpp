// SPDX-License-Identifier: MIT
// Whole-ConViT forward on caller-owned buffers: patch embedding, GPSA / MHSA blocks, MLPs,
// LayerNorms, class token and head (gpsa/convit.hpp). The heavy lifting is GEMM (linalg.hpp) and
// the GPSA layer kernel (attention.hpp).
#include "gpsa/convit.hpp"

#include <cmath>
#include <cstddef>
#include <cstring>

#include "convit_simd.hpp"
#include "gpsa/attention.hpp"
#include "gpsa/detail/constexpr_math.hpp"
#include "gpsa/fold.hpp"
#include "gpsa/linalg.hpp"

namespace gpsa {
namespace {

using detail::mul_overflows;

bool mul3(std::size_t a, std::size_t b, std::size_t c, std::size_t& out) noexcept {
  std::size_t ab = 0;
  return !mul_overflows(a, b, ab) && !mul_overflows(ab, c, out);
}

bool add(std::size_t a, std::size_t b, std::size_t& out) noexcept {
  if (a > static_cast<std::size_t>(-1) - b) return false;
  out = a + b;
  return true;
}

constexpr std::size_t max_of(std::size_t a, std::size_t b) noexcept { return a > b ? a : b; }
constexpr std::size_t min_of(std::size_t a, std::size_t b) noexcept { return a < b ? a : b; }

// Query rows per block of the MHSA attention: 64 x 197 scores = 50 KB stay in L2 through the
// softmax and the attn @ v product (the GPSA kernel uses the same block).
constexpr std::size_t kAttnRows = 64;
// Token rows per block of the MLP: the (256, M) hidden block (768 KB for ConViT-Ti) is still in
// cache when GELU and fc2 read it, and the scratch does not grow with the batch.
constexpr std::size_t kMlpRows = 256;

// ---- the GEMMs ----------------------------------------------------------------------------
// MERGE(gemm, issue 9): every GEMM of the model goes through here; switch to the parallel GEMM
// (executor variant) when it lands. `ex` is unused until then.
void model_gemm(const executor* /*ex*/, bool trans_a, bool trans_b, std::size_t m, std::size_t n,
                std::size_t k, float alpha, const float* a, std::size_t lda, const float* b,
                std::size_t ldb, float beta, float* c, std::size_t ldc) noexcept {
  gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// out (m x n, stride ldo) (+)= in (m x k, stride ldi) W^T + bias, W (n x k): nn.Linear. With
// `accumulate` the result is added to out (the residual connection, one pass fewer).
void linear(const executor* ex, std::size_t m, std::size_t n, std::size_t k, const float* in,
            std::size_t ldi, const float* weight, const float* bias, float* out, std::size_t ldo,
            bool accumulate) noexcept {
  float beta = accumulate ? 1.0f : 0.0f;
  if (bias != nullptr) {
    for (std::size_t i = 0; i < m; ++i) {
      float* o = out + i * ldo;
      if (accumulate)
        for (std::size_t j = 0; j < n; ++j) o[j] += bias[j];
      else
        std::memcpy(o, bias, sizeof(float) * n);
    }
    beta = 1.0f;
  }
  model_gemm(ex, false, true, m, n, k, 1.0f, in, ldi, weight, k, beta, out, ldo);
}

void add_inplace(float* x, const float* y, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) x[i] += y[i];
}

// Runs task(arg, i, worker) for i in [0, count): in order on this thread without an executor,
// else through the host's parallel_for.
void run_tasks(const executor* ex, std::size_t count,
               void (*task)(void* arg, std::size_t index, std::size_t worker), void* arg) noexcept {
  if (count == 0) return;
  if (ex == nullptr) {
    for (std::size_t i = 0; i < count; ++i) task(arg, i, 0);
    return;
  }
  ex->parallel_for(ex->context, count, task, arg);
}

// ---- the one call into the GPSA layer kernel ------------------------------------------------

status gpsa_layer_scratch(const convit_config& c, std::size_t batch, std::size_t workers,
                          std::size_t& floats) noexcept {
  return gpsa_scratch_size({batch, c.patch_grid(), c.heads, c.dim}, workers, floats);
}

// x (B, N, D) = GPSA(x) in place for block b; `folded` is its folded state (fx, gy, lambda as
// convit_fold wrote them), whose lambda the kernel's blend reads.
status gpsa_layer_forward(const convit_config& c, const convit_block_weights& b,
                          const float* folded, const fold_counts& n, std::size_t batch, float* x,
                          std::span<float> scratch, const executor* ex) noexcept {
  const gpsa_weights w{c.heads,    c.dim,    b.qk_weight,   b.qk_bias,
                       b.v_weight, b.v_bias, b.proj_weight, b.proj_bias};
  const folded_view pos{c.heads, c.patch_grid(), folded, folded + n.fx, folded + n.fx + n.gy};
  const std::size_t floats = batch * c.patches() * c.dim;  // checked by convit_scratch_size
  return gpsa_forward(w, pos, batch, {x, floats}, {x, floats}, {}, scratch, ex);
}

// ---- MHSA -----------------------------------------------------------------------------------

// One (item, head) of MHSA over qkv rows [q (D) | k (D) | v (D)] (head h at columns h*d of each):
// o_h = softmax(q_h k_h^T * scale) v_h, written over q_h block by block (a block's query rows
// are read by its score GEMM before they are overwritten; k and v are never written).
struct mhsa_job {
  float* qkv;
  float* work;  // per worker: kAttnRows * T
  std::size_t T, D, H, d, work_floats;
  float scale;

  static void run(void* arg, std::size_t index, std::size_t worker) noexcept {
    const auto& j = *static_cast<const mhsa_job*>(arg);
    const std::size_t b = index / j.H, h = index % j.H, T = j.T, ld = 3 * j.D;
    float* rows = j.qkv + b * T * ld;
    float* q = rows + h * j.d;
    const float* k = rows + j.D + h * j.d;
    const float* v = rows + 2 * j.D + h * j.d;
    float* s = j.work + worker * j.work_floats;
    for (std::size_t p0 = 0; p0 < T; p0 += kAttnRows) {
      const std::size_t rb = min_of(kAttnRows, T - p0);
      // Inside a worker's task: the serial GEMM (the parallelism is over (item, head) already).
      gemm(false, true, rb, T, j.d, j.scale, q + p0 * ld, ld, k, ld, 0.0f, s, T);
      softmax_rows(s, rb, T, T);
      gemm(false, false, rb, j.d, T, 1.0f, s, T, v, ld, 0.0f, q + p0 * ld, ld);
    }
  }
};

status mhsa_floats(const convit_config& c, std::size_t batch, std::size_t workers,
                   std::size_t& floats) noexcept {
  const std::size_t T = c.tokens();
  std::size_t qkv = 0, work = 0;
  if (!mul3(batch, T, 3 * c.dim, qkv) || !mul3(min_of(kAttnRows, T), T, workers, work) ||
      !add(qkv, work, floats))
    return status::size_overflow;
  return status::ok;
}

// x (B, T, D) += proj(MHSA(h)), h = norm1(x) (B, T, D); big: mhsa_floats.
void mhsa_block(const convit_config& c, const convit_block_weights& b, std::size_t batch,
                const float* h, float* x, float* big, const executor* ex) noexcept {
  const std::size_t T = c.tokens(), D = c.dim, BT = batch * T;
  float* qkv = big;
  linear(ex, BT, 3 * D, D, h, D, b.qkv_weight, b.qkv_bias, qkv, 3 * D, false);
  mhsa_job job{qkv,
               qkv + BT * 3 * D,
               T,
               D,
               c.heads,
               c.head_dim(),
               min_of(kAttnRows, T) * T,
               head_scale(c.head_dim())};
  run_tasks(ex, batch * c.heads, &mhsa_job::run, &job);
  linear(ex, BT, D, D, qkv, 3 * D, b.proj_weight, b.proj_bias, x, D, true);
}

// ---- MLP ------------------------------------------------------------------------------------

// x (rows, D) += fc2(gelu(fc1(h))), a block of kMlpRows token rows at a time; hidden: kMlpRows*M.
void mlp_block(const convit_config& c, const convit_block_weights& b, std::size_t rows,
               const float* h, float* x, float* hidden, const executor* ex) noexcept {
  const std::size_t D = c.dim, M = c.mlp_hidden;
  for (std::size_t r0 = 0; r0 < rows; r0 += kMlpRows) {
    const std::size_t rb = min_of(kMlpRows, rows - r0);
    linear(ex, rb, M, D, h + r0 * D, D, b.fc1_weight, b.fc1_bias, hidden, M, false);
    gelu_inplace(hidden, rb * M);
    linear(ex, rb, D, M, hidden, M, b.fc2_weight, b.fc2_bias, x + r0 * D, D, true);
  }
}

// ---- patch embedding ------------------------------------------------------------------------

// x (B, N, D) = conv(images) + pos_embed: per image, the patches as rows (im2col, columns in the
// weight's (c, ky, kx) order) times the weight^T. cols: N * C * p * p floats.
void patch_embed(const convit_weights& w, std::size_t batch, const float* images, float* x,
                 float* cols, const executor* ex) noexcept {
  const convit_config& c = w.config;
  const std::size_t S = c.image_size, p = c.patch_size, G = c.grid_side(), N = G * G, D = c.dim;
  const std::size_t K = c.channels * p * p;
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
    float* xb = x + b * N * D;
    // The conv bias and pos_embed are the GEMM's initial C.
    for (std::size_t n = 0; n < N; ++n) {
      float* o = xb + n * D;
      const float* pe = w.pos_embed + n * D;
      if (w.patch_bias != nullptr)
        for (std::size_t j = 0; j < D; ++j) o[j] = w.patch_bias[j] + pe[j];
      else
        std::memcpy(o, pe, sizeof(float) * D);
    }
    model_gemm(ex, false, true, N, D, K, 1.0f, cols, K, w.patch_weight, K, 1.0f, xb, D);
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
  if (!mul3(batch, c.tokens(), c.dim, stream)) return status::size_overflow;
  if (const status s = shared_floats(c, batch, workers, shared); s != status::ok) return s;
  if (!add(stream, stream, total) || !add(total, shared, total)) return status::size_overflow;
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

  const std::size_t D = c.dim, N = c.patches(), T = c.tokens();
  fold_counts fc{};
  if (const status s = fold_size(c.patch_grid(), c.heads, fc); s != status::ok) return s;
  float* x = scratch.data();   // the token stream, (B, N, D) then (B, N+1, D)
  float* h = x + stream;       // its normed copy / the attention output
  float* shared = h + stream;  // patches, attention scratch or the MLP's hidden block

  patch_embed(w, batch, images, x, shared, ex);
  std::size_t tokens = N;  // per item, before / after the class token
  for (std::size_t i = 0; i < c.depth; ++i) {
    const convit_block_weights& b = w.blocks[i];
    if (i == c.local_up_to_layer) {
      prepend_class_token(c, batch, w.cls_token, x);
      tokens = N + 1;
    }
    const std::size_t rows = batch * tokens;
    layer_norm_rows(x, rows, D, D, b.norm1_weight, b.norm1_bias, c.eps, h, D);
    if (c.is_gpsa_block(i)) {
      if (probe != nullptr)
        if (const status s = probe->gpsa_block_input(probe->context, i, batch, {h, rows * D});
            s != status::ok)
          return s;
      if (const status s = gpsa_layer_forward(c, b, folded.data() + i * fc.total(), fc, batch, h,
                                              scratch.subspan(2 * stream), ex);
          s != status::ok)
        return s;
      add_inplace(x, h, rows * D);
    } else {
      mhsa_block(c, b, batch, h, x, shared, ex);
    }
    layer_norm_rows(x, rows, D, D, b.norm2_weight, b.norm2_bias, c.eps, h, D);
    mlp_block(c, b, rows, h, x, shared, ex);
  }

  // Final norm: every token into `features`, or only the class-token rows the head reads.
  const float* head_in = nullptr;
  std::size_t head_ld = 0;
  if (features != nullptr) {
    layer_norm_rows(x, batch * T, D, D, w.norm_weight, w.norm_bias, c.eps, features, D);
    head_in = features;
    head_ld = T * D;
  } else {
    layer_norm_rows(x, batch, D, T * D, w.norm_weight, w.norm_bias, c.eps, h, D);
    head_in = h;
    head_ld = D;
  }
  linear(ex, batch, c.classes, D, head_in, head_ld, w.head_weight, w.head_bias, logits, c.classes,
         false);
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
