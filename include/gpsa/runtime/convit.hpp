// SPDX-License-Identifier: MIT
// gpsa::convit: a whole timm ConViT that owns its weights, loads a safetensors checkpoint,
// infers its configuration and classifies images (allocates, throws).
//
// Part of gpsa::runtime; the forward is the core's gpsa::convit_forward (gpsa/core/convit.hpp).
//
//   auto m = gpsa::convit::load("convit_tiny.safetensors");   // timm state_dict keys
//   const std::size_t S = m.config().image_size;               // 224
//   std::vector<float> x(B * 3 * S * S);                       // preprocessed images (B, 3, S, S)
//   std::vector<float> features;                               // optional (B, N+1, D)
//   std::vector<float> logits = m.forward(x, B, &features);    // (B, classes)
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "gpsa/core/convit.hpp"
#include "gpsa/core/layer.hpp"
#include "gpsa/runtime/checkpoint.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace gpsa {

namespace io {
struct safetensors_file;
}

// Limits of the models gpsa::convit loads (docs/reliability.md), checked from the checkpoint's
// shapes as soon as they are known, before anything is folded, packed or computed (a few-MB
// file must not buy gigabytes or hours): checkpoint_error naming the file and the numbers.
// - Patches N = (S/p)^2 of the image grid: at most max_convit_patches (a 64x64 grid; timm's
//   ConViTs have 196 at 224 px, 576 at 384 px). The attention is O(N^2) per block.
// - Work of one image's forward, counted as N^2 (2D + 8H) per block (attention products, the
//   softmax's exp as 8) plus N (4D^2 + 2DM) per block (the linear layers) plus the patch
//   embedding and the head: at most max_convit_image_work = 2^38 (ConViT-B at 384 px: 5.6e10).
//   With N <= 4096 this also bounds the folded positional state, L H (2 (S/p)^2 + 1) floats.
inline constexpr std::size_t max_convit_patches = 4096;
inline constexpr std::uint64_t max_convit_image_work = std::uint64_t{1} << 38;

// Every failure of gpsa::convit's own checks: input of the wrong size, a bad executor. what() is
// one line naming the value. An incomplete or inconsistent checkpoint (missing key, wrong shape,
// heads / widths / qkv bias that disagree between blocks, non-square patch count, unexpected
// key) is gpsa::checkpoint_error (gpsa/runtime/checkpoint.hpp), naming the file and the key;
// file-format problems are gpsa::io::io_error, thrown by the reader.
struct model_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "token" / "avg" (timm's global_pool values gpsa computes) and back; nullopt for another name.
std::optional<convit_pool> convit_pool_from(std::string_view name) noexcept;
const char* convit_pool_name(convit_pool pool) noexcept;

// What a checkpoint's tensors cannot say (timm's constructor arguments), given by the caller.
// Each must agree with the checkpoint's safetensors metadata when that has the entry
// (checkpoint_error otherwise), as tools/pth_to_safetensors.py --global-pool / --img-size write it.
struct convit_options {
  // timm's img_size (metadata "img_size"). Needed for a model without pos_embed
  // (use_pos_embed=False); with pos_embed, floor(S / p)^2 must be its N, so it also admits sizes
  // that are not a multiple of the patch (timm's convolution ignores the last S % p pixels).
  // Default: sqrt(N) * p from pos_embed.
  std::optional<std::size_t> image_size;
  // timm's global_pool (metadata "global_pool"): token (the default, timm's) or avg.
  std::optional<convit_pool> pool;
  // Also keep every linear weight as read, so that weights() has its plain pointers set (for
  // what needs the checkpoint's own layout: gpsa export, the low-memory plan). Off by default:
  // the forward reads the packed copy only, and the model holds its weights once.
  bool keep_plain_weights = false;
};

// Where a setting the tensors cannot show came from.
enum class convit_setting { default_value, metadata, option };

class convit {
 public:
  // Reads the checkpoint (io_error on a bad file, naming a PyTorch .pth for what it is),
  // infers the configuration from its keys, shapes, metadata and `options` (checkpoint_error on
  // a bad checkpoint), folds the GPSA blocks' positional branch and packs the linear weights for
  // the GEMM, each tensor released once packed (peak memory: about the weights plus one tensor).
  // F32, F16, BF16 and F64 tensors load; the model computes in float32.
  static convit load(const std::filesystem::path& weights, const convit_options& options = {});
  // From a checkpoint already read: takes its tensors (no copy) / copies them.
  explicit convit(io::safetensors_file&& file, const convit_options& options = {});
  explicit convit(const io::safetensors_file& file, const convit_options& options = {});

  convit(convit&&) noexcept;
  convit& operator=(convit&&) noexcept;
  convit(const convit&) = delete;
  convit& operator=(const convit&) = delete;
  ~convit();

  // What the checkpoint implies: image and patch size, D, H, depth, local_up_to_layer, MLP
  // width, classes (and qkv_bias()).
  const convit_config& config() const noexcept;
  bool qkv_bias() const noexcept;
  // Where config().pool and config().image_size came from (default: timm's token pool, or the
  // image size pos_embed implies).
  convit_setting pool_source() const noexcept;
  convit_setting image_size_source() const noexcept;
  std::size_t parameter_count() const noexcept;  // floats of weights held
  // The core view of the weights, every GPSA block's `folded` view set (valid while this object
  // lives): what convit_forward and the other core functions of gpsa/core/convit.hpp take. The
  // linear weights are held once, packed (weights().packed); their plain pointers are null
  // unless options.keep_plain_weights.
  const convit_weights& weights() const noexcept;
  // The folded positional state as convit_fold wrote it (per GPSA block: fx, gy, lambda; the
  // blocks' `folded` views point into it): the flat buffer gpsa_convit_forward and gpsa export's
  // C descriptor take.
  std::span<const float> folded_state() const noexcept;

  // How long loading took (steady clock, seconds): reading the checkpoint (load() only; 0 for a
  // checkpoint read by the caller), folding the positional branch, packing the linear weights.
  struct load_times {
    double read = 0, fold = 0, pack = 0;
  };
  const load_times& loading() const noexcept;

  // B of an input tensor of shape (B, C, S, S) for this model; model_error naming `what`
  // (e.g. "x.npy") and the expected shape otherwise.
  std::size_t batch_of(std::span<const std::size_t> shape, std::string_view what) const;

  // logits (B, classes) and, when `features` is given, (B, T, D) after the final norm
  // (T = N + 1: the class token first). images: (B, C, S, S) row-major. model_error when a
  // size does not fit B and the configuration.
  std::vector<float> forward(std::span<const float> images, std::size_t batch,
                             std::vector<float>* features = nullptr) const;
  void forward(std::span<const float> images, std::size_t batch, std::span<float> logits,
               std::span<float> features = {}) const;

  // Splits the forward (token rows, each block's attention, the head) over `ex`'s workers (e.g.
  // a gpsa::thread_pool_executor's get()); null (the default) runs serially. Results are
  // bit-identical either way. The executor must outlive its use; model_error when ex->workers == 0
  // or parallel_for is null.
  void set_executor(const executor* ex);
  const executor* get_executor() const noexcept;

 private:
  struct state;
  static std::unique_ptr<state> build(const io::safetensors_file& file, io::safetensors_file* take,
                                      const convit_options& options);
  std::unique_ptr<state> s_;
};

}  // namespace gpsa
