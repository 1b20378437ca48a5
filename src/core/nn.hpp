// SPDX-License-Identifier: MIT
// Core-private building blocks shared by the GPSA layer (layer.cpp) and the whole model
// (convit.cpp): the one linear layer (plain or pre-packed weight, bias and activation applied to
// each finished block of the output, the product cut over an executor's workers), the task
// runner, and multi-head attention whose query rows of all (item, head) pairs are split evenly
// over the workers, each packing k_h and v_h of the heads it touches. No heap, no exceptions, no
// threads of their own.
//
// Determinism: every output element is computed by the same arithmetic whatever the worker count
// or schedule (GEMMs fix their sums by k alone, see gemm_blocked.hpp; softmax sums in a fixed
// order; element-wise epilogues), so results are bit-identical for any executor.
#pragma once

#include <cstddef>
#include <span>

#include "gpsa/core/fold.hpp"
#include "gpsa/core/types.hpp"
#include "nn_kernels_impl.hpp"

namespace gpsa::detail {

// ---- tasks --------------------------------------------------------------------------------

using task_fn = void (*)(void* arg, std::size_t index, std::size_t worker);
// task(arg, i, worker) for i in [0, count): in order on this thread without an executor (the
// serial path), else through the host's parallel_for.
void run_tasks(const executor* ex, std::size_t count, task_fn task, void* arg) noexcept;

// ---- the linear layer -----------------------------------------------------------------------

// One nn.Linear as the kernels read it.
struct linear_weight {
  const float* weight = nullptr;  // (n, k) row-major, PyTorch's weight (out, in)
  const float* packed = nullptr;  // optional: linear_pack's layout of `weight` (packing.hpp)
  const float* bias = nullptr;    // (n) or null
};

enum class activation : unsigned char { none, gelu };

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
  std::size_t tokens = 0;   // N (GPSA) or T (MHSA)
  std::size_t dim = 0;      // D
  std::size_t heads = 0;    // H, dividing D
  std::size_t queries = 0;  // query rows of each item attended: the first `queries` (0: all)
};

// Scratch floats of mha_forward for `workers` workers (64-byte alignment slack included; the
// same for any batch); false on overflow. `positional`: a GPSA layer (pos given to mha_forward).
bool mha_scratch_floats(const mha_shape& s, bool positional, std::size_t batch, std::size_t workers,
                        std::size_t& floats) noexcept;

// For each item, o_h = attention_h v_h replaces q_h (so heads concatenated are columns [0, D) of
// qkv) in the first s.queries rows (every row when 0; the other rows' q is left as it was, every
// row's k and v are read); k may be overwritten too (with pos, k_h's columns receive position_h v_h
// once packed). attention_h is softmax(q_h k_h^T * scale) (MHSA) or, with pos (GPSA, the fused path
// of layer_forward), (1 - lambda_h) of it plus lambda_h position_h, the position applied through
// its separable factors and the row renormalisation skipped. Query rows go in blocks of at most 64:
// scores -> exp(x - max) -> exp @ v_h, then each row scaled by (1 - lambda) / its sum. One task
// set: the query rows of all (item, head) pairs, in units of 8, are split evenly over ex's
// workers (each packs k_h and v_h of the heads it touches; a head split between two workers is
// prepared by both). scratch: mha_scratch_floats with ex's workers.
void mha_forward(const mha_shape& s, std::size_t batch, float* qkv, float scale,
                 const folded_view* pos, std::span<float> scratch, const executor* ex) noexcept;

}  // namespace gpsa::detail
