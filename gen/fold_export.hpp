// Shared by `gpsa fold` and `gpsa demo`: finding the GPSA layers of a checkpoint, folding them,
// and writing the folded state as a C99 header or as the dense (L, H, N, N) attention.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "gpsa/fold.hpp"
#include "gpsa/folded.hpp"
#include "gpsa/grid.hpp"
#include "grid_arg.hpp"  // parse_grid_text, used with these helpers by fold and demo

namespace gpsa::cli {

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
std::string fold_c_header(const std::vector<checkpoint_fold>& layers, gpsa::grid g,
                          const header_provenance& info);

// The dense positional attention softmax(P) of every layer, a float32 .npy (L, H, N, N),
// expanded from the factors. Throws cli_error when it would exceed `max_bytes`.
std::string fold_dense_npy(const std::vector<checkpoint_fold>& layers, gpsa::grid g,
                           std::size_t max_bytes = std::size_t{4} << 30);

}  // namespace gpsa::cli
