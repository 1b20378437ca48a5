// SPDX-License-Identifier: MIT
// Argument checks the gpsa subcommands share: the one --grid parser ("S" or "RxC"), path flags
// that must not be empty, and --threads. Output files go through gpsa::io::output_set.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "gpsa/core/convit.hpp"
#include "gpsa/runtime/thread_pool_executor.hpp"
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

// The pool of --threads N (`text` as given): cli_error "--threads 'N': cannot start helper
// thread K of N - 1: REASON" when the system refuses a thread.
std::unique_ptr<thread_pool_executor> start_workers(std::size_t workers, const std::string& text);

// Writes a command's report to stdout (file descriptor 1) and checks that every byte got there:
// cli_error "stdout: write failed: REASON ..." otherwise (a full disk, /dev/full, a closed
// pipe under an ignored SIGPIPE), so a lost report is an exit status 1, never a silent 0.
void print_report(std::string_view text);

// Before an --image is read for the whole ConViT of `weights`: the model must take what
// image::preprocess makes of a PNG/JPEG, (1, 3, S, S) with S <= image::max_size. Otherwise
// cli_error naming the image, the checkpoint and what the model takes, then `instead` (what to
// do, e.g. "give a preprocessed --input x.npy").
void require_image_model(const convit_config& c, const std::string& weights,
                         const std::string& image, std::string_view instead);

}  // namespace gpsa::cli
