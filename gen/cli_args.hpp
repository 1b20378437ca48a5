// SPDX-License-Identifier: MIT
// Argument checks the gpsa subcommands share: the one --grid parser ("S" or "RxC") and the
// output-file rules (outputs distinct, never an input).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gpsa/grid.hpp"

namespace gpsa::cli {

// "S" (square S x S) or "RxC" ('x' or 'X'), positive decimal integers. Throws cli_error naming
// `option` and the text: malformed or zero ("expected S or RxC ..."), a number that does not fit
// size_t ("out of range"), or a grid whose N = R*C or N*N overflows size_t ("too large").
gpsa::grid parse_grid_text(const std::string& text, std::string_view option = "--grid");

// (option, path) pairs, e.g. {"-o", "y.npy"}.
using named_paths = std::vector<std::pair<std::string, std::string>>;

// Throws cli_error when two outputs name the same file (the last write would silently replace an
// earlier one) or an output names an input (the rename would replace the user's file).
void check_output_paths(const named_paths& outputs, const named_paths& inputs);

}  // namespace gpsa::cli
