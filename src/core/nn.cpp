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

void linear(std::size_t m, std::size_t n, std::size_t k, const float* in, std::size_t ldi,
            const linear_weight& w, float* out, std::size_t ldo, bool accumulate, activation act,
            const executor* ex) noexcept {
  const bias_act ctx{w.bias, act == activation::gelu};
  const gemm_epilogue epi{&bias_act::apply, &ctx};
  gemm_problem g{false, true, m, n, k, 1.0f, in, ldi, w.weight, k, accumulate ? 1.0f : 0.0f,
                 out,   ldo};
  if (ctx.bias != nullptr || ctx.gelu) g.epilogue = &epi;
  gemm_b_source src{};
  if (w.packed != nullptr) {
    g.trans_b = false;
    src = gemm_b_source{w.packed, gemm_panels(n), 0};
  }
  gemm_split(g, src, ex);
}

// ---- multi-head attention ---------------------------------------------------------------------

namespace {

// Query rows per block: at most 64 (a 64 x 196 block of scores, 50 KB, stays in L2 through the
// exponentials and attn @ v), equal blocks rounded up to the tile height 8 (196 -> 4 x 56 rows:
// 56, 56, 56, 28).
constexpr std::size_t kMaxRowBlock = 64;
constexpr std::size_t kTileRows = 8;

struct mha_plan {
  std::size_t N, D, H, d, ld;
  std::size_t rb, blocks;   // query rows per block, blocks per head
  std::size_t kpack, pack;  // floats: packed k_h^T, then packed v_h (kpack + vpack)
  std::size_t work;         // floats per worker
  std::size_t slots;        // pack slots: H (by head, then by block) or workers
  bool by_block;            // split (head, row block) pairs (two phases per item)
};

bool plan_of(const mha_shape& s, bool positional, std::size_t batch, std::size_t workers,
             mha_plan& p) noexcept {
  if (s.heads == 0 || s.dim % s.heads != 0 || s.tokens == 0 || workers == 0) return false;
  p.N = s.tokens;
  p.D = s.dim;
  p.H = s.heads;
  p.d = s.dim / s.heads;
  p.ld = 3 * s.dim;
  const std::size_t nb = (p.N + kMaxRowBlock - 1) / kMaxRowBlock;
  p.rb = (p.N + nb - 1) / nb;
  p.rb = (p.rb + kTileRows - 1) / kTileRows * kTileRows;
  if (p.rb > p.N) p.rb = p.N;
  p.blocks = (p.N + p.rb - 1) / p.rb;
  std::size_t vpack = 0, scores = 0, pos_work = 0;
  // k_h^T: op(B) (d x N); v_h: op(B) (N x d); both as gemm's pre-packed layout.
  if (!linear_packed_floats(p.N, p.d, p.kpack) || !linear_packed_floats(p.d, p.N, vpack) ||
      !checked_add(p.kpack, vpack, p.pack))
    return false;
  // Per worker: a block of scores and its row sums; for GPSA also position @ v_h and the
  // separable product's intermediate (N x d each), used before the scores.
  if (!checked_mul(p.rb, p.N, scores) || !checked_add(scores, p.rb, scores) ||
      !round_up_aligned(scores, scores))
    return false;
  if (positional && (!checked_mul(p.N, p.d, 2, pos_work) || !round_up_aligned(pos_work, pos_work)))
    return false;
  p.work = scores > pos_work ? scores : pos_work;
  // (item, head) pairs balance the workers when each gets the same number of them or there are
  // many; otherwise (e.g. 9 heads of one image on 2 workers) heads are packed first and the
  // (head, row block) pairs are split.
  std::size_t pairs = 0;
  if (!checked_mul(batch, p.H, pairs)) return false;
  p.by_block = workers > 1 && pairs % workers != 0 && pairs < 8 * workers;
  p.slots = p.by_block ? p.H : workers;
  return true;
}

bool plan_floats(const mha_plan& p, std::size_t workers, std::size_t& floats) noexcept {
  std::size_t packs = 0, work = 0, total = 0;
  return checked_mul(p.slots, p.pack, packs) && checked_mul(workers, p.work, work) &&
         checked_add(packs, work, total) && checked_add(total, scratch_align_floats, floats);
}

struct mha_job {
  mha_plan p;
  float* qkv;    // this item's rows (by_block) or the whole batch's
  float* packs;  // slots x pack
  float* work;   // workers x work
  float scale;
  const folded_view* pos;

  float* rows_of(std::size_t item) const noexcept { return qkv + item * p.N * p.ld; }

  // Packs k_h^T and v_h of `rows` into pack slot `slot`; with a positional branch, position_h @
  // v_h then goes into k_h's columns (free once packed), using the worker's work area.
  void prepare(float* rows, std::size_t h, std::size_t slot, float* w) const noexcept {
    float* kp = packs + slot * p.pack;
    float* vp = kp + p.kpack;
    float* k = rows + p.D + h * p.d;
    const float* v = rows + 2 * p.D + h * p.d;
    gemm_pack_b_run(true, p.d, p.N, k, p.ld, kp);
    gemm_pack_b_run(false, p.N, p.d, v, p.ld, vp);
    if (pos == nullptr) return;
    const std::size_t R = pos->shape.rows, C = pos->shape.cols;
    float* pv = w;
    float* t = w + p.N * p.d;
    positional_apply_factors(pos->fx + h * C * C, pos->gy + h * R * R, R, C, p.d, v, p.ld, pv, p.d,
                             t);
    for (std::size_t i = 0; i < p.N; ++i)
      std::memcpy(k + i * p.ld, pv + i * p.d, sizeof(float) * p.d);
  }

  // Query rows of block `blk` of head h: scores, exponentials, exp @ v_h over q_h's rows, then
  // the per-row scale (and lambda * position @ v_h).
  void block(float* rows, std::size_t h, std::size_t blk, std::size_t slot,
             float* w) const noexcept {
    const float* kp = packs + slot * p.pack;
    const float* vp = kp + p.kpack;
    const std::size_t r0 = blk * p.rb, nr = p.N - r0 < p.rb ? p.N - r0 : p.rb;
    float* q = rows + r0 * p.ld + h * p.d;
    float* s = w;
    float* sums = w + p.rb * p.N;
    gemm_run(gemm_problem{false, false, nr, p.N, p.d, scale, q, p.ld, nullptr, 0, 0.0f, s, p.N},
             gemm_b_source{kp, gemm_panels(p.N), 0});
    exp_rows(s, nr, p.N, p.N, sums);
    gemm_run(gemm_problem{false, false, nr, p.d, p.N, 1.0f, s, p.N, nullptr, 0, 0.0f, q, p.ld},
             gemm_b_source{vp, gemm_panels(p.d), 0});
    if (pos == nullptr) {
      for (std::size_t i = 0; i < nr; ++i) {
        float* o = q + i * p.ld;
        const float f = 1.0f / sums[i];
        for (std::size_t j = 0; j < p.d; ++j) o[j] *= f;
      }
      return;
    }
    // o = (1 - lambda) * softmax @ v + lambda * (position @ v); PyTorch's (1. - sigmoid(g)) in
    // float. No row renormalisation: see layer_forward (attention.cpp).
    const float lam = pos->lambda[h], oml = 1.0f - lam;
    const float* pv = rows + r0 * p.ld + p.D + h * p.d;
    for (std::size_t i = 0; i < nr; ++i) {
      float* o = q + i * p.ld;
      const float* pi = pv + i * p.ld;
      const float f = oml / sums[i];
      for (std::size_t j = 0; j < p.d; ++j) o[j] = o[j] * f + lam * pi[j];
    }
  }

  // (item, head) pairs: index = b * H + h; everything of the head in the worker's slot.
  static void run_pair(void* arg, std::size_t index, std::size_t worker) noexcept {
    [[maybe_unused]] const flush_subnormals ftz;
    const auto& j = *static_cast<const mha_job*>(arg);
    const std::size_t b = index / j.p.H, h = index % j.p.H;
    float* rows = j.rows_of(b);
    float* w = j.work + worker * j.p.work;
    j.prepare(rows, h, worker, w);
    for (std::size_t blk = 0; blk < j.p.blocks; ++blk) j.block(rows, h, blk, worker, w);
  }
  // Two phases per item: heads (packs into slot h), then (head, row block) pairs.
  static void run_head(void* arg, std::size_t h, std::size_t worker) noexcept {
    [[maybe_unused]] const flush_subnormals ftz;
    const auto& j = *static_cast<const mha_job*>(arg);
    j.prepare(j.qkv, h, h, j.work + worker * j.p.work);
  }
  static void run_block(void* arg, std::size_t index, std::size_t worker) noexcept {
    [[maybe_unused]] const flush_subnormals ftz;
    const auto& j = *static_cast<const mha_job*>(arg);
    const std::size_t h = index / j.p.blocks, blk = index % j.p.blocks;
    j.block(j.qkv, h, blk, h, j.work + worker * j.p.work);
  }
};

}  // namespace

bool mha_scratch_floats(const mha_shape& s, bool positional, std::size_t batch, std::size_t workers,
                        std::size_t& floats) noexcept {
  mha_plan p{};
  return plan_of(s, positional, batch, workers, p) && plan_floats(p, workers, floats);
}

void mha_forward(const mha_shape& s, std::size_t batch, float* qkv, float scale,
                 const folded_view* pos, std::span<float> scratch, const executor* ex) noexcept {
  if (batch == 0) return;
  const std::size_t workers = workers_of(ex);
  mha_job job{};
  if (!plan_of(s, pos != nullptr, batch, workers, job.p)) return;  // checked by the size query
  job.packs = align_floats(scratch.data());
  job.work = job.packs + job.p.slots * job.p.pack;
  job.qkv = qkv;
  job.scale = scale;
  job.pos = pos;
  if (!job.p.by_block) {
    run_tasks(ex, batch * job.p.H, &mha_job::run_pair, &job);
    return;
  }
  for (std::size_t b = 0; b < batch; ++b) {
    job.qkv = qkv + b * job.p.N * job.p.ld;
    run_tasks(ex, job.p.H, &mha_job::run_head, &job);
    run_tasks(ex, job.p.H * job.p.blocks, &mha_job::run_block, &job);
  }
}

}  // namespace gpsa::detail
