// SPDX-License-Identifier: MIT
// Whole ConViT inference (timm's ConViT: patch embedding, GPSA and MHSA blocks, class token,
// final norm, head) in the no-heap, no-exception core: weights as views, caller-owned scratch.
//
// The model, as timm's ConViT computes it at evaluation (dropout and drop-path are identities):
//   x = patch_embed(images) + pos_embed          Conv2d(C -> D, kernel p, stride p), flattened to
//                                                (B, N, D), N = (S/p)^2, patch n = row * (S/p) +
//                                                col
//   for block i in [0, depth):
//     if i == local_up_to_layer: x = concat(cls_token, x)     (B, N+1, D), class token first
//     x = x + attn_i(norm1_i(x))       GPSA for i < local_up_to_layer, else MHSA (softmax
//     attention) x = x + fc2_i(gelu(fc1_i(norm2_i(x))))                   exact GELU, 0.5 x (1 +
//     erf(x / sqrt 2))
//   features = norm(x)                 (B, T, D), T = N + 1 (N when local_up_to_layer == depth:
//                                      timm then never prepends the class token)
//   logits   = head(features[:, 0])    (B, classes); with config.pool == avg,
//                                      head(mean of features[:, 1:]) (timm's global_pool='avg')
// Without pos_embed (config.use_pos_embed false) nothing is added to the patch embedding.
// Every LayerNorm uses config.eps (1e-6 in the released models). Layouts are PyTorch's, row-major
// float32: images (B, C, S, S), nn.Linear weight (out, in), conv weight (D, C, p, p).
//
// The lifecycle, the same verbs as the GPSA layer's (gpsa/core/layer.hpp); every buffer is the
// caller's:
//   gpsa::convit_weights w = ...;                         // views, e.g. into flash
//   std::vector<gpsa::convit_block_weights> blocks = ...; // w.blocks views them
//   convit_folded_size(w.config, nf);                     // GPSA positional state, once per model
//   convit_fold(w.config, blocks, folded);                // sets each GPSA block's `folded` view
//   convit_packed_size(w.config, np);                     // optional pre-packed weights
//   convit_pack(w, packed); w.packed = packed.data();
//   convit_scratch_size(w.config, batch, workers_of(ex), ns);
//   convit_forward(w, batch, images, logits, features_or_empty, scratch, ex);
#pragma once

#include <cstddef>
#include <span>

#include "gpsa/core/fold.hpp"
#include "gpsa/core/layer.hpp"
#include "gpsa/core/types.hpp"

namespace gpsa {

// What the head reads (timm's global_pool): the class token (token 0), or the mean of the tokens
// after it, tokens [1, T) ('avg'; with no class token, T = N, timm still skips token 0).
enum class convit_pool { token, avg };

// The shape of a ConViT. timm's convit_tiny: {224, 16, 3, 192, 4, 12, 10, 768, 1000}.
struct convit_config {
  std::size_t image_size = 0;         // S: square images, S >= patch_size
  std::size_t patch_size = 0;         // p: patch grid floor(S/p) x floor(S/p) (as timm's stride-p
                                      // convolution: the last S % p rows and columns are unused)
  std::size_t channels = 3;           // C: image channels (in_chans)
  std::size_t dim = 0;                // D: model width
  std::size_t heads = 0;              // H: attention heads, D % H == 0
  std::size_t depth = 0;              // blocks, >= 1
  std::size_t local_up_to_layer = 0;  // L <= depth: blocks [0, L) are GPSA, [L, depth) MHSA
  std::size_t mlp_hidden = 0;         // M: fc1 rows (D * mlp_ratio)
  std::size_t classes = 0;            // head rows, >= 1
  float eps = 1e-6f;                  // LayerNorm epsilon
  convit_pool pool = convit_pool::token;  // timm's global_pool ('token' or 'avg')
  bool use_pos_embed = true;              // timm's use_pos_embed: pos_embed is added

  constexpr std::size_t grid_side() const noexcept {
    return patch_size != 0 ? image_size / patch_size : 0;
  }
  constexpr gpsa::grid patch_grid() const noexcept { return {grid_side(), grid_side()}; }
  constexpr std::size_t patches() const noexcept { return grid_side() * grid_side(); }  // N
  constexpr bool has_class_token() const noexcept { return local_up_to_layer < depth; }
  constexpr std::size_t tokens() const noexcept {  // T, the token count of `features`
    return patches() + (has_class_token() ? 1 : 0);
  }
  constexpr std::size_t head_dim() const noexcept { return heads != 0 ? dim / heads : 0; }
  constexpr bool is_gpsa_block(std::size_t i) const noexcept { return i < local_up_to_layer; }
};

// ok, or invalid_argument when a count is zero (except local_up_to_layer), S < p,
// D % H != 0, local_up_to_layer > depth, eps is not a finite value >= 0, or pool avg has no token
// to average (T = 1).
status validate(const convit_config& c) noexcept;

// Views of one block's parameters, timm key names (under blocks.{i}.) in the comments. A block
// uses the GPSA fields (i < local_up_to_layer) or the MHSA ones, never both. Every *_bias may be
// null (zero; qk/v/qkv biases exist only in qkv_bias models); weights are required, except the
// linear ones (qk, v, qkv, proj, fc1, fc2) when convit_weights::packed holds them. A GPSA
// block's positional branch is read through `folded`, which convit_fold sets (or a generated
// header bakes); pos_proj and gating_param are what convit_fold reads.
struct convit_block_weights {
  const float* norm1_weight = nullptr;  // norm1.weight          (D)
  const float* norm1_bias = nullptr;    // norm1.bias            (D)
  // GPSA blocks
  const float* qk_weight = nullptr;        // attn.qk.weight        (2D, D)
  const float* qk_bias = nullptr;          // attn.qk.bias          (2D)
  const float* v_weight = nullptr;         // attn.v.weight         (D, D)
  const float* v_bias = nullptr;           // attn.v.bias           (D)
  const float* pos_proj_weight = nullptr;  // attn.pos_proj.weight  (H, 3)
  const float* pos_proj_bias = nullptr;    // attn.pos_proj.bias    (H) (cancels in the softmax)
  const float* gating_param = nullptr;     // attn.gating_param     (H)
  folded_view folded{};                    // the folded pos_proj / gating_param (convit_fold)
  // MHSA blocks
  const float* qkv_weight = nullptr;  // attn.qkv.weight       (3D, D), rows [q | k | v]
  const float* qkv_bias = nullptr;    // attn.qkv.bias         (3D)
  // both
  const float* proj_weight = nullptr;   // attn.proj.weight      (D, D)
  const float* proj_bias = nullptr;     // attn.proj.bias        (D)
  const float* norm2_weight = nullptr;  // norm2.weight          (D)
  const float* norm2_bias = nullptr;    // norm2.bias            (D)
  const float* fc1_weight = nullptr;    // mlp.fc1.weight        (M, D)
  const float* fc1_bias = nullptr;      // mlp.fc1.bias          (M)
  const float* fc2_weight = nullptr;    // mlp.fc2.weight        (D, M)
  const float* fc2_bias = nullptr;      // mlp.fc2.bias          (D)
};

// Views of a whole model. Nothing is copied: the arrays may live in flash.
struct convit_weights {
  convit_config config{};
  const float* patch_weight = nullptr;  // patch_embed.proj.weight  (D, C, p, p)
  const float* patch_bias = nullptr;    // patch_embed.proj.bias    (D)
  const float* pos_embed = nullptr;     // pos_embed                (1, N, D), unused (may be
                                        // null) when !config.use_pos_embed
  const float* cls_token = nullptr;  // cls_token                (1, 1, D), unused when L == depth
  std::span<const convit_block_weights> blocks;  // config.depth blocks
  const float* norm_weight = nullptr;            // norm.weight              (D)
  const float* norm_bias = nullptr;              // norm.bias                (D)
  const float* head_weight = nullptr;            // head.weight              (classes, D)
  const float* head_bias = nullptr;              // head.bias                (classes)
  // Optional: every linear weight of the model (patch embedding, qk / v / qkv, proj, fc1, fc2,
  // head) pre-packed once by convit_pack or convit_pack_linear (convit_packed_size floats,
  // 64-byte aligned for best speed). The forward then reads these instead of packing the weights
  // on every call (the outputs are the same bits either way) and never reads the plain linear
  // weights, which may then be null: the weights are held once (gpsa::convit does so). Null:
  // pack on the fly. It must be what the packing wrote for these very weights.
  const float* packed = nullptr;
};

// validate(config), then: blocks.size() == depth (shape_mismatch) and every required pointer set
// (invalid_argument; the plain linear weights only when `packed` is null): a GPSA block's
// pos_proj.weight and gating_param only for convit_fold (which checks them), since the forward
// reads the folded view, which validate_folded checks.
status validate(const convit_weights& w) noexcept;

// ok when every GPSA block's `folded` view is set (invalid_argument for one without factors), for
// the config's grid and head count (shape_mismatch) and valid (validate(folded_view)). What
// convit_forward and convit_positional_nonlocality check after validate(w).
status validate_folded(const convit_weights& w) noexcept;

// ---------------------------------------------------------------------------------------------
// Pre-packed weights (optional; about the size of the linear weights themselves)
// ---------------------------------------------------------------------------------------------

// Floats of convit_pack's output for this configuration: each linear weight (out, in) as in x out
// (out rounded up to whole 48-column panels in a SIMD build): 23.0 MB for ConViT-Ti.
status convit_packed_size(const convit_config& c, std::size_t& floats) noexcept;

// Packs every linear weight of w into `packed` (at least convit_packed_size floats); set
// w.packed = packed.data() afterwards. Once per model. validate(w) errors (every plain linear
// weight must be set), buffer_too_small.
status convit_pack(const convit_weights& w, std::span<float> packed) noexcept;

// One linear weight of a ConViT, in the order convit_pack packs them.
enum class convit_linear : unsigned char {
  patch_embed,  // patch_embed.proj.weight (D, C*p*p); `block` must be 0
  qk,           // blocks.{block}.attn.qk.weight (2D, D), GPSA blocks
  v,            // blocks.{block}.attn.v.weight (D, D), GPSA blocks
  qkv,          // blocks.{block}.attn.qkv.weight (3D, D), MHSA blocks
  proj,         // blocks.{block}.attn.proj.weight (D, D)
  fc1,          // blocks.{block}.mlp.fc1.weight (M, D)
  fc2,          // blocks.{block}.mlp.fc2.weight (D, M)
  head,         // head.weight (classes, D); `block` must be 0
};

// Packs one linear weight (PyTorch's (out, in) layout) into its place in `packed` (at least
// convit_packed_size floats): convit_pack is this for every weight. A loader can pack
// each weight as it comes and release its plain copy, so that the model's linear weights are
// held once (what gpsa::convit does). validate(c) errors; invalid_argument for a null weight, a
// block >= depth, or a weight the block does not have (qk / v of an MHSA block, qkv of a GPSA
// one, a non-zero block for patch_embed / head); buffer_too_small.
status convit_pack_linear(const convit_config& c, convit_linear which, std::size_t block,
                          const float* weight, std::span<float> packed) noexcept;

// ---------------------------------------------------------------------------------------------
// Folded positional state (input-independent: once per model; the grid is fixed by the config)
// ---------------------------------------------------------------------------------------------

// Floats of the folded state: local_up_to_layer * (H*(R^2 + C^2) + H), R = C = S / p.
status convit_folded_size(const convit_config& c, std::size_t& floats) noexcept;

// Folds every GPSA block's positional branch (gpsa::layer_fold) into `folded` (at least
// convit_folded_size floats; buffer_too_small) and points each GPSA block's `folded` view at its
// factors: per GPSA block i, in order, fx (H, C, C), gy (H, R, R), lambda (H). `blocks` are the
// model's blocks (depth of them, shape_mismatch otherwise; MHSA blocks are left alone); the views
// stay valid while `folded` lives. validate(c); invalid_argument when a GPSA block lacks
// pos_proj.weight or gating_param or a value is NaN or Inf.
status convit_fold(const convit_config& c, std::span<convit_block_weights> blocks,
                   std::span<float> folded) noexcept;

// ---------------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------------

// Scratch floats of convit_forward for `batch` images and an executor of `workers` workers
// (workers_of(ex); 0 is invalid_argument). About B*T*2D for the token stream and its normed copy,
// then B*T*3D for the attention's q, k, v rows followed by its work (layer_scratch_size's
// per-worker part), and a row block of the MLP (at most 256 rows of M) or of patches per worker
// (with one worker that block reuses the q, k, v rows: the largest of the two counts).
status convit_scratch_size(const convit_config& c, std::size_t batch, std::size_t workers,
                           std::size_t& floats) noexcept;

// logits (B, classes) and, when `features` is not empty, features (B, T, D) after the final norm
// of `batch` images (B, C, S, S). images and logits must hold exactly B*C*S*S and B*classes
// floats, features none or exactly B*T*D (shape_mismatch). Every GPSA block's `folded` view must
// be set (convit_fold) for this grid and head count (invalid_argument / shape_mismatch). ex:
// null runs serially; otherwise the forward runs as task sets over its workers, two per block:
// the token rows split evenly (the embedding; proj, norm2 and the MLP of a block with norm1 and
// the q, k, v of the next; the final norm), and the attention's query rows of all (item, head)
// pairs split evenly. Results are bit-identical for any worker count (size the scratch with
// workers_of(ex); call from outside the executor's tasks).
// Errors: validate(w), validate(ex); buffer_too_small (scratch short); size_overflow. batch == 0
// is a no-op. Outputs must not overlap the inputs, the weights or the scratch.
status convit_forward(const convit_weights& w, std::size_t batch, std::span<const float> images,
                      std::span<float> logits, std::span<float> features, std::span<float> scratch,
                      const executor* ex = nullptr) noexcept;

// ---------------------------------------------------------------------------------------------
// Plans: how the forward spends its scratch
// ---------------------------------------------------------------------------------------------

// fast: the whole batch's tokens at once, all heads' q, k, v together, pre-packed weights when
//   given, work cut over the executor's workers (the functions above).
// low_memory: one image at a time and one head at a time, every buffer reused by every block:
//   about 2 T D + 2 T d floats plus a few 16-row blocks, whatever the batch (the digits model of
//   docs/firmware.md: 52 KB; ConViT-Ti: 0.4 MB instead of 0.9 MB at B = 1). What firmware runs.
//   Plain weights only (w.packed is not read; invalid_argument when a linear weight is null, as in
//   a gpsa::convit loaded without keep_plain_weights); the linear layers still use the executor.
//   Its logits equal the fast plan's to float rounding (same GEMM, norms in row blocks), not bit
//   for bit; they are the same bits for any worker count.
enum class convit_plan : unsigned char { fast = 0, low_memory = 1 };

// convit_scratch_size / convit_forward with a plan (convit_plan::fast is the functions above).
// invalid_argument for a plan that is neither.
status convit_scratch_size(const convit_config& c, convit_plan plan, std::size_t batch,
                           std::size_t workers, std::size_t& floats) noexcept;
status convit_forward(const convit_weights& w, convit_plan plan, std::size_t batch,
                      std::span<const float> images, std::span<float> logits,
                      std::span<float> features, std::span<float> scratch,
                      const executor* ex = nullptr) noexcept;

// ---------------------------------------------------------------------------------------------
// Looking inside the forward (analysis: what each GPSA block attends to)
// ---------------------------------------------------------------------------------------------

// A hook convit_forward_probed calls once per GPSA block i (i < local_up_to_layer), just before
// the block's attention runs, with that attention's input normed = norm1_i(x): (B, N, D) floats,
// read-only, valid during the call only. A status other than ok stops the forward and is
// returned by it. The hook runs on the calling thread (it may use the executor itself).
struct convit_probe {
  void* context = nullptr;
  status (*gpsa_block_input)(void* context, std::size_t block, std::size_t batch,
                             std::span<const float> normed) noexcept = nullptr;
};

// convit_forward with `probe` called as described above; outputs and errors as convit_forward.
// Without a hook function it is convit_forward. The normal forward never checks for a probe.
status convit_forward_probed(const convit_weights& w, const convit_probe& probe, std::size_t batch,
                             std::span<const float> images, std::span<float> logits,
                             std::span<float> features, std::span<float> scratch,
                             const executor* ex = nullptr) noexcept;

// Nonlocality ("mean attention distance", ConViT section 4, timm's GPSA.get_attention_map) of
// every GPSA block's full gated attention in the forward of `batch` images: distances
// (local_up_to_layer, H) floats, block i head h = (1/N) sum_p sum_q sqrt(dx^2 + dy^2) attn[h,p,q]
// averaged over the batch, in patches, attn = layer_attention of norm1_i(x) (the attention the
// block uses). Scratch: convit_nonlocality_scratch_size floats (the forward's, the logits, one
// block's (B, H, N, N) attention and the layer kernel's scratch). ex as in convit_forward.
// Errors as convit_forward; buffer_too_small when `distances` is short; batch 0: no-op.
status convit_nonlocality_scratch_size(const convit_config& c, std::size_t batch,
                                       std::size_t workers, std::size_t& floats) noexcept;
status convit_nonlocality(const convit_weights& w, std::size_t batch, std::span<const float> images,
                          std::span<float> distances, std::span<float> scratch,
                          const executor* ex = nullptr) noexcept;

// The same measure for the positional attention alone, softmax(P_h) of each GPSA block (input
// independent; what the block attends to when its gate lambda is 1): distances
// (local_up_to_layer, H), gpsa::positional_nonlocality of each GPSA block's folded view.
status convit_positional_nonlocality(const convit_weights& w, std::span<float> distances) noexcept;

}  // namespace gpsa
