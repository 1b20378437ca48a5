// SPDX-License-Identifier: MIT
// The linear layer, the task runner and multi-head attention shared by the GPSA layer and the
// whole model (nn.hpp).
#include "nn.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fold_kernels.hpp"
#include "fp_env.hpp"
#include "gemm_blocked.hpp"
#include "linalg_impl.hpp"
#include "packing.hpp"

#if defined(GPSA_HAVE_HWY)
#include "nn_kernels_hwy.hpp"
#endif

namespace gpsa::detail {

void run_tasks(const executor* ex, std::size_t count, task_fn task, void* arg) noexcept {
  if (count == 0) return;
  if (ex == nullptr || ex->parallel_for == nullptr || ex->workers <= 1 || count == 1) {
    for (std::size_t i = 0; i < count; ++i) task(arg, i, 0);
    return;
  }
  // Each task runs in the caller's floating-point mode (flush-to-zero, rounding): MXCSR is per
  // thread, and the serial path runs in the caller's.
  struct in_mode {
    task_fn task;
    void* arg;
    fp_mode mode;
    static void run(void* self, std::size_t index, std::size_t worker) noexcept {
      const auto& m = *static_cast<const in_mode*>(self);
      const fp_mode_scope scope(m.mode);
      m.task(m.arg, index, worker);
    }
  } wrapped{task, arg, fp_mode{}};
  ex->parallel_for(ex->context, count, &in_mode::run, &wrapped);
}

// ---- linear -------------------------------------------------------------------------------

void bias_act_rows(float* c, std::size_t ld, std::size_t rows, std::size_t cols, const float* bias,
                   bool gelu) noexcept {
#if defined(GPSA_HAVE_HWY)
  hwy_bias_act(c, ld, rows, cols, bias, gelu);
#else
  for (std::size_t i = 0; i < rows; ++i) {
    float* ci = c + i * ld;
    if (bias != nullptr)
      for (std::size_t j = 0; j < cols; ++j) ci[j] += bias[j];
    if (gelu) gelu_unchecked(ci, cols);
  }
#endif
}

namespace {

struct bias_act {
  const float* bias;
  bool gelu;

  static void apply(const void* ctx, float* c, std::size_t ldc, std::size_t /*row0*/,
                    std::size_t rows, std::size_t col0, std::size_t cols) noexcept {
    const auto& e = *static_cast<const bias_act*>(ctx);
    bias_act_rows(c, ldc, rows, cols, e.bias != nullptr ? e.bias + col0 : nullptr, e.gelu);
  }
};

}  // namespace

namespace {

// One linear layer as a GEMM problem: out = act(in W^T + bias) (accumulate: out += ...).
struct linear_call {
  bias_act ctx;
  gemm_epilogue epi;
  gemm_problem g;
  gemm_b_source src;

  linear_call(const linear_op& op) noexcept
      : ctx{op.w.bias, op.act == activation::gelu},
        epi{&bias_act::apply, &ctx},
        g{false,
          true,
          op.m,
          op.n,
          op.k,
          1.0f,
          op.in,
          op.ldi,
          op.w.weight,
          op.k,
          op.accumulate ? 1.0f : 0.0f,
          op.out,
          op.ldo} {
    if (ctx.bias != nullptr || ctx.gelu) g.epilogue = &epi;
    if (op.w.packed != nullptr) {
      g.trans_b = false;
      src = gemm_b_source{op.w.packed, gemm_panels(op.n), 0};
    }
  }
  linear_call(const linear_call&) = delete;
};

}  // namespace

void linear(std::size_t m, std::size_t n, std::size_t k, const float* in, std::size_t ldi,
            const linear_weight& w, float* out, std::size_t ldo, bool accumulate, activation act,
            const executor* ex) noexcept {
  const linear_call c({m, n, k, in, ldi, w, out, ldo, accumulate, act});
  gemm_split(c.g, c.src, ex);
}

void linear2(const linear_op& a, const linear_op& b, const executor* ex) noexcept {
  const linear_call ca(a), cb(b);
  const gemm_problem g[2] = {ca.g, cb.g};
  const gemm_b_source src[2] = {ca.src, cb.src};
  gemm_split_many(g, src, 2, ex);
}

// ---- multi-head attention ---------------------------------------------------------------------

namespace {

// Query rows per block: at most 64 (a 64 x 196 block of scores, 50 KB, stays in L2 through the
// exponentials and attn @ v), equal blocks rounded up to the tile height 8 (196 -> 56, 56, 56,
// 28). The work is cut in units of kTileRows query rows of one (item, head).
constexpr std::size_t kMaxRowBlock = 64;
constexpr std::size_t kTileRows = 8;

struct mha_plan {
  std::size_t N, D, H, d, ld;
  std::size_t Q;            // query rows attended per item (the first Q of N)
  std::size_t units;        // units of kTileRows query rows per (item, head)
  std::size_t kpack, pack;  // floats: packed k_h^T, then packed v_h (kpack + vpack)
  std::size_t pv;           // floats of a private position @ v_h (0: one worker, none needed)
  std::size_t work;         // floats of the work area
  std::size_t per_worker;   // pack + pv + work, each 64-byte aligned
};

bool plan_of(const mha_shape& s, bool positional, std::size_t workers, mha_plan& p) noexcept {
  if (s.heads == 0 || s.dim % s.heads != 0 || s.tokens == 0 || workers == 0) return false;
  p.N = s.tokens;
  p.D = s.dim;
  p.H = s.heads;
  p.d = s.dim / s.heads;
  p.ld = 3 * s.dim;
  p.Q = s.queries == 0 || s.queries > p.N ? p.N : s.queries;
  p.units = (p.Q + kTileRows - 1) / kTileRows;
  const std::size_t rb = p.N < kMaxRowBlock ? p.N : kMaxRowBlock;
  std::size_t vpack = 0, scores = 0, pos_work = 0;
  // k_h^T: op(B) (d x N); v_h: op(B) (N x d); both as gemm's pre-packed layout.
  if (!linear_packed_floats(p.N, p.d, p.kpack) || !linear_packed_floats(p.d, p.N, vpack) ||
      !checked_add(p.kpack, vpack, p.pack))
    return false;
  // The work area: a block of scores and its row sums; for GPSA also position @ v_h and the
  // separable product's intermediate (N x d each), used before the scores.
  if (!checked_mul(rb, p.N, scores) || !checked_add(scores, rb, scores) ||
      !round_up_aligned(scores, scores))
    return false;
  if (positional && (!checked_mul(p.N, p.d, 2, pos_work) || !round_up_aligned(pos_work, pos_work)))
    return false;
  p.work = scores > pos_work ? scores : pos_work;
  // With several workers a head may be shared by two of them; each then keeps its own
  // position @ v_h (a head one worker has whole keeps it in k_h's columns, free once packed).
  p.pv = 0;
  if (positional && workers > 1 && (!checked_mul(p.N, p.d, p.pv) || !round_up_aligned(p.pv, p.pv)))
    return false;
  return checked_add(p.pack, p.pv, p.per_worker) && checked_add(p.per_worker, p.work, p.per_worker);
}

bool plan_floats(const mha_plan& p, std::size_t workers, std::size_t& floats) noexcept {
  std::size_t total = 0;
  return checked_mul(workers, p.per_worker, total) &&
         checked_add(total, scratch_align_floats, floats);
}

// Scales each of `rows` rows of o (d values, stride ld) by f_i = oml / sums[i] and, with pv,
// adds lam * pv (stride ldp): o = o * f_i + lam * pv.
void finish_rows(float* o, std::size_t ld, std::size_t rows, std::size_t d, const float* sums,
                 float oml, float lam, const float* pv, std::size_t ldp) noexcept {
#if defined(GPSA_HAVE_HWY)
  hwy_attention_rows(o, ld, rows, d, sums, oml, lam, pv, ldp);
#else
  for (std::size_t i = 0; i < rows; ++i) {
    float* oi = o + i * ld;
    const float f = oml / sums[i];
    if (pv == nullptr) {
      for (std::size_t j = 0; j < d; ++j) oi[j] *= f;
    } else {
      const float* pi = pv + i * ldp;
      for (std::size_t j = 0; j < d; ++j) oi[j] = oi[j] * f + lam * pi[j];
    }
  }
#endif
}

// The attention of a batch as one task set: the B*H*units units of query rows are cut in
// `chunks` contiguous runs of near-equal length, one task each. A task walks its (item, head)
// pairs in order: packs k_h and v_h (and, for GPSA, computes position @ v_h) into its worker's
// area, then runs its query rows in blocks of at most 64. A head split between two tasks is
// prepared by both (each in its own area); no task writes what another reads.
struct mha_job {
  mha_plan p;
  float* qkv;
  float* areas;  // per worker: pack | pv | work
  float scale;
  const folded_view* pos;
  std::size_t total_units, chunks;

  // Packs k_h^T and v_h of item rows `rows` into the area; with a positional branch, computes
  // position_h @ v_h into pv_out (stride ld_pv) through the work area. `whole`: this task has
  // every query row of the head, so pv_out may be k_h's own columns.
  void prepare(float* rows, std::size_t h, float* area, float* pv_out,
               std::size_t ld_pv) const noexcept {
    float* kp = area;
    float* vp = kp + p.kpack;
    float* w = area + p.pack + p.pv;
    const float* k = rows + p.D + h * p.d;
    const float* v = rows + 2 * p.D + h * p.d;
    gemm_pack_b_run(true, p.d, p.N, k, p.ld, kp);
    gemm_pack_b_run(false, p.N, p.d, v, p.ld, vp);
    if (pos == nullptr) return;
    const std::size_t R = pos->shape.rows, C = pos->shape.cols;
    float* pv = w;
    float* t = w + p.N * p.d;
    positional_apply_factors(pos->fx + h * C * C, pos->gy + h * R * R, R, C, p.d, v, p.ld, pv, p.d,
                             t);
    for (std::size_t i = 0; i < p.Q; ++i) {
      float* dst = pv_out + i * ld_pv;
      const float* src = pv + i * p.d;
      for (std::size_t j = 0; j < p.d; ++j) dst[j] = src[j];
    }
  }

  // Query rows [r0, r0 + nr) (nr <= 64) of head h: scores, exponentials, exp @ v_h over q_h's
  // rows, then each row scaled by (1 - lambda) / its sum (plus lambda * position @ v_h).
  void block(float* rows, std::size_t h, std::size_t r0, std::size_t nr, const float* area,
             float* w, const float* pv, std::size_t ld_pv) const noexcept {
    const float* kp = area;
    const float* vp = kp + p.kpack;
    float* q = rows + r0 * p.ld + h * p.d;
    float* s = w;
    float* sums = w + nr * p.N;
    gemm_run(gemm_problem{false, false, nr, p.N, p.d, scale, q, p.ld, nullptr, 0, 0.0f, s, p.N},
             gemm_b_source{kp, gemm_panels(p.N), 0});
    exp_rows(s, nr, p.N, p.N, sums);
    gemm_run(gemm_problem{false, false, nr, p.d, p.N, 1.0f, s, p.N, nullptr, 0, 0.0f, q, p.ld},
             gemm_b_source{vp, gemm_panels(p.d), 0});
    // o = (1 - lambda) * softmax @ v + lambda * (position @ v); PyTorch's (1. - sigmoid(g)) in
    // float. No row renormalisation: see layer_forward (layer.cpp).
    if (pos == nullptr) {
      finish_rows(q, p.ld, nr, p.d, sums, 1.0f, 0.0f, nullptr, 0);
    } else {
      const float lam = pos->lambda[h];
      finish_rows(q, p.ld, nr, p.d, sums, 1.0f - lam, lam, pv + r0 * ld_pv, ld_pv);
    }
  }

  static void run(void* arg, std::size_t index, std::size_t worker) noexcept {
    [[maybe_unused]] const flush_subnormals ftz;
    const auto& j = *static_cast<const mha_job*>(arg);
    const mha_plan& p = j.p;
    const std::size_t u0 = j.total_units * index / j.chunks;
    const std::size_t u1 = j.total_units * (index + 1) / j.chunks;
    float* area = j.areas + worker * p.per_worker;
    float* own_pv = area + p.pack;
    float* work = own_pv + p.pv;
    for (std::size_t u = u0; u < u1;) {
      const std::size_t pair = u / p.units, first = u % p.units;
      const std::size_t last = u1 - pair * p.units < p.units ? u1 - pair * p.units : p.units;
      const std::size_t b = pair / p.H, h = pair % p.H;
      float* rows = j.qkv + b * p.N * p.ld;
      const bool whole = first == 0 && last == p.units;
      float* pv = whole ? rows + p.D + h * p.d : own_pv;
      const std::size_t ld_pv = whole ? p.ld : p.d;
      j.prepare(rows, h, area, pv, ld_pv);
      // Rows [r0, r1) in near-equal blocks of at most 64, multiples of 8 but the last.
      const std::size_t r0 = first * kTileRows,
                        r1 = last * kTileRows < p.Q ? last * kTileRows : p.Q;
      const std::size_t nb = (r1 - r0 + kMaxRowBlock - 1) / kMaxRowBlock;
      std::size_t rb = (r1 - r0 + nb - 1) / nb;
      rb = (rb + kTileRows - 1) / kTileRows * kTileRows;
      for (std::size_t r = r0; r < r1; r += rb)
        j.block(rows, h, r, r1 - r < rb ? r1 - r : rb, area, work, pv, ld_pv);
      u = (pair + 1) * p.units;
    }
  }
};

}  // namespace

bool mha_scratch_floats(const mha_shape& s, bool positional, std::size_t /*batch*/,
                        std::size_t workers, std::size_t& floats) noexcept {
  mha_plan p{};
  return plan_of(s, positional, workers, p) && plan_floats(p, workers, floats);
}

void mha_forward(const mha_shape& s, std::size_t batch, float* qkv, float scale,
                 const folded_view* pos, std::span<float> scratch, const executor* ex) noexcept {
  if (batch == 0) return;
  const std::size_t workers = workers_of(ex);
  mha_job job{};
  if (!plan_of(s, pos != nullptr, workers, job.p)) return;  // checked by the size query
  job.areas = align_floats(scratch.data());
  job.qkv = qkv;
  job.scale = scale;
  job.pos = pos;
  job.total_units = batch * job.p.H * job.p.units;
  job.chunks = workers < job.total_units ? workers : job.total_units;
  run_tasks(ex, job.chunks, &mha_job::run, &job);
}

}  // namespace gpsa::detail
