// SPDX-License-Identifier: MIT
// `-o -`: commands whose output may be the standard output (preprocess, table, classify).
#pragma once

#include <string>
#include <string_view>

#include "gpsa/runtime/output_set.hpp"

namespace gpsa::cli {

// The output `path` of `out`: the standard output for "-" (output_set::add_stdout), else the
// file (output_set::add). `flag` names it in messages ("-o").
io::output_file& add_output(io::output_set& out, const std::string& path, std::string_view flag);

// print_report (cli_args.hpp), or to stderr when stdout holds an output (`-o -`).
void print_report(std::string_view text, bool stdout_is_output);

}  // namespace gpsa::cli
