// SPDX-License-Identifier: MIT
// The timm ConViT checkpoint schema, once: every tensor of the model, of a block and of a GPSA
// layer (key, symbolic shape, presence, the member it fills), the one shape check, the one
// NaN/Inf check and the GPSA layer reader. Part of gpsa::runtime (allocates, throws).
//
//   gpsa::shape_symbols s;
//   gpsa::checkpoint_view blk(file, "blocks.3");
//   gpsa::check_tensor(blk, "mlp.fc1.weight", {"M", "D"}, s);  // binds M and D
//   gpsa::check_tensor(blk, "mlp.fc2.weight", {"D", "M"}, s);
//   // throws checkpoint_error "m.safetensors: blocks.3.mlp.fc2.weight has shape (8,4),
//   //   expected (D,M) = (4,16) (D = 4 from blocks.3.mlp.fc1.weight, M = 16 from ...)"
#pragma once

#include <array>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gpsa/core/convit.hpp"
#include "gpsa/runtime/checkpoint.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace gpsa {

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

// The positional part of a GPSA layer: what the fold reads.
struct positional_params {
  std::size_t heads = 0;               // H
  std::vector<float> pos_proj_weight;  // (H, 3)
  std::vector<float> pos_proj_bias;    // (H)
  std::vector<float> gating_param;     // (H)
};

// ---- the table ------------------------------------------------------------------------------

// When a tensor must be in the checkpoint.
enum class tensor_presence : unsigned char {
  required,
  qkv_bias,  // timm's qkv_bias: in every block of the model or in none (a layer: optional)
  optional,  // pos_embed (absent when timm's use_pos_embed=False)
};

// Which blocks have a block tensor.
enum class block_kind : unsigned char { every, gpsa, mhsa };

// One tensor of a timm ConViT. `key` is under the model (model tensors) or under "blocks.{i}"
// (block tensors; a GPSA layer's are those under "attn.", see layer_key). `shape` is symbolic:
// each extent a number ("3"), a symbol ("D", "H", "M", "N", "classes", "C", "p") or a multiple
// ("2D"); the first tensor that shows a symbol gives its value (shape_symbols).
struct tensor_spec {
  std::string_view key;
  std::array<std::string_view, 4> shape{};  // "" after the last extent
  tensor_presence presence = tensor_presence::required;
  block_kind kind = block_kind::every;
  const float* convit_weights::*model_field = nullptr;        // model tensors
  const float* convit_block_weights::*block_field = nullptr;  // block tensors
  std::vector<float> layer_params::*layer_field = nullptr;    // GPSA layer tensors
  bool linear = false;      // an nn.Linear weight: gpsa::convit holds it packed as `which`
  convit_linear which{};    //
  bool positional = false;  // read by the fold (positional_params)
  std::string_view note{};  // said after a shape mismatch ("a square Conv2d kernel")
  std::string_view member;  // the field's name ("qk_weight"), also in gpsa.h's structs

  // The symbolic shape, e.g. {"2D", "D"}.
  std::span<const std::string_view> dims() const noexcept;
  // The key under a GPSA layer's prefix ("qk.weight" for "attn.qk.weight"); empty when the
  // tensor is not part of a GPSA layer.
  std::string_view layer_key() const noexcept;
};

// The model's own tensors (patch embedding, positional embedding, class token, final norm,
// head), in the order gpsa::convit's loader checks them.
std::span<const tensor_spec> convit_model_tensors() noexcept;
// Every block's tensors, in convit_block_weights' member order (kind says GPSA or MHSA).
std::span<const tensor_spec> convit_block_tensors() noexcept;
// The block tensor with this key (under "blocks.{i}"), or null.
const tensor_spec* find_block_tensor(std::string_view key) noexcept;

// A GPSA layer's prefix inside a block ("blocks.{i}.attn") and the key that marks a GPSA layer
// (its absence means "not a GPSA layer", a wrong prefix).
inline constexpr std::string_view gpsa_layer_in_block = "attn";
inline constexpr std::string_view gpsa_layer_marker = "pos_proj.weight";
inline constexpr std::string_view gpsa_default_prefix = "blocks.0.attn";

// ---- the checks -----------------------------------------------------------------------------

// Values of the shape symbols and the key each came from (for the messages).
class shape_symbols {
 public:
  // The value of `name`, or nothing before a tensor gave it.
  std::optional<std::size_t> find(std::string_view name) const;
  // The value of a symbol that is known (std::out_of_range otherwise).
  std::size_t at(std::string_view name) const;
  // The key `name` came from ("" when unknown).
  const std::string& from(std::string_view name) const;
  void set(std::string_view name, std::size_t value, std::string key);

 private:
  struct entry {
    std::string name;
    std::size_t value = 0;
    std::string from;
  };
  std::vector<entry> entries_;
};

// The one shape check: tensor `name` of `v` against a symbolic shape. Known symbols must match;
// the others take this tensor's extents (all or none: nothing is bound when the shape does not
// fit). Throws checkpoint_error "FILE: KEY has shape (192,95), expected (2D,D) = (192,96)
// (D = 96 from patch_embed.proj.weight)" (known numbers after " = ", where they came from and
// `note` in parentheses), or "FILE: missing key 'KEY'".
const io::tensor& check_tensor(const checkpoint_view& v, std::string_view name,
                               std::span<const std::string_view> shape, shape_symbols& symbols,
                               std::string_view note = {});
const io::tensor& check_tensor(const checkpoint_view& v, std::string_view name,
                               std::initializer_list<std::string_view> shape,
                               shape_symbols& symbols, std::string_view note = {});

// The symbols of a model's configuration (D, C, p, N, H, M, classes).
shape_symbols convit_shape_symbols(const convit_config& c);
// The floats of tensor `t`: the product of its extents (std::length_error on overflow).
std::size_t tensor_floats(const tensor_spec& t, const shape_symbols& s);

// D (symbol "D") divisible by H (symbol "H"); else checkpoint_error "FILE: width D = 36 (from
// KEY) is not divisible by H = 8 heads (from KEY)".
void check_heads_divide_width(const checkpoint_view& v, const shape_symbols& symbols);

// The one NaN/Inf check of checkpoint tensors: `values` of tensor `name` (its shape from the
// file). Throws checkpoint_error "FILE: tensor 'KEY' has NaN at index (1,2)<why>" for the first
// non-finite value (first_nonfinite's position).
void require_finite(const checkpoint_view& v, std::string_view name, std::span<const float> values,
                    std::string_view why);

// require_finite's reason before a fold (NaN/Inf positional weights would make the positional
// softmax NaN): gpsa::convit, fold_checkpoint and the demo refuse them with it.
inline constexpr std::string_view nonfinite_cannot_fold = "; a non-finite weight cannot be folded";

// ---- the GPSA layer (timm's GPSA module) ----------------------------------------------------

// The prefixes of the GPSA layers of a checkpoint (every key "P.pos_proj.weight"; a bare
// "pos_proj.weight" gives ""), in natural order, i.e. by layer index.
std::vector<std::string> gpsa_layer_prefixes(const io::safetensors_file& f);

// One GPSA layer under `prefix`: H from pos_proj.weight (H,3), D from qk.weight (2D,D), every
// other shape checked against them. A missing key's message lists the keys a GPSA layer needs
// and the GPSA prefixes the file has.
layer_params read_gpsa_layer(const io::safetensors_file& f, std::string_view prefix);
// Only the positional tensors (pos_proj.weight, pos_proj.bias, gating_param; same checks and
// messages).
positional_params read_gpsa_positional(const io::safetensors_file& f, std::string_view prefix);

}  // namespace gpsa
