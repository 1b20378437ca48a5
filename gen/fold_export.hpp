// Shared by `gpsa fold` and `gpsa demo`: finding the GPSA layers of a checkpoint, folding them,
// and writing the folded state as a C99 header or as the dense (L, H, N, N) attention.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "gpsa/fold.hpp"
#include "gpsa/grid.hpp"
#include "grid_arg.hpp"  // parse_grid_text, used with these helpers by fold and demo

namespace gpsa::io {
struct safetensors_file;
}

namespace gpsa::cli {

// Natural order: runs of digits compare by value, so "blocks.2.attn" < "blocks.10.attn".
bool natural_less(std::string_view a, std::string_view b);

// The prefixes P of every key "P.pos_proj.weight" (a bare "pos_proj.weight" gives ""), in
// natural order, i.e. by layer index.
std::vector<std::string> gpsa_layer_prefixes(const io::safetensors_file& f);

// "P.name", or "name" for the empty prefix.
std::string layer_key(const std::string& prefix, std::string_view name);

// One layer's folded positional branch, owning its factors.
struct folded_layer_data {
  std::string prefix;
  std::size_t heads = 0;
  gpsa::grid shape{};
  std::vector<float> pos_weight, pos_bias, gating;  // as read from the checkpoint
  std::vector<float> fx, gy, lambda;

  gpsa::folded_view view() const noexcept {
    return {shape, heads, fx.data(), gy.data(), lambda.data()};
  }
};

// Reads P.pos_proj.weight (H,3), P.pos_proj.bias (H), P.gating_param (H) and folds them for g.
// Throws cli_error naming the file and key for a missing key, a wrong shape or a NaN/Inf value.
folded_layer_data fold_checkpoint_layer(const io::safetensors_file& f, const std::string& prefix,
                                        gpsa::grid g);

// Every GPSA layer of the checkpoint, folded, in layer order; all must have the same H.
std::vector<folded_layer_data> fold_checkpoint(const io::safetensors_file& f, gpsa::grid g);

struct header_provenance {
  std::string checkpoint_name;  // file name only (no folders: headers get committed)
  std::string checkpoint_sha256;
  std::string symbol = "gpsa_fold";  // C identifier prefix of every symbol; macros upper-cased
};

// True for a valid C identifier ([A-Za-z_][A-Za-z0-9_]*).
bool is_c_identifier(std::string_view s);

// The shortest decimal float literal ("0.25f", "1.0f", "3.0517578e-05f") that a C compiler
// reads back as exactly v (finite v only).
std::string c_float_literal(float v);

// A self-contained C99 header with the folded layers (see docs/firmware.md).
std::string fold_c_header(const std::vector<folded_layer_data>& layers, gpsa::grid g,
                          const header_provenance& info);

// The dense positional attention softmax(P) of every layer, a float32 .npy (L, H, N, N),
// expanded from the factors. Throws cli_error when it would exceed `max_bytes`.
std::string fold_dense_npy(const std::vector<folded_layer_data>& layers, gpsa::grid g,
                           std::size_t max_bytes = std::size_t{4} << 30);

}  // namespace gpsa::cli
