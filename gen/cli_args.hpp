// SPDX-License-Identifier: MIT
// Argument checks the gpsa subcommands share: the one --grid parser ("S" or "RxC"), path flags
// that must not be empty, and --threads. Output files go through gpsa::io::output_set.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "gpsa/grid.hpp"
#include "gpsa/preprocess.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

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

// timm's data configuration of a model, as options of gpsa preprocess and classify --image:
// --input-size C,S,S  --mean m[,m,m]  --std s[,s,s]  --interpolation bilinear|bicubic
// --crop-pct p. Empty strings: not given.
struct data_config_options {
  std::string input_size, mean, std, interpolation, crop_pct;
};
void add_data_config_options(CLI::App& cmd, data_config_options& o);

// The configuration the options give, on top of `defaults` (channels and S a model implies, or
// ImageNet's). Throws cli_error naming the flag and the text: malformed values, C not 1 or 3,
// H != W (ConViT's images are square), S outside 1..max_side, a mean/std count other than C,
// a std <= 0, crop_pct outside (0, 1], an unknown interpolation. A one-channel configuration
// without --mean and --std is refused (ImageNet's statistics are for RGB).
timm_data_config resolve_data_config(const data_config_options& o, timm_data_config defaults,
                                     std::size_t max_side);

// The configuration for images fed to a model of `channels` x S x S inputs: resolve_data_config
// on the model's channels and S (ImageNet statistics for an RGB model; a grey-scale one needs
// --mean and --std), and a cli_error when --input-size names another shape than the model's.
timm_data_config model_data_config(const data_config_options& o, std::size_t channels,
                                   std::size_t image_size, std::size_t max_side);

// "bicubic resize to 292x256, crop 256x256 at (18,0), ImageNet mean/std" and the like.
std::string describe_transform(const timm_eval_plan& plan);

}  // namespace gpsa::cli
