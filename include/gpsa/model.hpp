// SPDX-License-Identifier: MIT
// gpsa::convit: a whole timm ConViT that owns its weights, loads a safetensors checkpoint,
// infers its configuration and classifies images (allocates, throws).
//
// Part of gpsa::runtime; the forward is the core's gpsa::convit_forward (gpsa/convit.hpp).
//
//   auto m = gpsa::convit::load("convit_tiny.safetensors");   // timm state_dict keys
//   const std::size_t S = m.config().image_size;               // 224
//   std::vector<float> x(B * 3 * S * S);                       // preprocessed images (B, 3, S, S)
//   std::vector<float> features;                               // optional (B, N+1, D)
//   std::vector<float> logits = m.forward(x, B, &features);    // (B, classes)
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "gpsa/attention.hpp"
#include "gpsa/checkpoint.hpp"
#include "gpsa/convit.hpp"

namespace gpsa {

namespace io {
struct safetensors_file;
}

// Every failure of gpsa::convit's own checks: input of the wrong size, a bad executor. what() is
// one line naming the value. An incomplete or inconsistent checkpoint (missing key, wrong shape,
// heads / widths / qkv bias that disagree between blocks, non-square patch count, unexpected
// key) is gpsa::checkpoint_error (gpsa/checkpoint.hpp), naming the file and the key;
// file-format problems are gpsa::io::io_error, thrown by the reader.
struct model_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class convit {
 public:
  // Reads the checkpoint (io_error on a bad file), infers the configuration from its keys and
  // shapes (checkpoint_error on a bad checkpoint), folds the GPSA blocks' positional branch and
  // packs the linear weights for the GEMM, each tensor released once packed (peak memory: about
  // the weights plus one tensor).
  // F32, F16, BF16 and F64 tensors load; the model computes in float32.
  static convit load(const std::filesystem::path& weights);
  // From a checkpoint already read: takes its tensors (no copy) / copies them.
  explicit convit(io::safetensors_file&& file);
  explicit convit(const io::safetensors_file& file);

  convit(convit&&) noexcept;
  convit& operator=(convit&&) noexcept;
  convit(const convit&) = delete;
  convit& operator=(const convit&) = delete;
  ~convit();

  // What the checkpoint implies: image and patch size, D, H, depth, local_up_to_layer, MLP
  // width, classes (and qkv_bias()).
  const convit_config& config() const noexcept;
  bool qkv_bias() const noexcept;
  std::size_t parameter_count() const noexcept;  // floats of weights held
  // The core view of the weights (valid while this object lives) and the folded state. The
  // linear weights are held once, packed (weights().packed); their plain pointers are null.
  const convit_weights& weights() const noexcept;
  std::span<const float> folded() const noexcept;

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

  // Splits the attention over (item, head) through `ex` (e.g. a gpsa::thread_pool_executor's
  // get()); null (the default) runs serially. Results are bit-identical either way. The
  // executor must outlive its use; model_error when ex->workers == 0 or parallel_for is null.
  void set_executor(const executor* ex);
  const executor* get_executor() const noexcept;

 private:
  struct state;
  static std::unique_ptr<state> build(const io::safetensors_file& file, io::safetensors_file* take);
  std::unique_ptr<state> s_;
};

}  // namespace gpsa
