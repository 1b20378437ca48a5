// SPDX-License-Identifier: MIT
// The one reader of timm checkpoints: key joining, natural layer order, tensors with expected
// shapes named in errors, and the GPSA layer schema. Part of gpsa::runtime (allocates, throws).
//
// A whole-model schema builds on checkpoint_view the way the GPSA one below does:
//
//   gpsa::checkpoint_view blk(file, "blocks.3");
//   const gpsa::io::tensor& w = blk.get("mlp.fc1.weight", {{4 * D, "4D"}, {D, "D"}});
//   // throws checkpoint_error "m.safetensors: blocks.3.mlp.fc1.weight has shape (8,4),
//   //                          expected (4D,D) = (16,4)"
#pragma once

#include <cstddef>
#include <initializer_list>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace gpsa {

// A checkpoint that does not fit the schema: a missing key, a wrong shape, a NaN/Inf where it
// cannot be used, inconsistent layers. what() is one line naming the file and the key. (A file
// that cannot be read or parsed, or a tensor of an unsupported dtype, is gpsa::io::io_error.)
struct checkpoint_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Natural order: runs of digits compare by value, so "blocks.2.attn" < "blocks.10.attn".
bool natural_less(std::string_view a, std::string_view b) noexcept;

// "prefix.name", or "name" for an empty prefix.
std::string join_key(std::string_view prefix, std::string_view name);

// One expected extent of a tensor and the symbol messages show for it ("D", "2D", "H").
// dim{432} shows 432; dim{432, "D"} shows D (and the numbers after " = "); dim::named("H")
// accepts any extent >= 1 (the caller reads it from the tensor's shape).
struct dim {
  static constexpr std::size_t any = std::numeric_limits<std::size_t>::max();
  std::size_t size = any;
  std::string_view name{};

  constexpr dim(std::size_t n) noexcept : size(n) {}  // NOLINT: implicit from a number
  constexpr dim(std::size_t n, std::string_view symbol) noexcept : size(n), name(symbol) {}
  static constexpr dim named(std::string_view symbol) noexcept { return {any, symbol}; }
};

// The keys of a checkpoint under one prefix. Non-owning: the file must outlive the view.
class checkpoint_view {
 public:
  explicit checkpoint_view(const io::safetensors_file& file, std::string prefix = {});

  const io::safetensors_file& file() const noexcept { return *file_; }
  const std::string& prefix() const noexcept { return prefix_; }
  // The keys under "prefix.name".
  checkpoint_view sub(std::string_view name) const;
  // The full key of `name`: join_key(prefix(), name).
  std::string key(std::string_view name) const;
  // True when the file has the key (also with a dtype gpsa cannot convert).
  bool has(std::string_view name) const;

  // The tensor `name` with exactly `shape`. Throws checkpoint_error "FILE: KEY has shape (4,2),
  // expected (H,3)" or "FILE: missing key 'KEY'"; io_error for a dtype gpsa cannot convert.
  const io::tensor& get(std::string_view name, std::initializer_list<dim> shape) const;
  // Any shape.
  const io::tensor& get(std::string_view name) const;
  // Null when the key is absent; otherwise as get(name, shape).
  const io::tensor* find(std::string_view name, std::initializer_list<dim> shape) const;

  // The prefixes P (full keys, natural order) of every key "P.suffix" under this view's prefix;
  // a key equal to `suffix` itself gives "". E.g. ".pos_proj.weight" finds the GPSA layers.
  std::vector<std::string> prefixes_of(std::string_view suffix) const;

  // Throws checkpoint_error "FILE: KEY has shape S, expected E[ (note)]", the shape message of
  // get(); `note` says where the symbols came from, e.g. "D = 432 from patch_embed.proj.weight".
  [[noreturn]] void shape_error(std::string_view name, std::span<const std::size_t> actual,
                                std::span<const dim> expected, std::string_view note = {}) const;
  // Throws checkpoint_error "FILE: <what>".
  [[noreturn]] void fail(const std::string& what) const;

 private:
  const io::safetensors_file* file_;
  std::string prefix_;
};

// "NaN at index (2,5)" / "+Inf at index (0,)" for the first non-finite value of `values`, a C-order
// array of `shape`; empty when every value is finite. The one formatter of these messages.
std::string first_nonfinite(std::span<const std::size_t> shape, std::span<const float> values);

// ---- the GPSA layer schema (timm's GPSA module) -------------------------------------------

inline constexpr std::string_view gpsa_default_prefix = "blocks.0.attn";
// Key suffixes under "<prefix>." (the optional ones exist when the model has qkv_bias=True).
inline constexpr std::string_view gpsa_required_keys[] = {
    "qk.weight",       "v.weight",      "proj.weight", "proj.bias",
    "pos_proj.weight", "pos_proj.bias", "gating_param"};
inline constexpr std::string_view gpsa_optional_keys[] = {"qk.bias", "v.bias"};

// The prefixes of the GPSA layers of a checkpoint (every key "P.pos_proj.weight"; a bare
// "pos_proj.weight" gives ""), in natural order, i.e. by layer index.
std::vector<std::string> gpsa_layer_prefixes(const io::safetensors_file& f);

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

// One GPSA layer under `prefix`: H from pos_proj.weight (H,3), D from qk.weight (2D,D), every
// other shape checked against them. A missing key's message lists the keys a GPSA layer needs
// and the GPSA prefixes the file has.
layer_params read_gpsa_layer(const io::safetensors_file& f, std::string_view prefix);
// Only pos_proj.weight, pos_proj.bias and gating_param (same checks and messages).
positional_params read_gpsa_positional(const io::safetensors_file& f, std::string_view prefix);

}  // namespace gpsa
