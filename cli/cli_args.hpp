// SPDX-License-Identifier: MIT
// Argument checks the gpsa subcommands share: the one --grid parser ("S" or "RxC"), path flags
// that must not be empty, and --threads. Output files go through gpsa::io::output_set.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "gpsa/grid.hpp"

namespace CLI {
class Option;
}

namespace gpsa::cli {

// "S" (square S x S) or "RxC" ('x' or 'X'), positive decimal integers. Throws cli_error naming
// `option` and the text: malformed, empty or zero ("expected S or RxC ..."), a number that does
// not fit size_t ("out of range"), or a grid whose N = R*C or N*N overflows size_t ("too large").
gpsa::grid parse_grid_text(const std::string& text, std::string_view option = "--grid");

// True when the option was given on the command line (also as an empty string: `--attention ""`
// must be refused, not read as "not given").
bool given(const CLI::Option* option);

// Throws cli_error "FLAG: the path is empty" for an empty path (every path flag of every
// command; an empty name would otherwise reach the file system as ""), with "(no output file
// name given)" added for an output.
void require_path(std::string_view flag, const std::string& path, bool output = false);

// Most worker threads --threads accepts (more than any machine gpsa targets has cores; a typo
// such as 10000 is refused instead of starting 10000 threads).
inline constexpr std::size_t max_threads = 256;

// --threads N: a decimal integer from 1 to max_threads; cli_error naming the text otherwise.
std::size_t parse_threads(const std::string& text);

}  // namespace gpsa::cli
