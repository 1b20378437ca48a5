// SPDX-License-Identifier: MIT
// The one reader of timm checkpoints: key joining, natural layer order, tensors with expected
// shapes named in errors. Part of gpsa::runtime (allocates, throws). What a ConViT checkpoint
// holds (the schema, its shape and NaN/Inf checks) is gpsa/runtime/checkpoint_schema.hpp.
//
//   gpsa::checkpoint_view blk(file, "blocks.3");
//   const gpsa::io::tensor& w = blk.get("mlp.fc1.weight");  // "FILE: missing key '...'"
#pragma once

#include <cstddef>
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

// One expected extent of a tensor as shape_error shows it ("D", "2D", "H"): dim{432} shows 432;
// dim{432, "D"} shows D (and the numbers after " = "); dim::named("H") an extent not known yet.
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

  // The tensor `name`, any shape (gpsa::check_tensor checks one). Throws checkpoint_error
  // "FILE: missing key 'KEY'"; io_error for a dtype gpsa cannot convert.
  const io::tensor& get(std::string_view name) const;

  // The prefixes P (full keys, natural order) of every key "P.suffix" under this view's prefix;
  // a key equal to `suffix` itself gives "". E.g. ".pos_proj.weight" finds the GPSA layers.
  std::vector<std::string> prefixes_of(std::string_view suffix) const;

  // Throws checkpoint_error "FILE: KEY has shape S, expected E[ (note)]", the one shape message
  // (gpsa::check_tensor's); `note` says where the symbols came from, e.g. "D = 432 from
  // patch_embed.proj.weight".
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

}  // namespace gpsa
