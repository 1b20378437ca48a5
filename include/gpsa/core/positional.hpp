// SPDX-License-Identifier: MIT
// The GPSA positional branch in dense form (logits, softmax; the reference the fold is checked
// against), ConViT's local_init, and the nonlocality metric: no heap, no exceptions.
//
// Reference: timm/models/convit.py, class GPSA (get_rel_indices, pos_proj, local_init,
// get_attention_map); the math is docs/DESIGN.md. pos_proj.weight is (H, 3) row-major,
// pos_proj.bias (H) or empty (it cancels in the softmax); dense outputs are (H, N, N).
#pragma once

#include <cstddef>
#include <span>

#include "gpsa/core/fold.hpp"
#include "gpsa/core/types.hpp"
#include "gpsa/rel_indices.hpp"

namespace gpsa {

// Floats of pos_logits' / pos_attention's output, H*N*N. empty_grid, invalid_argument for
// heads == 0, size_overflow.
status pos_logits_size(grid g, std::size_t heads, std::size_t& floats) noexcept;

// Positional logits P[h, p, q] = W[h,0]*dx + W[h,1]*dy + W[h,2]*(dx^2+dy^2) + b[h], evaluated in
// double and rounded once to float. weight: exactly 3H floats, bias: H or empty
// (shape_mismatch otherwise); out: at least H*N*N floats (buffer_too_small). Built from the
// offset structure (P depends only on (dx, dy)), so no relative-index table is needed.
status pos_logits(grid g, std::size_t heads, std::span<const float> weight,
                  std::span<const float> bias, std::span<float> out) noexcept;
// Same values (bit-identical), computed like PyTorch's pos_proj: the 3->H projection of each
// (p, q) row of a relative-index table (baked, e.g. rel_indices_v<S>.view(), or runtime-filled).
status pos_logits_from_table(rel_view<float> table, std::size_t heads,
                             std::span<const float> weight, std::span<const float> bias,
                             std::span<float> out) noexcept;

// Dense positional attention softmax_rows(P[h]), (H, N, N): logits then a stable row softmax.
// The kernels use the folded form instead (gpsa::layer_fold, expand it with
// gpsa::positional_expand); these are the reference it is checked against.
status pos_attention(grid g, std::size_t heads, std::span<const float> weight,
                     std::span<const float> bias, std::span<float> out) noexcept;
status pos_attention_from_table(rel_view<float> table, std::size_t heads,
                                std::span<const float> weight, std::span<const float> bias,
                                std::span<float> out) noexcept;

// ConViT's convolutional initialisation of pos_proj.weight (H, 3), strength alpha, exactly as
// timm's GPSA.local_init: K = floor(sqrt(H)), c = (K-1)/2; head h = h1 + K*h2 (h1, h2 < K) is set
// to (2(h2-c), 2(h1-c), -1), i.e. it attends around offset (dx, dy) = (h2-c, h1-c); then the
// whole weight, heads h >= K*K included (they keep their values), is multiplied by alpha
// (docs/DESIGN.md §6). The bias is not touched.
status local_init(std::size_t heads, float alpha, std::span<float> pos_proj_weight) noexcept;
// v.weight (D, D) = identity, the other half of local_init.
status identity_init(std::size_t dim, std::span<float> v_weight) noexcept;
// Both at once: local_init(H, alpha) of pos_proj.weight and the identity v.weight.
status local_init(std::size_t heads, float alpha, std::size_t dim, std::span<float> pos_proj_weight,
                  std::span<float> v_weight) noexcept;

// Nonlocality (GPSA.get_attention_map): with attn (B, H, N, N) averaged over the batch,
// dist[h] = (1/N) sum_p sum_q sqrt(dx^2+dy^2) attn[h, p, q]; accumulated in double.
// attn: exactly B*H*N*N floats (shape_mismatch); dist: at least H floats. N = 1 gives 0
// (PyTorch crashes there).
status nonlocality(grid g, std::size_t heads, std::size_t batch, std::span<const float> attn,
                   std::span<float> dist) noexcept;

// The same measure for the positional attention alone, softmax(P_h) (input independent: what a
// head attends to when its gate lambda is 1), from the folded factors without the N x N matrix:
// dist[h] = (1/N) sum over (yp, yq, xp, xq) of sqrt(dx^2+dy^2) gy[h,yp,yq] fx[h,xp,xq], in
// double. dist: at least f.heads floats (buffer_too_small); validate(f) errors.
status positional_nonlocality(const folded_view& f, std::span<float> dist) noexcept;

}  // namespace gpsa
