// GPSA gated attention and layer forward on caller-owned buffers (GEMMs and softmax from linalg).
#include <cmath>
#include <cstddef>
#include <cstring>

#include "gpsa/attention.hpp"
#include "gpsa/detail/fold_kernels.hpp"
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

// Query rows per block of the fused forward: 64 x 196 scores = 50 KB, resident in L2 while
// the block goes through softmax and the attn @ v GEMM.
constexpr std::size_t kRowBlock = 64;

// Divides a row by its sum (PyTorch: attn /= attn.sum(-1)), a true division as PyTorch does.
inline void renormalise(float* row, std::size_t n) noexcept {
  const float sum = detail::row_sum(row, n);
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

// PyTorch's gate: lambda = sigmoid(g) and (1. - sigmoid(g)), both in float.
struct gate {
  float lam, oml;
};
inline gate gate_of(float gating) noexcept {
  const float lam = gate_lambda(gating);
  return {lam, 1.0f - lam};
}

void blend_head(const pos_branch& pos, std::size_t h, float gating, float* attn) noexcept {
  const std::size_t R = pos.shape.rows, C = pos.shape.cols, N = R * C;
  const gate gt = gate_of(gating);
  if (pos.dense != nullptr)
    blend_dense(N, N, gt.lam, gt.oml, attn, N, pos.dense + h * N * N, N);
  else
    detail::blend_rows_factored(pos.fx + h * C * C, pos.gy + h * R * R, R, C, gt.lam, gt.oml, 0, N,
                                attn, N, attn, N);
}

status check_pos(const pos_branch& pos, grid g, std::size_t heads) noexcept {
  if (!(pos.shape == g) || pos.heads != heads) return status::shape_mismatch;
  if (pos.dense == nullptr && (pos.fx == nullptr || pos.gy == nullptr))
    return status::invalid_argument;
  return status::ok;
}

// Floats of the fold (fx, gy, lambda) the kernels compute themselves when no pos_branch is given.
status factor_floats(grid g, std::size_t heads, std::size_t& floats) noexcept {
  fold_counts n{};
  if (const status s = fold_size(g, heads, n); s != status::ok) return s;
  floats = n.total();
  return status::ok;
}

// Common checks of gpsa_attention / gpsa_forward; fills N and validates pos.
status check_layer(const gpsa_weights& w, grid g, const pos_branch* pos) noexcept {
  if (const status s = validate(w); s != status::ok) return s;
  if (g.empty()) return status::empty_grid;
  if (pos != nullptr) return check_pos(*pos, g, w.heads);
  return status::ok;
}

// Uses the caller's pos or folds the factors (gpsa/fold.hpp) into `tail` of scratch.
status resolve_pos(const gpsa_weights& w, grid g, const pos_branch* pos, float* tail,
                   pos_branch& out) noexcept {
  if (pos != nullptr) {
    out = *pos;
    return status::ok;
  }
  fold_counts n{};
  if (const status s = fold_size(g, w.heads, n); s != status::ok) return s;
  const std::size_t H = w.heads;
  float* fx = tail;
  float* gy = fx + n.fx;
  float* lam = gy + n.gy;
  if (const status s = fold_positional(g, H, {w.pos_proj_weight, 3 * H}, {}, {w.gating_param, H},
                                       {fx, n.fx}, {gy, n.gy}, {lam, n.lambda});
      s != status::ok)
    return s;
  out = pos_branch{g, H, nullptr, fx, gy};
  return status::ok;
}

// Floats of the fused forward's per-head work area: a block of scores and, for the factored
// positional branch, position @ v_h and its intermediate (N x d each).
status fused_floats(grid g, std::size_t head_dim, std::size_t& floats) noexcept {
  const std::size_t N = g.patches();
  const std::size_t rb = N < kRowBlock ? N : kRowBlock;
  std::size_t blk = 0, nd = 0;
  if (mul_overflows(rb, N, blk) || !mul3(N, head_dim, 2, nd) || !add(blk, nd, floats))
    return status::size_overflow;
  return status::ok;
}

// One head of one item without forming its N x N attention. q/k/v: N rows of d values with row
// stride ld; o (stride ld, may be q itself: each block reads only its own query rows before
// writing them) receives attn_h @ v_h. work: fused_floats.
void fused_head(const pos_branch& pos, std::size_t h, gate gt, std::size_t d, float scale,
                const float* q, const float* k, const float* v, std::size_t ld, float* o,
                float* work) noexcept {
  const std::size_t R = pos.shape.rows, C = pos.shape.cols, N = R * C;
  const std::size_t rb_max = N < kRowBlock ? N : kRowBlock;
  float* s = work;             // rb_max x N scores
  float* pv = s + rb_max * N;  // N x d: position[h] @ v_h
  float* t = pv + N * d;       // N x d: intermediate of the separable product
  const float* pd = pos.dense != nullptr ? pos.dense + h * N * N : nullptr;
  if (pd == nullptr)
    detail::positional_apply_factors(pos.fx + h * C * C, pos.gy + h * R * R, R, C, d, v, ld, pv, d,
                                     t);
  for (std::size_t p0 = 0; p0 < N; p0 += rb_max) {
    const std::size_t rb = N - p0 < rb_max ? N - p0 : rb_max;
    gemm(false, true, rb, N, d, scale, q + p0 * ld, ld, k, ld, 0.0f, s, N);
    softmax_rows(s, rb, N, N);
    // No row renormalisation here. Each blended row sums to 1 up to rounding: the softmax row is
    // normalised in float (|sum - 1| <~ N * 2^-24 ~ 1e-5 at worst, ~1e-7 typically) and the
    // factors in double then rounded (Fx, Gy rows within ~1e-7 of 1). Dividing by that sum would
    // move y by the same relative amount, 10-1000x below the golden tolerance 1e-4 * max|y|;
    // tests/forward (FusedForward) checks y against the golden files and against the exact path.
    float* ob = o + p0 * ld;
    if (pd != nullptr) {
      for (std::size_t i = 0; i < rb; ++i) {
        float* si = s + i * N;
        const float* pi = pd + (p0 + i) * N;
        for (std::size_t j = 0; j < N; ++j) si[j] = gt.oml * si[j] + gt.lam * pi[j];
      }
      gemm(false, false, rb, d, N, 1.0f, s, N, v, ld, 0.0f, ob, ld);
    } else {
      // o = lambda * (position @ v) + (1 - lambda) * softmax @ v
      for (std::size_t i = 0; i < rb; ++i) {
        float* oi = ob + i * ld;
        const float* pi = pv + (p0 + i) * d;
        for (std::size_t j = 0; j < d; ++j) oi[j] = gt.lam * pi[j];
      }
      gemm(false, false, rb, d, N, gt.oml, s, N, v, ld, 1.0f, ob, ld);
    }
  }
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
  const gate gt = gate_of(gating);
  blend_dense(rows, cols, gt.lam, gt.oml, attn, ld_attn, position, ld_pos);
  return status::ok;
}

status attention_scratch_size(const gpsa_weights& w, grid g, std::size_t batch, bool with_pos,
                              std::size_t& floats) noexcept {
  return attention_scratch_size(w, g, batch, with_pos, 1, floats);
}

status attention_scratch_size(const gpsa_weights& w, grid g, std::size_t batch, bool with_pos,
                              std::size_t workers, std::size_t& floats) noexcept {
  (void)batch;  // one item at a time
  if (const status s = check_layer(w, g, nullptr); s != status::ok) return s;
  if (workers == 0) return status::invalid_argument;
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
  return forward_scratch_size(w, g, batch, with_pos, 1, floats);
}

status forward_scratch_size(const gpsa_weights& w, grid g, std::size_t batch, bool with_pos,
                            std::size_t workers, std::size_t& floats) noexcept {
  if (const status s = check_layer(w, g, nullptr); s != status::ok) return s;
  if (workers == 0) return status::invalid_argument;
  std::size_t N = 0, bn = 0, qkv = 0, work = 0, extra = 0, total = 0;
  if (mul_overflows(g.rows, g.cols, N) || mul_overflows(batch, N, bn) || !mul3(bn, w.dim, 3, qkv))
    return status::size_overflow;
  if (const status s = fused_floats(g, w.head_dim(), work); s != status::ok) return s;
  if (mul_overflows(work, workers, work) || !add(qkv, work, total)) return status::size_overflow;
  if (!with_pos)
    if (const status s = factor_floats(g, w.heads, extra); s != status::ok) return s;
  if (!add(total, extra, total)) return status::size_overflow;
  floats = total;
  return status::ok;
}

namespace {

status check_executor(const executor* ex) noexcept {
  if (ex != nullptr && (ex->workers == 0 || ex->parallel_for == nullptr))
    return status::invalid_argument;
  return status::ok;
}

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

// One item's heads of gpsa_attention: index = h.
struct attention_job {
  const pos_branch* pb;
  const float* gating;
  const float* qk;
  float* attn;  // this item's (H, N, N)
  std::size_t N, D, d;
  float scale;

  static void run(void* arg, std::size_t h, std::size_t /*worker*/) noexcept {
    const auto& j = *static_cast<const attention_job*>(arg);
    float* a = j.attn + h * j.N * j.N;
    content_attention(j.N, j.N, j.d, j.qk + h * j.d, 2 * j.D, j.qk + j.D + h * j.d, 2 * j.D,
                      j.scale, a, j.N);
    blend_head(*j.pb, h, j.gating[h], a);
  }
};

// The (item, head) pairs of gpsa_forward: index = b * H + h; worker selects the work area.
struct forward_job {
  const pos_branch* pb;
  const float* gating;
  float* qkv;
  float* attn_out;
  float* work;  // workers x work_floats
  std::size_t work_floats, N, D, H, d;
  float scale;

  static void run(void* arg, std::size_t index, std::size_t worker) noexcept {
    const auto& j = *static_cast<const forward_job*>(arg);
    const std::size_t b = index / j.H, h = index % j.H, N = j.N, D = j.D, d = j.d, ld = 3 * D;
    float* rows = j.qkv + b * N * ld;
    float* q = rows + h * d;
    const float* k = rows + D + h * d;
    const float* v = rows + 2 * D + h * d;
    // o_h = attn_h v_h is written over q_h (no longer needed once its rows are used): the
    // concat of heads is then columns [0, D) of qkv. Heads write disjoint columns.
    if (j.attn_out == nullptr) {
      fused_head(*j.pb, h, gate_of(j.gating[h]), d, j.scale, q, k, v, ld, q,
                 j.work + worker * j.work_floats);
      return;
    }
    // attn requested: PyTorch's order (content softmax, blend, renormalise), then attn @ v.
    float* a = j.attn_out + index * N * N;
    content_attention(N, N, d, q, ld, k, ld, j.scale, a, N);
    blend_head(*j.pb, h, j.gating[h], a);
    gemm(false, false, N, d, N, 1.0f, a, N, v, ld, 0.0f, q, ld);
  }
};

}  // namespace

status gpsa_attention(const gpsa_weights& w, grid g, std::size_t batch, const float* x, float* attn,
                      const pos_branch* pos, std::span<float> scratch) noexcept {
  return gpsa_attention(w, g, batch, x, attn, pos, scratch, nullptr);
}

status gpsa_attention(const gpsa_weights& w, grid g, std::size_t batch, const float* x, float* attn,
                      const pos_branch* pos, std::span<float> scratch,
                      const executor* ex) noexcept {
  if (const status s = check_layer(w, g, pos); s != status::ok) return s;
  if (const status s = check_executor(ex); s != status::ok) return s;
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
  attention_job job{&pb, w.gating_param, qk, attn, N, D, d, head_scale(d)};
  for (std::size_t b = 0; b < batch; ++b) {
    linear(N, 2 * D, D, x + b * N * D, D, w.qk_weight, w.qk_bias, qk, 2 * D);
    job.attn = attn + b * H * N * N;
    run_tasks(ex, H, &attention_job::run, &job);
  }
  return status::ok;
}

status gpsa_forward(const gpsa_weights& w, grid g, std::size_t batch, const float* x, float* y,
                    float* attn_out, const pos_branch* pos, std::span<float> scratch) noexcept {
  return gpsa_forward(w, g, batch, x, y, attn_out, pos, scratch, nullptr);
}

status gpsa_forward(const gpsa_weights& w, grid g, std::size_t batch, const float* x, float* y,
                    float* attn_out, const pos_branch* pos, std::span<float> scratch,
                    const executor* ex) noexcept {
  if (const status s = check_layer(w, g, pos); s != status::ok) return s;
  if (const status s = check_executor(ex); s != status::ok) return s;
  if (batch == 0) return status::ok;
  if (x == nullptr || y == nullptr) return status::invalid_argument;
  const std::size_t workers = ex != nullptr ? ex->workers : 1;
  std::size_t need = 0;
  if (const status s = forward_scratch_size(w, g, batch, pos != nullptr, workers, need);
      s != status::ok)
    return s;
  if (attn_out != nullptr) {
    std::size_t total = 0;
    if (!mul3(batch, w.heads, g.patches() * g.patches(), total)) return status::size_overflow;
  }
  if (scratch.size() < need || scratch.data() == nullptr) return status::buffer_too_small;

  const std::size_t N = g.patches(), D = w.dim, H = w.heads, d = w.head_dim(), BN = batch * N;
  const std::size_t ld = 3 * D;  // row of qkv: [q (D) | k (D) | v (D)]; o_h overwrites q_h
  float* qkv = scratch.data();
  float* work = qkv + BN * ld;  // fused path: per worker, score block, position @ v_h
  std::size_t work_floats = 0;
  if (const status s = fused_floats(g, d, work_floats); s != status::ok) return s;
  pos_branch pb{};
  if (const status s = resolve_pos(w, g, pos, work + workers * work_floats, pb); s != status::ok)
    return s;

  // x is read only here, so y may alias x.
  linear(BN, 2 * D, D, x, D, w.qk_weight, w.qk_bias, qkv, ld);
  linear(BN, D, D, x, D, w.v_weight, w.v_bias, qkv + 2 * D, ld);

  forward_job job{&pb, w.gating_param, qkv, attn_out, work, work_floats, N, D, H, d, head_scale(d)};
  run_tasks(ex, batch * H, &forward_job::run, &job);
  linear(BN, D, D, qkv, ld, w.proj_weight, w.proj_bias, y, D);
  return status::ok;
}

}  // namespace gpsa
