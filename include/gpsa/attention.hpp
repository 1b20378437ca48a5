// GPSA core kernels (positional branch, gated attention, layer forward, local_init, nonlocality):
// no heap, no exceptions.
//
// Reference: timm/models/convit.py, class GPSA (get_attention, forward, get_attention_map,
// local_init); the math is DESIGN.md section 1. Layouts are PyTorch's, row-major float32:
//   x, y       (B, N, D)        N = R*C patches, patch p = y*C + x
//   attn       (B, H, N, N)     attn[b, h, p, q], query p, key q
//   position   (H, N, N)        softmax_rows(P[h]) of the positional logits
//   fx / gy    (H, C, C) / (H, R, R)   separable factors: position[h, p, q] = gy[h, yp, yq] * fx[h,
//   xp, xq] nn.Linear  weight (out, in), y = x W^T + b
//
// Conventions (CMSIS-NN style): every entry point is noexcept and returns gpsa::status; the caller
// owns every buffer; a kernel that needs temporary memory takes a `scratch` span whose size (in
// floats) comes from the matching *_scratch_size query. Buffer sizes are checked
// (buffer_too_small), element counts are computed with overflow checks (size_overflow), null
// required pointers and inconsistent dimensions are invalid_argument / shape_mismatch. Outputs must
// not overlap inputs.
#pragma once

#include <cstddef>
#include <span>

#include "gpsa/grid.hpp"
#include "gpsa/rel_indices.hpp"
#include "gpsa/status.hpp"

namespace gpsa {

// ---------------------------------------------------------------------------------------------
// Weights
// ---------------------------------------------------------------------------------------------

// Non-owning view of one GPSA layer's parameters, timm key names in the comments.
// D = dim (model width), H = heads, d = D / H (head width); D must be divisible by H.
struct gpsa_weights {
  std::size_t heads = 0;                   // H
  std::size_t dim = 0;                     // D
  const float* qk_weight = nullptr;        // qk.weight        (2D, D), rows [0,D) = q, [D,2D) = k
  const float* qk_bias = nullptr;          // qk.bias          (2D), null when qkv_bias=False
  const float* v_weight = nullptr;         // v.weight         (D, D)
  const float* v_bias = nullptr;           // v.bias           (D), null when qkv_bias=False
  const float* proj_weight = nullptr;      // proj.weight      (D, D)
  const float* proj_bias = nullptr;        // proj.bias        (D), null = zero
  const float* pos_proj_weight = nullptr;  // pos_proj.weight  (H, 3)
  const float* pos_proj_bias = nullptr;    // pos_proj.bias    (H), null = zero (cancels in softmax)
  const float* gating_param = nullptr;     // gating_param     (H)

  constexpr std::size_t head_dim() const noexcept { return heads != 0 ? dim / heads : 0; }
  constexpr bool has_qkv_bias() const noexcept { return qk_bias != nullptr || v_bias != nullptr; }
};

// ok, or invalid_argument when H == 0, D == 0, D % H != 0 or a required pointer is null.
status validate(const gpsa_weights& w) noexcept;

// d^-1/2, the content-score scale, rounded to float as PyTorch does (head_dim ** -0.5).
float head_scale(std::size_t head_dim) noexcept;

// lambda = sigmoid(g) and 1 - lambda = sigmoid(-g), each computed without overflow or
// cancellation (exact to float rounding for every finite g, e.g. +-100; +-inf give 1/0).
float gate_lambda(float gating) noexcept;
float gate_one_minus_lambda(float gating) noexcept;

// ---------------------------------------------------------------------------------------------
// Positional branch (input-independent: compute once per grid and weights)
// ---------------------------------------------------------------------------------------------

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
status pos_attention(grid g, std::size_t heads, const float* weight, const float* bias,
                     std::span<float> out) noexcept;
status pos_attention_from_table(rel_view<float> table, std::size_t heads, const float* weight,
                                const float* bias, std::span<float> out) noexcept;

// The separable form (DESIGN.md section 1), position[h] = gy[h] (x) fx[h], is computed by
// gpsa::fold_positional (gpsa/fold.hpp), bit-identical at compile time and run time; expand it
// with gpsa::positional_expand. The kernels below use it directly.

// A precomputed positional branch for one grid, in either form: `dense` (H, N, N) or the
// factors `fx` (H, C, C) + `gy` (H, R, R) as fold_positional writes them. When `dense` is set it
// is used; otherwise both factors must be set. lambda always comes from gating_param.
struct pos_branch {
  gpsa::grid shape{};
  std::size_t heads = 0;
  const float* dense = nullptr;
  const float* fx = nullptr;
  const float* gy = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Attention building blocks (one head)
// ---------------------------------------------------------------------------------------------

// out (nq x nk, row stride ldo) = softmax_rows(q k^T * scale), q: nq x d (stride ldq),
// k: nk x d (stride ldk). Stable: subtracts each row's max (logits of +-1e4 are fine).
status content_attention(std::size_t nq, std::size_t nk, std::size_t d, const float* q,
                         std::size_t ldq, const float* k, std::size_t ldk, float scale, float* out,
                         std::size_t ldo) noexcept;

// In place: attn = (1 - lambda) * attn + lambda * position, then each row divided by its sum
// (PyTorch's get_attention). attn and position: rows x cols with strides ld_attn / ld_pos.
status gate_blend(std::size_t rows, std::size_t cols, float gating, float* attn,
                  std::size_t ld_attn, const float* position, std::size_t ld_pos) noexcept;
// The same blend on the factors: gpsa::gated_blend_rows (gpsa/fold.hpp).

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
// Full layer
// ---------------------------------------------------------------------------------------------

// Scratch (in floats) needed by gpsa_attention (N*2D, one item at a time) / gpsa_forward
// (B*N*3D + min(64, N)*N + 2*N*d: the linear layers run over the whole batch, the attention one
// block of query rows at a time) on grid g. `with_pos` says the caller passes a precomputed
// pos_branch; without it the kernels fold the separable factors into scratch
// (H*(R*R + C*C) + H more floats). size_overflow when a count does not fit size_t.
status attention_scratch_size(const gpsa_weights& w, grid g, std::size_t batch, bool with_pos,
                              std::size_t& floats) noexcept;
status forward_scratch_size(const gpsa_weights& w, grid g, std::size_t batch, bool with_pos,
                            std::size_t& floats) noexcept;
// The same for an executor with `workers` workers (>= 1, else invalid_argument): the forward's
// per-head work area (min(64, N)*N + 2*N*d) is needed once per worker; gpsa_attention needs no
// per-worker scratch (its size does not depend on workers). workers = 1 gives the sizes above.
status attention_scratch_size(const gpsa_weights& w, grid g, std::size_t batch, bool with_pos,
                              std::size_t workers, std::size_t& floats) noexcept;
status forward_scratch_size(const gpsa_weights& w, grid g, std::size_t batch, bool with_pos,
                            std::size_t workers, std::size_t& floats) noexcept;

// attn (B, H, N, N) of x (B, N, D), exactly PyTorch's GPSA.get_attention.
// pos: precomputed positional branch for g and w.heads, or null (folded into scratch; then a
// NaN/Inf in pos_proj.weight or gating_param is invalid_argument, as for fold_positional).
status gpsa_attention(const gpsa_weights& w, grid g, std::size_t batch, const float* x, float* attn,
                      const pos_branch* pos, std::span<float> scratch) noexcept;

// y (B, N, D) = GPSA.forward(x): qk and v linear, gated attention, attn @ v per head, concat,
// proj. attn_out: optional (B, H, N, N) copy of the attention (null to skip). pos as above.
// With attn_out, attn is formed in PyTorch's order (blend, row renormalisation) and used for
// attn @ v. Without it nothing N x N per head is stored: each block of query rows goes scores ->
// softmax -> (1 - lambda) * softmax @ v_h, plus lambda * (position @ v_h) from the separable
// form (O(N (R+C) d) per head); the renormalisation (a no-op up to rounding) is skipped.
// batch == 0 is a no-op. y may be x itself (in place) but must not partially overlap it.
status gpsa_forward(const gpsa_weights& w, grid g, std::size_t batch, const float* x, float* y,
                    float* attn_out, const pos_branch* pos, std::span<float> scratch) noexcept;

// The same two with the (item, head) pairs split over an executor's workers (the qk / v / proj
// linear layers, GEMMs over all tokens, stay on the calling thread). ex == null is exactly the
// overloads above. Size the scratch with the `workers` queries (buffer_too_small otherwise);
// ex->workers == 0 or a null ex->parallel_for is invalid_argument. Results are bit-identical to
// the serial path for any worker count and schedule.
status gpsa_attention(const gpsa_weights& w, grid g, std::size_t batch, const float* x, float* attn,
                      const pos_branch* pos, std::span<float> scratch, const executor* ex) noexcept;
status gpsa_forward(const gpsa_weights& w, grid g, std::size_t batch, const float* x, float* y,
                    float* attn_out, const pos_branch* pos, std::span<float> scratch,
                    const executor* ex) noexcept;

// ---------------------------------------------------------------------------------------------
// Initialisation and metrics
// ---------------------------------------------------------------------------------------------

// ConViT's convolutional initialisation of pos_proj.weight (H, 3), strength alpha:
// K = floor(sqrt(H)), c = (K-1)/2; head h = h1 + K*h2 (h1, h2 < K) gets
// alpha * (2(h2-c), 2(h1-c), -1), i.e. it attends around offset (dx, dy) = (h2-c, h1-c).
// Heads h >= K*K are left unchanged (DESIGN.md section 1). The bias is not touched.
status local_init(std::size_t heads, float alpha, std::span<float> pos_proj_weight) noexcept;
// v.weight (D, D) = identity, the other half of local_init.
status identity_init(std::size_t dim, std::span<float> v_weight) noexcept;
// Both at once: local_init(H, alpha) of pos_proj.weight and the identity v.weight.
status local_init(std::size_t heads, float alpha, std::span<float> pos_proj_weight, std::size_t dim,
                  std::span<float> v_weight) noexcept;

// Nonlocality (GPSA.get_attention_map): with attn (B, H, N, N) averaged over the batch,
// dist[h] = (1/N) sum_p sum_q sqrt(dx^2+dy^2) attn[h, p, q]; accumulated in double.
// dist: at least H floats. N = 1 gives 0 (PyTorch crashes there).
status nonlocality(grid g, std::size_t heads, std::size_t batch, const float* attn,
                   std::span<float> dist) noexcept;

}  // namespace gpsa
