// SPDX-License-Identifier: MIT
// gpsa fold: the positional branch of every GPSA layer of a checkpoint, folded into its separable
// factors (a C99 header for firmware, optionally with the layers' weights) or expanded to the
// dense softmax(P) (a .npy for checking). The work is gpsa::fold_checkpoint and gpsa::codegen.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "commands.hpp"
#include "gpsa/checkpoint.hpp"
#include "gpsa/codegen.hpp"
#include "gpsa/folded.hpp"
#include "gpsa/io.hpp"

namespace gpsa::cli {
namespace {

struct fold_options {
  std::string weights;
  std::string grid;
  std::string format = "c";
  std::string output;
  std::string name = "gpsa_fold";
  bool with_weights = false;
};

// Largest folded state gpsa fold computes (the factors of one layer): refuses a typo'd grid
// (e.g. 50000 = 20 billion floats) with a message instead of a bad_alloc.
constexpr std::size_t kMaxFoldBytes = std::size_t{1} << 30;

gpsa::grid checked_grid(const fold_options& o) {
  if (o.format != "c" && o.format != "npy")
    throw cli_error("--format '" + o.format + "': expected c or npy");
  if (o.with_weights && o.format != "c") throw cli_error("--with-weights needs --format c");
  if (!codegen::is_c_identifier(o.name))
    throw cli_error("--name '" + o.name + "': not a C identifier");
  const gpsa::grid g = parse_grid_text(o.grid);
  fold_counts n{};
  if (const status s = fold_size(g, 1, n); s != status::ok)
    throw cli_error("--grid '" + o.grid + "': " + status_message(s));
  if (n.total() > kMaxFoldBytes / sizeof(float))
    throw cli_error("--grid '" + o.grid + "': the folded factors need " +
                    std::to_string(n.total()) + " floats per head; gpsa fold computes at most " +
                    std::to_string(kMaxFoldBytes / sizeof(float)) + " (grid too large)");
  return g;
}

// The header, with provenance that does not depend on where the files are (reproducible bytes).
std::string c_header(const fold_options& o, const io::safetensors_file& file,
                     const std::vector<std::uint8_t>& bytes,
                     const std::vector<checkpoint_fold>& layers) {
  codegen::header_options h;
  h.symbol = o.name;
  h.from.source_name = std::filesystem::path(o.weights).filename().string();
  h.from.source_sha256 = codegen::sha256_hex(bytes);
  h.from.command = "gpsa fold --weights " + h.from.source_name + " --grid " + o.grid +
                   " --format c --name " + o.name + (o.with_weights ? " --with-weights" : "");
  std::vector<layer_params> weights;
  if (o.with_weights)
    for (const checkpoint_fold& l : layers) weights.push_back(read_gpsa_layer(file, l.prefix));
  return codegen::folded_header(layers, h, weights);
}

void run_fold(const fold_options& o) {
  const gpsa::grid g = checked_grid(o);
  check_output_paths({{"-o", o.output}}, {{"--weights", o.weights}});
  // Everything is read, checked and computed before the output is written (atomically). One
  // read (io::read_file, the readers' limits), hashed and parsed from the same bytes.
  const std::vector<std::uint8_t> bytes = io::read_file(o.weights);
  io::safetensors_file file = io::parse_safetensors(bytes, o.weights);
  file.path = o.weights;
  const std::vector<checkpoint_fold> layers = fold_checkpoint(file, g);
  const std::string out =
      o.format == "c" ? c_header(o, file, bytes, layers) : codegen::folded_dense_npy(layers);
  io::write_file_atomic(o.output, out);
  const std::size_t H = layers.front().state.heads();
  const std::size_t per_layer = H * (g.rows * g.rows + g.cols * g.cols) + H;
  std::cout << o.output << ": " << layers.size() << " GPSA layer(s) (" << layers.front().prefix
            << (layers.size() > 1 ? " .. " + layers.back().prefix : "") << "), H = " << H
            << ", grid " << g.rows << "x" << g.cols << ", "
            << (o.format == "c" ? "folded: " + std::to_string(per_layer) + " floats per layer"
                                : "dense (L,H,N,N) softmax(P)")
            << (o.with_weights ? ", with weights" : "") << '\n';
}

}  // namespace

void add_fold(CLI::App& app) {
  auto o = std::make_shared<fold_options>();
  CLI::App* cmd = app.add_subcommand(
      "fold", "Fold the positional attention of every GPSA layer of a checkpoint for firmware");
  cmd->add_option("--weights", o->weights, "safetensors checkpoint (keys *.pos_proj.weight)")
      ->required();
  cmd->add_option("--grid", o->grid, "patch grid S or RxC")->required();
  cmd->add_option("--format", o->format,
                  "c: C99 header with the factors Fx, Gy, lambda; npy: dense (L,H,N,N) softmax(P)")
      ->capture_default_str();
  cmd->add_option("-o,--output", o->output, "output file")->required();
  cmd->add_option("--name", o->name, "C symbol prefix of the header (macros upper-cased)")
      ->capture_default_str();
  cmd->add_flag("--with-weights", o->with_weights,
                "also put every layer's weights (qk, v, proj, pos_proj, gating_param) in the "
                "header as const arrays, so a device needs no file system");
  cmd->callback([o] { run_fold(*o); });
}

}  // namespace gpsa::cli
