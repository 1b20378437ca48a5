// SPDX-License-Identifier: MIT
// The GPSA layer kernels (gated attention, layer forward), local_init, the nonlocality metric
// and the dense positional branch used for checking: no heap, no exceptions.
//
// Reference: timm/models/convit.py, class GPSA (get_attention, forward, get_attention_map,
// local_init); the math is docs/DESIGN.md. Layouts are PyTorch's, row-major float32:
//   x, y       (B, N, D)        N = R*C patches, patch p = y*C + x
//   attn       (B, H, N, N)     attn[b, h, p, q], query p, key q
//   position   (H, N, N)        softmax_rows(P[h]) of the positional logits
//   fx / gy    (H, C, C) / (H, R, R)   the folded factors (gpsa/fold.hpp):
//              position[h, p, q] = gy[h, yp, yq] * fx[h, xp, xq]
//   nn.Linear  weight (out, in), y = x W^T + b
//
// One convention for the layer kernels (CMSIS-NN style): the layer's linear weights
// (gpsa_weights) and its folded positional branch (gpsa::folded_view, which also carries the
// grid and lambda) describe the layer; activations and scratch are spans whose lengths are
// checked; one scratch query, gpsa_scratch_size(gpsa_dims, workers), sizes the scratch of both
// kernels. Every entry point is noexcept and returns a [[nodiscard]] gpsa::status: buffers of
// the wrong length are shape_mismatch / buffer_too_small, element counts are overflow-checked
// (size_overflow), null required pointers and inconsistent dimensions are invalid_argument /
// shape_mismatch. Outputs must not overlap inputs unless a function says otherwise.
#pragma once

#include <cstddef>
#include <span>

#include "gpsa/fold.hpp"
#include "gpsa/grid.hpp"
#include "gpsa/rel_indices.hpp"
#include "gpsa/status.hpp"

namespace gpsa {

// ---------------------------------------------------------------------------------------------
// The layer
// ---------------------------------------------------------------------------------------------

// Non-owning view of one GPSA layer's linear weights, timm key names in the comments.
// D = dim (model width), H = heads, d = D / H (head width); D must be divisible by H.
// pos_proj and gating_param are not here: they are folded once per grid into a folded_view
// (gpsa::fold_positional), which is what the kernels read.
struct gpsa_weights {
  std::size_t heads = 0;               // H
  std::size_t dim = 0;                 // D
  const float* qk_weight = nullptr;    // qk.weight    (2D, D), rows [0,D) = q, [D,2D) = k
  const float* qk_bias = nullptr;      // qk.bias      (2D), null when qkv_bias=False
  const float* v_weight = nullptr;     // v.weight     (D, D)
  const float* v_bias = nullptr;       // v.bias       (D), null when qkv_bias=False
  const float* proj_weight = nullptr;  // proj.weight  (D, D)
  const float* proj_bias = nullptr;    // proj.bias    (D), null = zero
  // Optional: qk, v and proj weights pre-packed once by gpsa_pack_weights (gpsa_packed_size
  // floats, 64-byte aligned for best speed). The kernels then read these instead of packing the
  // weights on every call (outputs are the same bits either way) and never the plain weights,
  // which may then be null (the weights held once). Null: pack on the fly from the plain
  // weights. It must be what gpsa_pack_weights wrote for these very weights.
  const float* packed = nullptr;

  constexpr std::size_t head_dim() const noexcept { return heads != 0 ? dim / heads : 0; }
  constexpr bool has_qkv_bias() const noexcept { return qk_bias != nullptr || v_bias != nullptr; }
};

// ok, or invalid_argument when H == 0, D == 0, D % H != 0 or a required pointer is null (the
// plain qk, v and proj weights, unless `packed` is set).
status validate(const gpsa_weights& w) noexcept;

// Floats of the pre-packed qk, v and proj weights of a layer of width `dim` (gpsa_pack_weights):
// about 4 D^2 (each weight's output width rounded up to whole 48-column panels in a SIMD build).
// invalid_argument for dim == 0, size_overflow when it does not fit size_t.
status gpsa_packed_size(std::size_t dim, std::size_t& floats) noexcept;

// Packs w's qk, v and proj weights into `packed` (at least gpsa_packed_size(w.dim) floats) in the
// layout the kernels read; set w.packed = packed.data() afterwards. Once per set of weights (the
// runtime's gpsa::layer does it on construction). validate(w) errors, buffer_too_small.
status gpsa_pack_weights(const gpsa_weights& w, std::span<float> packed) noexcept;

// The shapes of one kernel call: `batch` items of shape.patches() tokens of width dim, split
// into `heads` heads. What gpsa_scratch_size needs, before any buffer exists.
struct gpsa_dims {
  std::size_t batch = 0;  // B
  gpsa::grid shape{};     // R x C patches, N = R*C
  std::size_t heads = 0;  // H
  std::size_t dim = 0;    // D, divisible by H

  constexpr std::size_t patches() const noexcept { return shape.patches(); }
  constexpr std::size_t head_dim() const noexcept { return heads != 0 ? dim / heads : 0; }
};

// The dims of a call with these weights and folded branch.
constexpr gpsa_dims dims_of(const gpsa_weights& w, const folded_view& pos,
                            std::size_t batch) noexcept {
  return {batch, pos.shape, w.heads, w.dim};
}

// d^-1/2, the content-score scale, rounded to float as PyTorch does (head_dim ** -0.5).
float head_scale(std::size_t head_dim) noexcept;

// ---------------------------------------------------------------------------------------------
// Executor (optional parallelism over batch x heads, supplied by the host application)
// ---------------------------------------------------------------------------------------------

// A host-supplied parallel loop: parallel_for(context, count, task, arg) runs task(arg, i, worker)
// once for every i in [0, count), on up to `workers` threads, and returns when all calls are done.
// `worker` (< workers) names the thread running the call: no two calls that overlap in time may
// get the same worker, since it selects that call's slice of scratch. The tasks are noexcept.
// gpsa::core itself starts no thread; gpsa::thread_pool_executor (gpsa/executor.hpp) is a
// ready-made one. A null `const executor*` is the serial path (no change in results: the
// per-(item, head) work is independent, so any worker count gives bit-identical outputs).
struct executor {
  void* context = nullptr;
  void (*parallel_for)(void* context, std::size_t count,
                       void (*task)(void* arg, std::size_t index, std::size_t worker),
                       void* arg) = nullptr;
  std::size_t workers = 1;
};

// ---------------------------------------------------------------------------------------------
// Layer kernels
// ---------------------------------------------------------------------------------------------

// Scratch (in floats) for gpsa_forward and gpsa_attention with an executor of `workers` workers
// (1 for the serial path; 0 is invalid_argument): B*N*3D for the q, k, v rows of the whole batch,
// plus per worker the fused forward's attention work: k_h and v_h packed (about 2*48*N floats),
// the larger of a block of at most 64 query rows of scores and 2*N*d for the positional product,
// and with several workers N*d for a position @ v_h of its own (the query rows of the batch's
// (item, head) pairs are split evenly over the workers, so two may share a head); plus 32 floats
// so the regions start on 64-byte boundaries. size_overflow
// when a count does not fit size_t; invalid_argument for H == 0, D % H != 0 or an empty grid
// (empty_grid).
status gpsa_scratch_size(const gpsa_dims& d, std::size_t workers, std::size_t& floats) noexcept;

// attn (B, H, N, N) of x (B, N, D), exactly PyTorch's GPSA.get_attention, with the grid and
// lambda of `pos` (pos.heads must equal w.heads: shape_mismatch). x and attn must have exactly
// B*N*D and B*H*N*N floats (shape_mismatch); scratch at least gpsa_scratch_size floats
// (buffer_too_small). ex: null, or an executor splitting the (item, head) pairs over its workers
// (ex->workers == 0 or a null parallel_for is invalid_argument); results are bit-identical for
// any worker count. batch == 0 is a no-op.
status gpsa_attention(const gpsa_weights& w, const folded_view& pos, std::size_t batch,
                      std::span<const float> x, std::span<float> attn, std::span<float> scratch,
                      const executor* ex = nullptr) noexcept;

// y (B, N, D) = GPSA.forward(x): qk and v linear, gated attention, attn @ v per head, concat,
// proj. attn: empty, or B*H*N*N floats that receive the attention; it is then formed in
// PyTorch's order (blend, row renormalisation) and used for attn @ v. With an empty attn nothing
// N x N per head is stored: each block of query rows goes scores -> softmax ->
// (1 - lambda) * softmax @ v_h, plus lambda * (position @ v_h) from the separable form
// (O(N (R+C) d) per head); the renormalisation (a no-op up to rounding) is skipped.
// y may be x itself (in place) but must not partially overlap it. Other rules as gpsa_attention.
// With an executor the qk / v / proj linear layers are cut over its workers too (call from
// outside the executor's tasks), and the fused attention's query rows of all (item, head) pairs
// are split evenly over them (one image, 9 heads, 2 workers: 4.5 heads each); outputs are
// bit-identical for any worker count. Subnormal intermediates count as 0
// (x86: flush-to-zero for the call, the caller's mode restored).
status gpsa_forward(const gpsa_weights& w, const folded_view& pos, std::size_t batch,
                    std::span<const float> x, std::span<float> y, std::span<float> attn,
                    std::span<float> scratch, const executor* ex = nullptr) noexcept;

// ---------------------------------------------------------------------------------------------
// Building blocks and the dense positional branch (checking, reference paths)
// ---------------------------------------------------------------------------------------------

// out (nq x nk, row stride ldo) = softmax_rows(q k^T * scale), q: nq x d (stride ldq),
// k: nk x d (stride ldk). Stable: subtracts each row's max (logits of +-1e4 are fine).
status content_attention(std::size_t nq, std::size_t nk, std::size_t d, const float* q,
                         std::size_t ldq, const float* k, std::size_t ldk, float scale, float* out,
                         std::size_t ldo) noexcept;
// The gated blend of one head on the folded factors: gpsa::gated_blend_rows (gpsa/fold.hpp).

// Positional logits P[h, p, q] = W[h,0]*dx + W[h,1]*dy + W[h,2]*(dx^2+dy^2) + b[h], evaluated in
// double and rounded once to float. `weight` is pos_proj.weight (H, 3), `bias` (H) or null.
// out: (H, N, N), at least H*N*N floats. Built from the offset structure (P depends only on
// (dx, dy)), so no relative-index table is needed.
status pos_logits_count(grid g, std::size_t heads, std::size_t& count) noexcept;  // H*N*N
status pos_logits(grid g, std::size_t heads, const float* weight, const float* bias,
                  std::span<float> out) noexcept;
// Same values (bit-identical), computed like PyTorch's pos_proj: the 3->H projection of each
// (p, q) row of a relative-index table (baked, e.g. rel_indices_v<S>.view(), or runtime-filled).
status pos_logits_from_table(rel_view<float> table, std::size_t heads, const float* weight,
                             const float* bias, std::span<float> out) noexcept;

// Dense positional attention softmax_rows(P[h]), (H, N, N): logits then a stable row softmax.
// The kernels use the folded form instead (gpsa::fold_positional, expand it with
// gpsa::positional_expand); these are the reference it is checked against.
status pos_attention(grid g, std::size_t heads, const float* weight, const float* bias,
                     std::span<float> out) noexcept;
status pos_attention_from_table(rel_view<float> table, std::size_t heads, const float* weight,
                                const float* bias, std::span<float> out) noexcept;

// ---------------------------------------------------------------------------------------------
// Initialisation and metrics
// ---------------------------------------------------------------------------------------------

// ConViT's convolutional initialisation of pos_proj.weight (H, 3), strength alpha, exactly as
// timm's GPSA.local_init: K = floor(sqrt(H)), c = (K-1)/2; head h = h1 + K*h2 (h1, h2 < K) is set
// to (2(h2-c), 2(h1-c), -1), i.e. it attends around offset (dx, dy) = (h2-c, h1-c); then the
// whole weight, heads h >= K*K included (they keep their values), is multiplied by alpha
// (docs/DESIGN.md §6). The bias is not touched.
status local_init(std::size_t heads, float alpha, std::span<float> pos_proj_weight) noexcept;
// v.weight (D, D) = identity, the other half of local_init.
status identity_init(std::size_t dim, std::span<float> v_weight) noexcept;
// Both at once: local_init(H, alpha) of pos_proj.weight and the identity v.weight.
status local_init(std::size_t heads, float alpha, std::span<float> pos_proj_weight, std::size_t dim,
                  std::span<float> v_weight) noexcept;

// Nonlocality (GPSA.get_attention_map): with attn (B, H, N, N) averaged over the batch,
// dist[h] = (1/N) sum_p sum_q sqrt(dx^2+dy^2) attn[h, p, q]; accumulated in double.
// attn: exactly B*H*N*N floats (shape_mismatch); dist: at least H floats. N = 1 gives 0
// (PyTorch crashes there).
status nonlocality(grid g, std::size_t heads, std::size_t batch, std::span<const float> attn,
                   std::span<float> dist) noexcept;

}  // namespace gpsa
