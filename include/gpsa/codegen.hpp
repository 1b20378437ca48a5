// SPDX-License-Identifier: MIT
// gpsa::codegen: the code generator as a library -- C99 headers with relative-index tables,
// folded layers and layer weights, whole ConViT models, the dense folded attention as .npy, and
// the text helpers they share. Part of gpsa::codegen (links gpsa::runtime; allocates, throws). The
// `gpsa table` and `gpsa fold` commands are thin wrappers around these functions.
//
//   const auto file = gpsa::io::read_safetensors("convit.safetensors");
//   const auto layers = gpsa::fold_checkpoint(file, {14, 14});
//   gpsa::codegen::header_options o;
//   o.symbol = "convit_fold";
//   gpsa::io::write_file_atomic("convit_fold.h", gpsa::codegen::folded_header(layers, o));
//
// Every header is self-contained C99 (compiles with -std=c99 -Wall -Wextra -Wpedantic), has an
// include guard, shape macros and a provenance comment, and holds `static const` arrays (one
// copy per translation unit that includes it: include it in one). docs/firmware.md shows them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "gpsa/core/convit.hpp"
#include "gpsa/core/convit_int8.hpp"
#include "gpsa/rel_indices.hpp"
#include "gpsa/runtime/checkpoint_schema.hpp"
#include "gpsa/runtime/folded_state.hpp"

namespace gpsa::codegen {

// ---- C text: one of each --------------------------------------------------------------------

// True for a valid C identifier ([A-Za-z_][A-Za-z0-9_]*).
bool is_c_identifier(std::string_view s) noexcept;
// The macro spelling of an identifier: ASCII letters upper-cased ("gpsa_fold" -> "GPSA_FOLD").
std::string c_macro_name(std::string_view identifier);
// The shortest decimal float literal ("0.25f", "1.0f", "3.0517578e-05f") that a C compiler reads
// back as exactly v; std::invalid_argument for NaN / Inf (C99 has no literal for them).
std::string c_float_literal(float v);
// Text safe inside a C block comment: printable ASCII only (others become '?') and no "*/".
std::string c_comment_text(std::string_view s);

// SHA-256 (FIPS 180-4), for the provenance lines of generated headers.
std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> bytes);
// The same as 64 lowercase hex digits (what `sha256sum` prints).
std::string sha256_hex(std::span<const std::uint8_t> bytes);

// Where a generated file came from; printed in its header comment.
struct provenance {
  std::string command;      // the gpsa command that regenerates it, e.g. "gpsa fold --grid 14 ..."
  std::string source_name;  // the checkpoint's file name (no folders), empty when none
  std::string source_sha256;  // its SHA-256, empty when none
};

// ---- (a) relative-index tables ----------------------------------------------------------------

// `static const T symbol[N][N][3]` with the table's values (exact integers), its shape macros
// (SYMBOL_ROWS, _COLS, _PATCHES, _CHANNELS, _SIZE), <stdint.h> for the integer types.
// T is float, double, int8_t, int16_t or int32_t. std::invalid_argument for a bad symbol or an
// empty view.
template <rel_element T>
std::string rel_table_header(rel_view<T> table, std::string_view symbol, const provenance& from);

// ---- (b) folded layers, (c) their weights ---------------------------------------------------

struct header_options {
  std::string symbol = "gpsa_fold";  // C prefix of every symbol; macros upper-cased
  provenance from;
};

// The folded positional state of `layers` (one grid, one head count): per layer l the arrays
// SYMBOL_l<l>_fx[H][C][C], _gy[H][R][R], _lambda[H], pointer tables SYMBOL_fx/_gy/_lambda over
// the layers, and (when gpsa.h is included first) SYMBOL_layers[] as gpsa_folded_view views.
// With `weights` (one layer_params per layer, same order, same D and qkv-bias presence) the
// header also holds every layer's parameters -- SYMBOL_l<l>_qk_weight[2D][D], _qk_bias[2D] (with
// qkv bias), _v_weight[D][D], _v_bias[D], _proj_weight[D][D], _proj_bias[D],
// _pos_proj_weight[H][3], _pos_proj_bias[H], _gating_param[H] -- so a device needs no file
// system. std::invalid_argument for no layers, a bad symbol, mismatched layers or NaN/Inf.
std::string folded_header(std::span<const checkpoint_fold> layers, const header_options& options,
                          std::span<const layer_params> weights = {});

// Every identifier <gpsa/gpsa.h> declares (functions, types, macros, its include guard); a
// generated header is included after it and must not redefine one. tests/fold checks that this
// list holds every gpsa_/GPSA_ identifier of gpsa.h.
inline constexpr std::string_view gpsa_h_identifiers[] = {"GPSA_BUFFER_TOO_SMALL",
                                                          "GPSA_CONVIT_FAST",
                                                          "GPSA_CONVIT_INT8_SCRATCH_LEN",
                                                          "GPSA_CONVIT_LOW_MEMORY",
                                                          "GPSA_CONVIT_MAX_BLOCKS",
                                                          "GPSA_CONVIT_PLAN_INT_RANGE",
                                                          "GPSA_CONVIT_SCRATCH_LEN",
                                                          "GPSA_DETAIL_A16",
                                                          "GPSA_DETAIL_A4",
                                                          "GPSA_DETAIL_B4",
                                                          "GPSA_DETAIL_CONVIT_INT8_LEN",
                                                          "GPSA_DETAIL_CONVIT_LEN",
                                                          "GPSA_DETAIL_CONVIT_N",
                                                          "GPSA_DETAIL_CONVIT_R",
                                                          "GPSA_DETAIL_CONVIT_T",
                                                          "GPSA_DETAIL_INT8_R",
                                                          "GPSA_DETAIL_MAX",
                                                          "GPSA_DETAIL_PANEL48",
                                                          "GPSA_EMPTY_GRID",
                                                          "GPSA_GPSA_H",
                                                          "GPSA_INVALID_ARGUMENT",
                                                          "GPSA_LAYER_SCRATCH_LEN",
                                                          "GPSA_NOT_SQUARE",
                                                          "GPSA_OK",
                                                          "GPSA_SHAPE_MISMATCH",
                                                          "GPSA_SIZE_OVERFLOW",
                                                          "GPSA_VALUE_OUT_OF_RANGE",
                                                          "gpsa_NAME",
                                                          "gpsa_convit_block_weights",
                                                          "gpsa_convit_config",
                                                          "gpsa_convit_fold",
                                                          "gpsa_convit_folded_size",
                                                          "gpsa_convit_forward",
                                                          "gpsa_convit_int8_block",
                                                          "gpsa_convit_int8_forward",
                                                          "gpsa_convit_int8_scratch_size",
                                                          "gpsa_convit_int8_weights",
                                                          "gpsa_convit_plan",
                                                          "gpsa_convit_scratch_size",
                                                          "gpsa_convit_weights",
                                                          "gpsa_fill_rel_indices_f32",
                                                          "gpsa_folded_view",
                                                          "gpsa_gated_blend_rows",
                                                          "gpsa_int8_backend",
                                                          "gpsa_int8_linear",
                                                          "gpsa_layer_attention",
                                                          "gpsa_layer_dims",
                                                          "gpsa_layer_fold",
                                                          "gpsa_layer_folded_size",
                                                          "gpsa_layer_forward",
                                                          "gpsa_layer_pack",
                                                          "gpsa_layer_packed_size",
                                                          "gpsa_layer_scratch_size",
                                                          "gpsa_layer_weights",
                                                          "gpsa_positional_apply",
                                                          "gpsa_positional_apply_scratch_size",
                                                          "gpsa_positional_expand",
                                                          "gpsa_status",
                                                          "gpsa_status_message",
                                                          "gpsa_version"};

// The first identifier folded_header(…, {symbol}) would define that <gpsa/gpsa.h> already
// declares (e.g. "gpsa_layer_weights" for the symbol "gpsa_layer"), or "" when there is none.
std::string clash_with_gpsa_h(std::string_view symbol);

// The dense positional attention softmax(P) of every layer, expanded from the factors, as a
// float32 .npy of shape (L, H, N, N). std::length_error when it would exceed `max_bytes`.
std::string folded_dense_npy(std::span<const checkpoint_fold> layers,
                             std::size_t max_bytes = std::size_t{4} << 30);

// ---- (d) a whole ConViT ------------------------------------------------------------------

// What a whole-model header puts in flash and what its forward needs in RAM, in bytes.
struct convit_header_sizes {
  std::size_t weight_bytes = 0;   // every parameter the header holds (pos_proj, gating too)
  std::size_t folded_bytes = 0;   // the folded positional state
  std::size_t view_bytes = 0;     // the descriptor and block views on a 32-bit target
  std::size_t scratch_bytes = 0;  // convit_plan::low_memory's scratch (RAM, for any batch)
};
// std::invalid_argument for an invalid or incomplete model.
convit_header_sizes convit_header_size(const convit_weights& w);

// The whole model `w` with its folded state (convit_fold's output) as one C99 header: shape
// macros SYMBOL_IMAGE_SIZE ... SYMBOL_CLASSES, _TOKENS, _IMAGE_LEN, _FOLDED_LEN, _SCRATCH_LEN
// (GPSA_CONVIT_SCRATCH_LEN), every parameter as `static const float SYMBOL_<name>[n]` (model:
// patch_weight ...; block i: SYMBOL_b<i>_<name>, timm's names), SYMBOL_folded, and the views
// SYMBOL_blocks[] (gpsa_convit_block_weights) and SYMBOL_weights (gpsa_convit_weights); it
// includes "gpsa/gpsa.h". std::invalid_argument for a symbol that is not a C identifier or
// starts with gpsa_ / GPSA_ (gpsa.h's names), an invalid model, a folded state of the wrong
// length, NaN/Inf values.
std::string convit_header(const convit_weights& w, std::span<const float> folded,
                          const header_options& options);

// ---- (e) a whole ConViT in int8 -----------------------------------------------------------

// What an int8 header puts in flash and what its forward needs in RAM, in bytes.
struct convit_int8_header_sizes {
  std::size_t code_bytes = 0;     // the int8 weight codes
  std::size_t float_bytes = 0;    // scales, biases, norms, pos_embed, class token, amax
  std::size_t folded_bytes = 0;   // the folded positional state
  std::size_t view_bytes = 0;     // the descriptor and block views on a 32-bit target
  std::size_t scratch_bytes = 0;  // convit_int8_forward's scratch (RAM, for any batch)
};
// std::invalid_argument for an invalid or incomplete model.
convit_int8_header_sizes convit_int8_header_size(const convit_int8_weights& w);

// The quantised model `w` (e.g. gpsa::convit_int8's weights()) as one C99 header: shape macros
// as convit_header's, SYMBOL_POINTS, _CODE_BYTES, _FLOAT_BYTES and _SCRATCH_LEN
// (GPSA_CONVIT_INT8_SCRATCH_LEN); per linear layer `static const int8_t SYMBOL_<layer>_weight[]`,
// `float SYMBOL_<layer>_scale[]` and `_bias[]` (layers: patch, b<i>_qk, b<i>_v or b<i>_qkv,
// b<i>_proj, b<i>_fc1, b<i>_fc2, head); the float parameters (pos_embed, cls_token,
// b<i>_norm1_weight ..., norm_weight, norm_bias), SYMBOL_amax, SYMBOL_folded, and the views
// SYMBOL_blocks[] (gpsa_convit_int8_block) and SYMBOL_weights (gpsa_convit_int8_weights); it
// includes "gpsa/gpsa.h". std::invalid_argument as convit_header's.
std::string convit_int8_header(const convit_int8_weights& w, const header_options& options);

}  // namespace gpsa::codegen
