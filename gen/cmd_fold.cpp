// gpsa fold: the positional branch of every GPSA layer of a checkpoint, folded into its separable
// factors (a C99 header for firmware) or expanded to the dense softmax(P) (a .npy for checking).
#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "commands.hpp"
#include "fold_export.hpp"
#include "gpsa/folded.hpp"
#include "gpsa/io.hpp"
#include "sha256.hpp"

namespace gpsa::cli {
namespace {

struct fold_options {
  std::string weights;
  std::string grid;
  std::string format = "c";
  std::string output;
  std::string name = "gpsa_fold";
};

// Largest folded state gpsa fold computes (the factors of one layer): refuses a typo'd grid
// (e.g. 50000 = 20 billion floats) with a message instead of a bad_alloc.
constexpr std::size_t kMaxFoldBytes = std::size_t{1} << 30;

void run_fold(const fold_options& o) {
  if (o.format != "c" && o.format != "npy")
    throw cli_error("--format '" + o.format + "': expected c or npy");
  if (!is_c_identifier(o.name)) throw cli_error("--name '" + o.name + "': not a C identifier");
  const gpsa::grid g = parse_grid_text(o.grid);
  {
    fold_counts n{};
    const status s = fold_size(g, 1, n);
    if (s != status::ok) throw cli_error("--grid '" + o.grid + "': " + status_message(s));
    if (n.total() > kMaxFoldBytes / sizeof(float))
      throw cli_error("--grid '" + o.grid + "': the folded factors need " +
                      std::to_string(n.total()) + " floats per head; gpsa fold computes at most " +
                      std::to_string(kMaxFoldBytes / sizeof(float)) + " (grid too large)");
  }
  {
    // The output must not replace the checkpoint it is made from.
    namespace fs = std::filesystem;
    std::error_code e1, e2, e3;
    const bool same = fs::equivalent(o.output, o.weights, e1);
    const fs::path a = fs::weakly_canonical(o.output, e2), b = fs::weakly_canonical(o.weights, e3);
    if (same || (!e2 && !e3 && a == b) || o.output == o.weights)
      throw cli_error("-o '" + o.output + "' is the input --weights '" + o.weights +
                      "'; refusing to overwrite an input file");
  }
  // Everything is read, checked and computed before the output is written (atomically).
  // One read (io::read_file, the reader's limits), hashed and parsed from the same bytes.
  const std::vector<std::uint8_t> bytes = io::read_file(o.weights);
  io::safetensors_file file = io::parse_safetensors(bytes, o.weights);
  file.path = o.weights;
  const std::vector<checkpoint_fold> layers = fold_checkpoint(file, g);
  std::string out;
  if (o.format == "c") {
    header_provenance info;
    info.checkpoint_name = std::filesystem::path(o.weights).filename().string();
    info.checkpoint_sha256 =
        sha256_hex(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    info.symbol = o.name;
    out = fold_c_header(layers, g, info);
  } else {
    out = fold_dense_npy(layers, g);
  }
  io::write_file_atomic(o.output, out);
  const std::size_t H = layers.front().state.heads();
  const std::size_t per_layer = H * (g.rows * g.rows + g.cols * g.cols) + H;
  std::cout << o.output << ": " << layers.size() << " GPSA layer(s) (" << layers.front().prefix
            << (layers.size() > 1 ? " .. " + layers.back().prefix : "") << "), H = " << H
            << ", grid " << g.rows << "x" << g.cols << ", "
            << (o.format == "c" ? "folded: " + std::to_string(per_layer) + " floats per layer"
                                : "dense (L,H,N,N) softmax(P)")
            << '\n';
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
  cmd->callback([o] { run_fold(*o); });
}

}  // namespace gpsa::cli
