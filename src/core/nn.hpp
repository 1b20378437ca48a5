// SPDX-License-Identifier: MIT
// Core-private building blocks shared by the GPSA layer (attention.cpp) and the whole model
// (convit.cpp): the one linear layer (plain or pre-packed weight, bias and activation applied to
// each finished block of the output, the product cut over an executor's workers), the task
// runner, and multi-head attention split over heads x query-row blocks with k_h and v_h packed
// once per head. No heap, no exceptions, no threads of their own.
//
// Determinism: every output element is computed by the same arithmetic whatever the worker count
// or schedule (GEMMs fix their sums by k alone, see gemm_blocked.hpp; softmax sums in a fixed
// order; element-wise epilogues), so results are bit-identical for any executor.
#pragma once

#include <cstddef>
#include <span>

#include "gpsa/attention.hpp"
#include "gpsa/convit.hpp"
#include "gpsa/fold.hpp"
#include "gpsa/grid.hpp"

namespace gpsa::detail {

// ---- checked sizes ------------------------------------------------------------------------

inline bool mul3(std::size_t a, std::size_t b, std::size_t c, std::size_t& out) noexcept {
  std::size_t ab = 0;
  return !mul_overflows(a, b, ab) && !mul_overflows(ab, c, out);
}

inline bool add(std::size_t a, std::size_t b, std::size_t& out) noexcept {
  if (a > static_cast<std::size_t>(-1) - b) return false;
  out = a + b;
  return true;
}

// Floats that keep 64-byte alignment between consecutive regions, and the slack a scratch
// needs so its first region can start on a 64-byte boundary whatever the caller's pointer.
inline constexpr std::size_t kAlignFloats = 16;
inline bool round_up_aligned(std::size_t n, std::size_t& out) noexcept {
  if (n > static_cast<std::size_t>(-1) - (kAlignFloats - 1)) return false;
  out = (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
  return true;
}
// p rounded up to a 64-byte boundary (the scratch sizes include kAlignFloats of slack for it).
float* align_floats(float* p) noexcept;

// ---- tasks --------------------------------------------------------------------------------

using task_fn = void (*)(void* arg, std::size_t index, std::size_t worker);
// task(arg, i, worker) for i in [0, count): in order on this thread without an executor (the
// serial path), else through the host's parallel_for.
void run_tasks(const executor* ex, std::size_t count, task_fn task, void* arg) noexcept;
// ex->workers, or 1 for the serial path.
inline std::size_t workers_of(const executor* ex) noexcept {
  return ex != nullptr && ex->parallel_for != nullptr ? ex->workers : 1;
}

// ---- the linear layer -----------------------------------------------------------------------

// One nn.Linear as the kernels read it.
struct linear_weight {
  const float* weight = nullptr;  // (n, k) row-major, PyTorch's weight (out, in)
  const float* packed = nullptr;  // optional: linear_pack's layout of `weight` (same bits)
  const float* bias = nullptr;    // (n) or null
};

enum class activation : unsigned char { none, gelu };

// Floats of a packed (n, k) weight (a multiple of 16 in a SIMD build: consecutive packed weights
// stay 64-byte aligned); false on overflow.
bool linear_packed_floats(std::size_t n, std::size_t k, std::size_t& floats) noexcept;
// weight (n, k) into `out` (linear_packed_floats): the panels gemm packs op(B) = W^T into.
void linear_pack(std::size_t n, std::size_t k, const float* weight, float* out) noexcept;

// out (m x n, stride ldo) = act(in (m x k, stride ldi) W^T + bias); with `accumulate`,
// out += in W^T + bias (a residual connection; act must be none). The bias and the activation
// are applied to each finished block of out while it is in cache. The product is cut over ex's
// workers (null: this thread): call it from outside the executor's tasks.
void linear(std::size_t m, std::size_t n, std::size_t k, const float* in, std::size_t ldi,
            const linear_weight& w, float* out, std::size_t ldo, bool accumulate, activation act,
            const executor* ex) noexcept;

// One linear layer's call, for linear2.
struct linear_op {
  std::size_t m, n, k;
  const float* in;
  std::size_t ldi;
  linear_weight w;
  float* out;
  std::size_t ldo;
  bool accumulate;
  activation act;
};

// Two linear layers (e.g. a layer's qk and v) as one task set over ex's workers: one fork and
// join for both; each as `linear` computes it.
void linear2(const linear_op& a, const linear_op& b, const executor* ex) noexcept;

// bias (may be null) added to each of `rows` rows of `cols` values (stride ld), then the exact
// GELU when `gelu`: the linear layer's epilogue, SIMD where the build has it.
void bias_act_rows(float* c, std::size_t ld, std::size_t rows, std::size_t cols, const float* bias,
                   bool gelu) noexcept;

// ---- multi-head attention ---------------------------------------------------------------------

// Each item's rows of qkv hold [q (D) | k (D) | v (D)] (row stride 3D); head h is columns
// [h d, (h + 1) d) of each part, d = D / H.
struct mha_shape {
  std::size_t tokens = 0;  // N (GPSA) or T (MHSA)
  std::size_t dim = 0;     // D
  std::size_t heads = 0;   // H, dividing D
};

// Scratch floats of mha_forward for `workers` workers (64-byte alignment slack included; the
// same for any batch); false on overflow. `positional`: a GPSA layer (pos given to mha_forward).
bool mha_scratch_floats(const mha_shape& s, bool positional, std::size_t batch, std::size_t workers,
                        std::size_t& floats) noexcept;

// For each item, o_h = attention_h v_h replaces q_h (so heads concatenated are columns [0, D) of
// qkv); k may be overwritten too (with pos, k_h's columns receive position_h v_h once packed).
// attention_h is softmax(q_h k_h^T * scale) (MHSA) or, with pos (GPSA, the fused path of
// gpsa_forward), (1 - lambda_h) of it plus lambda_h position_h, the position applied through its
// separable factors and the row renormalisation skipped. Query rows go in blocks of at most 64:
// scores -> exp(x - max) -> exp @ v_h, then each row scaled by (1 - lambda) / its sum. One task
// set: the query rows of all (item, head) pairs, in units of 8, are split evenly over ex's
// workers (each packs k_h and v_h of the heads it touches; a head split between two workers is
// prepared by both). scratch: mha_scratch_floats with ex's workers.
void mha_forward(const mha_shape& s, std::size_t batch, float* qkv, float scale,
                 const folded_view* pos, std::span<float> scratch, const executor* ex) noexcept;

// ---- the whole model ---------------------------------------------------------------------------

// Block i's GPSA layer as the layer kernels read it: its weights and, when w.packed is set, the
// block's place in the pack (convit.cpp owns the pack's layout). i must be a GPSA block.
gpsa_weights convit_gpsa_layer(const convit_weights& w, std::size_t i) noexcept;

}  // namespace gpsa::detail
