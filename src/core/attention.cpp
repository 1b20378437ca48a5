// SPDX-License-Identifier: MIT
// GPSA gated attention and layer forward on caller-owned buffers (GEMMs and softmax from linalg).
#include "gpsa/attention.hpp"
#include "gpsa/detail/constexpr_math.hpp"

#include <cmath>
#include <cstddef>
#include <cstring>

#include "fold_kernels.hpp"
#include "gpsa/fold.hpp"
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

// The one linear layer of the kernels: out (m x n, stride ldo) = in (m x k, stride ldi) W^T + b,
// W (n x k) row-major; like nn.Linear's addmm, the bias is the GEMM's initial C.
void linear(std::size_t m, std::size_t n, std::size_t k, const float* in, std::size_t ldi,
            const float* weight, const float* bias, float* out, std::size_t ldo) noexcept {
  float beta = 0.0f;
  if (bias != nullptr) {
    for (std::size_t i = 0; i < m; ++i) std::memcpy(out + i * ldo, bias, sizeof(float) * n);
    beta = 1.0f;
  }
  gemm(false, true, m, n, k, 1.0f, in, ldi, weight, k, beta, out, ldo);
}

// softmax_rows(q k^T * scale) into out; the callers have checked the arguments.
void content_rows(std::size_t nq, std::size_t nk, std::size_t d, const float* q, std::size_t ldq,
                  const float* k, std::size_t ldk, float scale, float* out,
                  std::size_t ldo) noexcept {
  gemm(false, true, nq, nk, d, scale, q, ldq, k, ldk, 0.0f, out, ldo);
  softmax_rows(out, nq, nk, ldo);
}

// Query rows per block of the fused forward: 64 x 196 scores = 50 KB, resident in L2 while
// the block goes through softmax and the attn @ v GEMM.
constexpr std::size_t kRowBlock = 64;

// Floats of the fused forward's per-head work area: a block of scores, position @ v_h and the
// intermediate of the separable product (N x d each).
bool fused_floats(std::size_t N, std::size_t head_dim, std::size_t& floats) noexcept {
  const std::size_t rb = N < kRowBlock ? N : kRowBlock;
  std::size_t blk = 0, nd = 0;
  return !mul_overflows(rb, N, blk) && mul3(N, head_dim, 2, nd) && add(blk, nd, floats);
}

// PyTorch's get_attention blend of head h in place, with the fold's lambda:
// (1 - lambda) * content + lambda * position, each row then divided by its sum.
void blend_head(const folded_view& pos, std::size_t h, float* attn) noexcept {
  const std::size_t R = pos.shape.rows, C = pos.shape.cols, N = R * C;
  const float lam = pos.lambda[h];
  detail::blend_rows_factored(pos.fx + h * C * C, pos.gy + h * R * R, R, C, lam, 1.0f - lam, 0, N,
                              attn, N, attn, N);
}

// One head of one item without forming its N x N attention. q/k/v: N rows of d values with row
// stride ld; o (stride ld, may be q itself: each block reads only its own query rows before
// writing them) receives attn_h @ v_h. work: fused_floats.
void fused_head(const folded_view& pos, std::size_t h, std::size_t d, float scale, const float* q,
                const float* k, const float* v, std::size_t ld, float* o, float* work) noexcept {
  const std::size_t R = pos.shape.rows, C = pos.shape.cols, N = R * C;
  const std::size_t rb_max = N < kRowBlock ? N : kRowBlock;
  const float lam = pos.lambda[h], oml = 1.0f - lam;  // PyTorch: (1. - sigmoid(g)) in float
  float* s = work;                                    // rb_max x N scores
  float* pv = s + rb_max * N;                         // N x d: position[h] @ v_h
  float* t = pv + N * d;  // N x d: intermediate of the separable product
  detail::positional_apply_factors(pos.fx + h * C * C, pos.gy + h * R * R, R, C, d, v, ld, pv, d,
                                   t);
  for (std::size_t p0 = 0; p0 < N; p0 += rb_max) {
    const std::size_t rb = N - p0 < rb_max ? N - p0 : rb_max;
    content_rows(rb, N, d, q + p0 * ld, ld, k, ld, scale, s, N);
    // No row renormalisation here. Each blended row sums to 1 up to rounding: the softmax row is
    // normalised in float (|sum - 1| <~ N * 2^-24 ~ 1e-5 at worst, ~1e-7 typically) and the
    // factors in double then rounded (Fx, Gy rows within ~1e-7 of 1). Dividing by that sum would
    // move y by the same relative amount, 10-1000x below the golden tolerance 1e-4 * max|y|;
    // tests/forward (FusedForward) checks y against the golden files and against the exact path.
    // o = lambda * (position @ v) + (1 - lambda) * softmax @ v
    float* ob = o + p0 * ld;
    for (std::size_t i = 0; i < rb; ++i) {
      float* oi = ob + i * ld;
      const float* pi = pv + (p0 + i) * d;
      for (std::size_t j = 0; j < d; ++j) oi[j] = lam * pi[j];
    }
    gemm(false, false, rb, d, N, oml, s, N, v, ld, 1.0f, ob, ld);
  }
}

// The (item, head) pairs of both kernels: index = b * H + h; worker selects the work area.
// Rows of qkv are [q (D) | k (D) | v (D)]; the forward writes o_h = attn_h v_h over q_h (no
// longer needed once its rows are used), so the concat of heads is columns [0, D) of qkv.
struct layer_job {
  folded_view pos;
  float* qkv;
  float* attn;  // (B, H, N, N), or null for the fused forward
  float* work;  // workers x work_floats (fused forward only)
  std::size_t work_floats, N, D, H, d;
  float scale;
  bool forward;  // false: gpsa_attention (attn only)

  static void run(void* arg, std::size_t index, std::size_t worker) noexcept {
    const auto& j = *static_cast<const layer_job*>(arg);
    const std::size_t b = index / j.H, h = index % j.H, N = j.N, D = j.D, d = j.d, ld = 3 * D;
    float* rows = j.qkv + b * N * ld;
    float* q = rows + h * d;
    const float* k = rows + D + h * d;
    const float* v = rows + 2 * D + h * d;
    if (j.attn == nullptr) {
      fused_head(j.pos, h, d, j.scale, q, k, v, ld, q, j.work + worker * j.work_floats);
      return;
    }
    // attn requested: PyTorch's order (content softmax, blend, renormalise), then attn @ v.
    float* a = j.attn + index * N * N;
    content_rows(N, N, d, q, ld, k, ld, j.scale, a, N);
    blend_head(j.pos, h, a);
    if (j.forward) gemm(false, false, N, d, N, 1.0f, a, N, v, ld, 0.0f, q, ld);
  }
};

// Runs task(arg, i, worker) for i in [0, count): in order on this thread without an executor
// (the serial path), else through the host's parallel_for.
void run_tasks(const executor* ex, std::size_t count,
               void (*task)(void* arg, std::size_t index, std::size_t worker), void* arg) noexcept {
  if (count == 0) return;
  if (ex == nullptr) {
    for (std::size_t i = 0; i < count; ++i) task(arg, i, 0);
    return;
  }
  ex->parallel_for(ex->context, count, task, arg);
}

// The checks both kernels share, in order: the weights, the folded branch and its head count,
// the executor, the activation and attention lengths, the scratch. Sets `run` false for
// batch == 0 (nothing to do, buffers not looked at).
status check_call(const gpsa_weights& w, const folded_view& pos, std::size_t batch,
                  std::span<const float> x, std::size_t y_floats, std::span<float> attn,
                  bool attn_required, std::span<float> scratch, const executor* ex,
                  bool& run) noexcept {
  run = false;
  if (const status s = validate(w); s != status::ok) return s;
  if (const status s = validate(pos); s != status::ok) return s;
  if (pos.heads != w.heads) return status::shape_mismatch;
  if (ex != nullptr && (ex->workers == 0 || ex->parallel_for == nullptr))
    return status::invalid_argument;
  const gpsa_dims dims = dims_of(w, pos, batch);
  std::size_t need = 0;
  if (const status s = gpsa_scratch_size(dims, ex != nullptr ? ex->workers : 1, need);
      s != status::ok)
    return s;
  if (batch == 0) return status::ok;
  std::size_t bnd = 0, bhnn = 0, nn = 0;
  if (!mul3(batch, dims.patches(), w.dim, bnd) ||
      mul_overflows(dims.patches(), dims.patches(), nn) || !mul3(batch, w.heads, nn, bhnn))
    return status::size_overflow;
  if (x.size() != bnd || y_floats != bnd) return status::shape_mismatch;
  if (attn_required ? attn.size() != bhnn : (!attn.empty() && attn.size() != bhnn))
    return status::shape_mismatch;
  if (x.data() == nullptr) return status::invalid_argument;
  if (scratch.size() < need || scratch.data() == nullptr) return status::buffer_too_small;
  run = true;
  return status::ok;
}

}  // namespace

status validate(const gpsa_weights& w) noexcept {
  if (w.heads == 0 || w.dim == 0 || w.dim % w.heads != 0) return status::invalid_argument;
  if (w.qk_weight == nullptr || w.v_weight == nullptr || w.proj_weight == nullptr)
    return status::invalid_argument;
  std::size_t dd = 0;
  if (!mul3(w.dim, w.dim, 3, dd)) return status::size_overflow;
  return status::ok;
}

float head_scale(std::size_t head_dim) noexcept {
  return static_cast<float>(1.0 / detail::runtime_sqrt(static_cast<double>(head_dim)));
}

status content_attention(std::size_t nq, std::size_t nk, std::size_t d, const float* q,
                         std::size_t ldq, const float* k, std::size_t ldk, float scale, float* out,
                         std::size_t ldo) noexcept {
  if (nq == 0 || nk == 0) return status::ok;
  if (q == nullptr || k == nullptr || out == nullptr) return status::invalid_argument;
  if (ldq < d || ldk < d || ldo < nk) return status::invalid_argument;
  content_rows(nq, nk, d, q, ldq, k, ldk, scale, out, ldo);
  return status::ok;
}

status gpsa_scratch_size(const gpsa_dims& d, std::size_t workers, std::size_t& floats) noexcept {
  if (d.shape.empty()) return status::empty_grid;
  if (d.heads == 0 || d.dim == 0 || d.dim % d.heads != 0 || workers == 0)
    return status::invalid_argument;
  std::size_t N = 0, bn = 0, qkv = 0, work = 0, total = 0;
  if (mul_overflows(d.shape.rows, d.shape.cols, N) || mul_overflows(d.batch, N, bn) ||
      !mul3(bn, d.dim, 3, qkv) || !fused_floats(N, d.head_dim(), work) ||
      mul_overflows(work, workers, work) || !add(qkv, work, total))
    return status::size_overflow;
  floats = total;
  return status::ok;
}

status gpsa_attention(const gpsa_weights& w, const folded_view& pos, std::size_t batch,
                      std::span<const float> x, std::span<float> attn, std::span<float> scratch,
                      const executor* ex) noexcept {
  bool run = false;
  if (const status s = check_call(w, pos, batch, x, x.size(), attn, true, scratch, ex, run); !run)
    return s;
  const std::size_t N = pos.patches(), D = w.dim, H = w.heads, d = w.head_dim(), BN = batch * N;
  float* qkv = scratch.data();
  linear(BN, 2 * D, D, x.data(), D, w.qk_weight, w.qk_bias, qkv, 3 * D);
  layer_job job{pos, qkv, attn.data(), nullptr, 0, N, D, H, d, head_scale(d), false};
  run_tasks(ex, batch * H, &layer_job::run, &job);
  return status::ok;
}

status gpsa_forward(const gpsa_weights& w, const folded_view& pos, std::size_t batch,
                    std::span<const float> x, std::span<float> y, std::span<float> attn,
                    std::span<float> scratch, const executor* ex) noexcept {
  bool run = false;
  if (const status s = check_call(w, pos, batch, x, y.size(), attn, false, scratch, ex, run); !run)
    return s;
  if (y.data() == nullptr) return status::invalid_argument;
  const std::size_t N = pos.patches(), D = w.dim, H = w.heads, d = w.head_dim(), BN = batch * N;
  const std::size_t ld = 3 * D;
  float* qkv = scratch.data();
  float* work = qkv + BN * ld;  // fused path: per worker, score block, position @ v_h
  std::size_t work_floats = 0;
  (void)fused_floats(N, d, work_floats);  // checked by gpsa_scratch_size

  // x is read only here, so y may alias x.
  linear(BN, 2 * D, D, x.data(), D, w.qk_weight, w.qk_bias, qkv, ld);
  linear(BN, D, D, x.data(), D, w.v_weight, w.v_bias, qkv + 2 * D, ld);

  layer_job job{
      pos,           qkv, attn.empty() ? nullptr : attn.data(), work, work_floats, N, D, H, d,
      head_scale(d), true};
  run_tasks(ex, batch * H, &layer_job::run, &job);
  linear(BN, D, D, qkv, ld, w.proj_weight, w.proj_bias, y.data(), D);
  return status::ok;
}

}  // namespace gpsa
