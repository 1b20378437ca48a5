// SPDX-License-Identifier: MIT
// The GPSA layer kernels of gpsa::core: weights and dims, pack, scratch size, attention, forward.
//
// Reference: timm/models/convit.py, class GPSA (get_attention, forward); the math is
// docs/DESIGN.md. Layouts are PyTorch's, row-major float32:
//   x, y       (B, N, D)        N = R*C patches, patch p = y*C + x
//   attn       (B, H, N, N)     attn[b, h, p, q], query p, key q
//   nn.Linear  weight (out, in), y = x W^T + b
// The positional branch comes folded (gpsa::folded_view, gpsa/core/fold.hpp: fx, gy, lambda and
// the grid); pos_proj and gating_param are not read here.
//
// The lifecycle, the same verbs as the whole model's (gpsa/core/convit.hpp) and the C API's
// gpsa_layer_* (gpsa/gpsa.h, same names, same members):
//   layer_folded_size / layer_fold     the positional branch, once per grid (gpsa/core/fold.hpp)
//   layer_packed_size / layer_pack     optional pre-packed weights, once per set of weights
//   layer_scratch_size                 the scratch of one call shape (layer_dims)
//   layer_forward / layer_attention    the calls
// Every entry point is noexcept and returns a [[nodiscard]] gpsa::status: buffers of the wrong
// length are shape_mismatch / buffer_too_small, element counts are overflow-checked
// (size_overflow), null required pointers and inconsistent dimensions are invalid_argument /
// shape_mismatch. Outputs must not overlap inputs unless a function says otherwise.
#pragma once

#include <cstddef>
#include <span>

#include "gpsa/core/fold.hpp"
#include "gpsa/core/types.hpp"

namespace gpsa {

// Non-owning view of one GPSA layer's linear weights, timm key names in the comments.
// D = dim (model width), H = heads, d = D / H (head width); D must be divisible by H.
// The C API's gpsa_layer_weights has the same members in the same order.
struct layer_weights {
  std::size_t heads = 0;               // H
  std::size_t dim = 0;                 // D
  const float* qk_weight = nullptr;    // qk.weight    (2D, D), rows [0,D) = q, [D,2D) = k
  const float* qk_bias = nullptr;      // qk.bias      (2D), null when qkv_bias=False
  const float* v_weight = nullptr;     // v.weight     (D, D)
  const float* v_bias = nullptr;       // v.bias       (D), null when qkv_bias=False
  const float* proj_weight = nullptr;  // proj.weight  (D, D)
  const float* proj_bias = nullptr;    // proj.bias    (D), null = zero
  // Optional: qk, v and proj weights pre-packed once by layer_pack (layer_packed_size floats,
  // 64-byte aligned for best speed). The kernels then read these instead of packing the weights
  // on every call (outputs are the same bits either way) and never the plain weights, which may
  // then be null (the weights held once). Null: pack on the fly from the plain weights. It must
  // be what layer_pack wrote for these very weights.
  const float* packed = nullptr;

  constexpr std::size_t head_dim() const noexcept { return heads != 0 ? dim / heads : 0; }
  constexpr bool has_qkv_bias() const noexcept { return qk_bias != nullptr || v_bias != nullptr; }
};

// ok, or invalid_argument when H == 0, D == 0, D % H != 0 or a required pointer is null (the
// plain qk, v and proj weights, unless `packed` is set).
status validate(const layer_weights& w) noexcept;

// The shape of one call: `batch` items of shape.patches() tokens of width dim, split into `heads`
// heads. What layer_scratch_size needs, before any buffer exists. The C API's gpsa_layer_dims
// has the same members in the same order (the grid as rows, cols).
struct layer_dims {
  std::size_t heads = 0;  // H
  std::size_t dim = 0;    // D, divisible by H
  gpsa::grid shape{};     // R x C patches, N = R*C
  std::size_t batch = 0;  // B

  constexpr std::size_t patches() const noexcept { return shape.patches(); }
  constexpr std::size_t head_dim() const noexcept { return heads != 0 ? dim / heads : 0; }
};

// The dims of a call with these weights and folded branch.
constexpr layer_dims dims_of(const layer_weights& w, const folded_view& pos,
                             std::size_t batch) noexcept {
  return {w.heads, w.dim, pos.shape, batch};
}

// Floats of the pre-packed qk, v and proj weights of a layer of width `dim` (layer_pack): about
// 4 D^2 (each weight's output width rounded up to whole 48-column panels in a SIMD build).
// invalid_argument for dim == 0, size_overflow when it does not fit size_t.
status layer_packed_size(std::size_t dim, std::size_t& floats) noexcept;

// Packs w's qk, v and proj weights into `packed` (at least layer_packed_size(w.dim) floats) in the
// layout the kernels read; set w.packed = packed.data() afterwards. Once per set of weights (the
// runtime's gpsa::layer does it on construction). validate(w) errors; invalid_argument when a
// plain qk, v or proj weight is null (packing reads them); buffer_too_small.
status layer_pack(const layer_weights& w, std::span<float> packed) noexcept;

// Scratch (in floats) for layer_forward and layer_attention with an executor of `workers` workers
// (workers_of(ex): 1 for the serial path; 0 is invalid_argument): B*N*3D for the q, k, v rows of
// the whole batch, plus per worker the fused forward's attention work: k_h and v_h packed (about
// 2*48*N floats), the larger of a block of at most 64 query rows of scores and 2*N*d for the
// positional product, and with several workers N*d for a position @ v_h of its own (the query
// rows of the batch's (item, head) pairs are split evenly over the workers, so two may share a
// head); plus the 64-byte alignment slack. size_overflow when a count
// does not fit size_t; invalid_argument for H == 0, D % H != 0; empty_grid.
status layer_scratch_size(const layer_dims& d, std::size_t workers, std::size_t& floats) noexcept;

// attn (B, H, N, N) of x (B, N, D), exactly PyTorch's GPSA.get_attention, with the grid and
// lambda of `pos` (pos.heads must equal w.heads: shape_mismatch). x and attn must have exactly
// B*N*D and B*H*N*N floats (shape_mismatch); scratch at least layer_scratch_size floats
// (buffer_too_small). ex: null, or an executor splitting the (item, head) pairs over its workers
// (validate(ex)); results are bit-identical for any worker count. batch == 0 is a no-op.
status layer_attention(const layer_weights& w, const folded_view& pos, std::size_t batch,
                       std::span<const float> x, std::span<float> attn, std::span<float> scratch,
                       const executor* ex = nullptr) noexcept;

// y (B, N, D) = GPSA.forward(x): qk and v linear, gated attention, attn @ v per head, concat,
// proj. attn: empty, or B*H*N*N floats that receive the attention; it is then formed in
// PyTorch's order (blend, row renormalisation) and used for attn @ v. With an empty attn nothing
// N x N per head is stored: each block of query rows goes scores -> softmax ->
// (1 - lambda) * softmax @ v_h, plus lambda * (position @ v_h) from the separable form
// (O(N (R+C) d) per head); the renormalisation (a no-op up to rounding) is skipped.
// y may be x itself (in place) but must not partially overlap it. Other rules as
// layer_attention. With an executor the qk / v / proj linear layers are cut over its workers too
// (call from outside the executor's tasks), and the fused attention's query rows of all (item,
// head) pairs are split evenly over them (one image, 9 heads, 2 workers: 4.5 heads each); outputs
// are bit-identical for any worker count. Subnormal intermediates count as
// 0 (x86: flush-to-zero for the call, the caller's mode restored).
status layer_forward(const layer_weights& w, const folded_view& pos, std::size_t batch,
                     std::span<const float> x, std::span<float> y, std::span<float> attn,
                     std::span<float> scratch, const executor* ex = nullptr) noexcept;

// d^-1/2, the content-score scale, rounded to float as PyTorch does (head_dim ** -0.5).
float head_scale(std::size_t head_dim) noexcept;

// out (nq x nk, row stride ldo) = softmax_rows(q k^T * scale), q: nq x d (stride ldq),
// k: nk x d (stride ldk): one head's content attention. Stable: subtracts each row's max
// (logits of +-1e4 are fine). invalid_argument for a null pointer or a stride below its row.
status content_attention(std::size_t nq, std::size_t nk, std::size_t d, float scale, const float* q,
                         std::size_t ldq, const float* k, std::size_t ldk, float* out,
                         std::size_t ldo) noexcept;
// The gated blend of one head on the folded factors: gpsa::gated_blend_rows (gpsa/core/fold.hpp).

}  // namespace gpsa
