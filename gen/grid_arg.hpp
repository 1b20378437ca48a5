// The one parser of a --grid argument ("S" or "RxC") shared by the gpsa subcommands.
#pragma once

#include <string>
#include <string_view>

#include "gpsa/grid.hpp"

namespace gpsa::cli {

// "S" (square S x S) or "RxC" ('x' or 'X'), positive decimal integers. Throws cli_error naming
// `option` and the text: malformed or zero ("expected S or RxC ..."), a number that does not fit
// size_t ("out of range"), or a grid whose N = R*C or N*N overflows size_t ("too large").
gpsa::grid parse_grid_text(const std::string& text, std::string_view option = "--grid");

}  // namespace gpsa::cli
