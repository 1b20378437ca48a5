// SPDX-License-Identifier: MIT
// gpsa::layer: a GPSA layer that owns its weights, loads timm checkpoints, validates shapes and
// runs forward (allocates, throws).
//
// Part of gpsa::runtime. The heavy lifting is done by the no-heap kernels of gpsa/core/layer.hpp;
// this class adds ownership, checkpoint loading (gpsa/runtime/checkpoint_schema.hpp), shape checks
// with readable errors and a cached folded positional branch (gpsa/runtime/folded_state.hpp).
//
//   auto l = gpsa::layer::load("weights.safetensors");          // prefix "blocks.0.attn"
//   l.set_grid({14, 14});   // optional: fixes N, folds the positional branch once
//   std::vector<float> attn, dist;
//   std::vector<float> y = l.forward(x, batch, &attn, &dist);    // x: (B, N, D) row-major
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "gpsa/core/fold.hpp"
#include "gpsa/core/layer.hpp"
#include "gpsa/grid.hpp"
#include "gpsa/runtime/checkpoint_schema.hpp"
#include "gpsa/runtime/folded_state.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace gpsa {

// Every failure of gpsa::layer's own checks (bad parameter sizes, wrong input size, grid
// mismatch). what() is one line naming the value. A checkpoint that does not fit the GPSA
// schema is gpsa::checkpoint_error; file-format problems are gpsa::io::io_error.
struct layer_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class layer {
 public:
  static constexpr std::string_view default_prefix = gpsa_default_prefix;

  // From a loaded checkpoint through gpsa::read_gpsa_layer (checkpoint_error for a missing key
  // or a wrong shape; io_error for a tensor of an unsupported dtype).
  explicit layer(const io::safetensors_file& file, std::string_view prefix = default_prefix,
                 std::optional<gpsa::grid> g = std::nullopt);
  // Reads the safetensors file first (io_error on a bad file).
  static layer load(const std::filesystem::path& weights, std::string_view prefix = default_prefix,
                    std::optional<gpsa::grid> g = std::nullopt);
  // From raw arrays: sizes are checked against heads / dim (layer_error naming the array).
  explicit layer(layer_params params, std::optional<gpsa::grid> g = std::nullopt);

  std::size_t heads() const noexcept { return p_.heads; }
  std::size_t dim() const noexcept { return p_.dim; }
  std::size_t head_dim() const noexcept { return p_.dim / p_.heads; }
  bool has_qkv_bias() const noexcept { return !p_.qk_bias.empty() || !p_.v_bias.empty(); }
  const layer_params& params() const noexcept { return p_; }
  // Non-owning view of the linear weights for the core kernels; valid while this layer lives.
  // Its `packed` member points at the qk / v / proj weights packed once on construction
  // (layer_pack), shared by copies of this layer.
  layer_weights weights() const noexcept;

  // Fixes the patch grid and folds the positional branch once (H*(R^2+C^2) + H floats), so a
  // forward pays nothing for it. NaN/Inf in pos_proj or gating_param are folded with
  // nonfinite_policy::propagate: they reach the attention as in PyTorch (docs/reliability.md).
  // layer_error, naming the bytes, when the factors would exceed io::max_work_bytes (4 GiB; e.g.
  // grid 1x1048576), never std::bad_alloc.
  void set_grid(gpsa::grid g);
  std::optional<gpsa::grid> patch_grid() const noexcept { return grid_; }
  // The folded positional branch of the fixed grid (an empty view without one).
  folded_view folded() const noexcept { return fold_.view(); }
  // The (H, N, N) positional attention softmax(P) of the fixed grid, expanded from the fold
  // (empty without a grid).
  std::vector<float> position() const { return fold_.expand(); }

  // The grid forward uses for N patches: the fixed grid (N must match) or, without one, the
  // square grid of N (N must be a perfect square). Throws layer_error otherwise.
  gpsa::grid grid_for(std::size_t patches) const;

  // y (B, N, D) = GPSA.forward(x) for x (B, N, D) row-major; N = x.size() / (B * D).
  // attn, when non-null, receives (B, H, N, N); dist, when non-null, the nonlocality (H).
  // With neither, the fused path runs (no N x N attention stored; see layer_forward).
  // Without a fixed grid the positional branch is folded for this call.
  // Throws layer_error when x's size does not fit B, D or the grid (B*D overflowing size_t
  // included), or when y, attn and the scratch together would exceed io::max_work_bytes (4 GiB;
  // the message names the bytes), never std::bad_alloc.
  std::vector<float> forward(std::span<const float> x, std::size_t batch,
                             std::vector<float>* attn = nullptr,
                             std::vector<float>* dist = nullptr) const;
  // attn (B, H, N, N) only (GPSA.get_attention).
  std::vector<float> attention(std::span<const float> x, std::size_t batch) const;

  // Splits forward / attention over batch x heads through `ex` (e.g. a
  // gpsa::thread_pool_executor's get(), gpsa/runtime/thread_pool_executor.hpp, or the host engine's
  // pool); null (the default) runs serially. Results are bit-identical either way. The executor
  // must outlive its use here; throws layer_error when ex->workers == 0 or ex->parallel_for is
  // null.
  void set_executor(const executor* ex);
  const executor* get_executor() const noexcept { return exec_; }

 private:
  layer_params p_;
  std::optional<gpsa::grid> grid_;
  folded_state fold_;                            // of grid_ (empty without a grid)
  const executor* exec_ = nullptr;               // null: serial
  std::shared_ptr<const float[]> packed_store_;  // layer_pack' output (immutable)
  const float* packed_ = nullptr;                // its 64-byte aligned start

  void pack();

  folded_state fold_for(gpsa::grid g) const;
  std::size_t patches_of(std::span<const float> x, std::size_t batch) const;
  std::vector<float> scratch_for(gpsa::grid g, std::size_t batch, bool with_attn) const;
};

}  // namespace gpsa
