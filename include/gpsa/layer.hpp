// gpsa::layer: a GPSA layer that owns its weights, loads timm checkpoints, validates shapes and
// runs forward (allocates, throws).
//
// Part of gpsa::runtime. The heavy lifting is done by the no-heap kernels of gpsa/attention.hpp;
// this class adds ownership, shape checks with readable errors and a cached positional branch.
//
//   auto l = gpsa::layer::load("weights.safetensors");          // prefix "blocks.0.attn"
//   l.set_grid({14, 14});   // optional: fixes N, folds the positional branch once
//   std::vector<float> attn, dist;
//   std::vector<float> y = l.forward(x, batch, &attn, &dist);    // x: (B, N, D) row-major
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gpsa/attention.hpp"
#include "gpsa/fold.hpp"
#include "gpsa/grid.hpp"

namespace gpsa {

namespace io {
struct safetensors_file;
}

// Every validation failure of gpsa::layer (bad shapes, missing keys, wrong input size, grid
// mismatch). what() is one line naming the file / key / value. File-format problems are
// gpsa::io::io_error, thrown by the readers.
struct layer_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// How the layer's cached positional branch was made.
enum class table_source {
  none,          // no grid fixed yet (forward folds the branch per call)
  baked,         // dense softmax(P) from a compile-time table of the registry (gpsa/registry.hpp)
  runtime_fill,  // dense softmax(P) from a table filled at run time (gpsa::fill_rel_indices)
  folded,        // separable factors (gpsa/fold.hpp): no table at all; the normal case
};
const char* to_string(table_source s) noexcept;

// Owned parameters of one GPSA layer, timm layout (nn.Linear weight is (out, in)), flat
// row-major. qk_bias / v_bias are empty when the model has no qkv bias.
struct layer_params {
  std::size_t heads = 0;               // H
  std::size_t dim = 0;                 // D, divisible by H
  std::vector<float> qk_weight;        // (2D, D)
  std::vector<float> qk_bias;          // (2D) or empty
  std::vector<float> v_weight;         // (D, D)
  std::vector<float> v_bias;           // (D) or empty
  std::vector<float> proj_weight;      // (D, D)
  std::vector<float> proj_bias;        // (D)
  std::vector<float> pos_proj_weight;  // (H, 3)
  std::vector<float> pos_proj_bias;    // (H)
  std::vector<float> gating_param;     // (H)
};

class layer {
 public:
  static constexpr std::string_view default_prefix = "blocks.0.attn";

  // Key suffixes looked up under "<prefix>." (the last two are optional: qkv_bias=True).
  static constexpr std::string_view required_keys[] = {
      "qk.weight",       "v.weight",      "proj.weight", "proj.bias",
      "pos_proj.weight", "pos_proj.bias", "gating_param"};
  static constexpr std::string_view optional_keys[] = {"qk.bias", "v.bias"};

  // From a loaded checkpoint: H from <prefix>.pos_proj.weight, D from <prefix>.qk.weight.
  // Throws layer_error for a missing key (listing the expected keys and the GPSA prefixes the
  // file does have) or a wrong shape ("blocks.0.attn.pos_proj.weight has shape (4,2), expected
  // (H,3)"); io_error for a tensor of an unsupported dtype.
  explicit layer(const io::safetensors_file& file, std::string_view prefix = default_prefix,
                 std::optional<gpsa::grid> g = std::nullopt);
  // Reads the safetensors file first (io_error on a bad file).
  static layer load(const std::filesystem::path& weights, std::string_view prefix = default_prefix,
                    std::optional<gpsa::grid> g = std::nullopt);
  // From raw arrays: sizes are checked against heads / dim (layer_error naming the array).
  explicit layer(layer_params params, std::optional<gpsa::grid> g = std::nullopt);
  // Copies a kernel-level view (heads, dim and non-null pointers are checked; the arrays must
  // have the documented sizes).
  explicit layer(const gpsa_weights& w, std::optional<gpsa::grid> g = std::nullopt);

  std::size_t heads() const noexcept { return p_.heads; }
  std::size_t dim() const noexcept { return p_.dim; }
  std::size_t head_dim() const noexcept { return p_.dim / p_.heads; }
  bool has_qkv_bias() const noexcept { return !p_.qk_bias.empty() || !p_.v_bias.empty(); }
  const layer_params& params() const noexcept { return p_; }
  // Non-owning view for the core kernels; valid while this layer lives and is not modified.
  gpsa_weights weights() const noexcept;

  // Fixes the patch grid and caches its positional branch: folded into the separable factors
  // (H*(R^2+C^2) + H floats; table_path() == folded), so a forward pays nothing for it. When
  // pos_proj / gating hold NaN/Inf (which the fold refuses), the dense softmax(P) is cached
  // instead (baked or runtime-filled table), so the NaN propagates as in PyTorch.
  void set_grid(gpsa::grid g);
  std::optional<gpsa::grid> patch_grid() const noexcept { return grid_; }
  table_source table_path() const noexcept { return source_; }
  // The cached folded factors (null pointers unless table_path() == folded).
  folded_view folded() const noexcept;
  // The (H, N, N) positional attention softmax(P) of the fixed grid, expanded from the cache
  // (empty without a grid).
  std::vector<float> position() const;

  // The grid forward uses for N patches: the fixed grid (N must match) or, without one, the
  // square grid of N (N must be a perfect square). Throws layer_error otherwise.
  gpsa::grid grid_for(std::size_t patches) const;

  // y (B, N, D) = GPSA.forward(x) for x (B, N, D) row-major; N = x.size() / (B * D).
  // attn, when non-null, receives (B, H, N, N); dist, when non-null, the nonlocality (H).
  // With neither, the fused path runs (no N x N attention stored; see gpsa_forward).
  // Throws layer_error when x's size does not fit B, D or the grid.
  std::vector<float> forward(std::span<const float> x, std::size_t batch,
                             std::vector<float>* attn = nullptr,
                             std::vector<float>* dist = nullptr) const;
  // attn (B, H, N, N) only (GPSA.get_attention).
  std::vector<float> attention(std::span<const float> x, std::size_t batch) const;

  // Splits forward / attention over batch x heads through `ex` (e.g. a
  // gpsa::thread_pool_executor's get(), gpsa/executor.hpp, or the host engine's pool); null (the
  // default) runs serially. Results are bit-identical either way. The executor must outlive its
  // use here; throws layer_error when ex->workers == 0 or ex->parallel_for is null.
  void set_executor(const executor* ex);
  const executor* get_executor() const noexcept { return exec_; }

 private:
  layer_params p_;
  std::optional<gpsa::grid> grid_;
  table_source source_ = table_source::none;
  std::vector<float> fx_, gy_, lambda_;  // folded factors (source_ == folded)
  std::vector<float> position_;          // dense softmax(P) (source_ == baked / runtime_fill)
  const executor* exec_ = nullptr;       // null: serial

  // The positional branch of g: folds into fx/gy/lam, or (non-finite weights) fills `dense`.
  table_source make_branch(gpsa::grid g, std::vector<float>& fx, std::vector<float>& gy,
                           std::vector<float>& lam, std::vector<float>& dense) const;
  // The cached branch for g, or one made for this call into `local`.
  pos_branch branch_for(gpsa::grid g, std::vector<float> (&local)[4]) const;

  std::size_t patches_of(std::span<const float> x, std::size_t batch) const;
};

// The positional attention softmax(P) (H, N, N) of grid g for pos_proj weight (H,3) / bias (H),
// through the registry's baked table when g is baked, else a runtime-filled table; `used` tells
// which. Throws layer_error for an empty grid or bad sizes.
std::vector<float> positional_attention(gpsa::grid g, std::size_t heads,
                                        std::span<const float> pos_proj_weight,
                                        std::span<const float> pos_proj_bias, table_source* used);

}  // namespace gpsa
