// SPDX-License-Identifier: MIT
// gpsa fold: the positional branch of every GPSA layer of a checkpoint, folded into its separable
// factors (a C99 header for firmware, optionally with the layers' weights) or expanded to the
// dense softmax(P) (a .npy for checking). The work is gpsa::fold_checkpoint and gpsa::codegen.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli_args.hpp"
#include "commands.hpp"
#include "gpsa/codegen.hpp"
#include "gpsa/runtime/byte_budget.hpp"
#include "gpsa/runtime/checkpoint_schema.hpp"
#include "gpsa/runtime/folded_state.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/npy.hpp"
#include "gpsa/runtime/output_set.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace gpsa::cli {
namespace {

struct fold_options {
  std::string weights;
  std::string grid;
  std::string format = "c";
  std::string output;
  std::string name = "gpsa_fold";
  bool with_weights = false;
  bool has_grid = false;
};

// Bytes of C text per folded value, at most: a literal such as "-1.17549435e-38f, " plus its
// share of the line breaks and head comments.
constexpr std::size_t kCBytesPerValue = 20;

std::string grid_subject(const fold_options& o, gpsa::grid g) {
  return o.has_grid ? "--grid '" + io::printable(o.grid, 200) + "'"
                    : "grid " + std::to_string(g.rows) + "x" + std::to_string(g.cols) +
                          " (from pos_embed)";
}

// The --grid given (nullopt without one: the checkpoint's pos_embed decides).
std::optional<gpsa::grid> checked_grid(const fold_options& o) {
  require_path("--weights", o.weights);
  require_path("-o", o.output, true);
  if (o.format != "c" && o.format != "npy")
    throw cli_error("--format '" + io::printable(o.format, 200) + "': expected c or npy");
  if (o.with_weights && o.format != "c") throw cli_error("--with-weights needs --format c");
  if (!codegen::is_c_identifier(o.name))
    throw cli_error("--name '" + io::printable(o.name, 200) + "': not a C identifier");
  if (const std::string clash = codegen::clash_with_gpsa_h(o.name); !clash.empty())
    throw cli_error("--name '" + o.name + "': the header would define '" + clash +
                    "', which <gpsa/gpsa.h> already declares; choose another name");
  if (!o.has_grid) return std::nullopt;
  return parse_grid_text(o.grid);
}

// What folding L layers of H heads on grid g allocates and writes, refused up front against the
// limits of docs/reliability.md (never discovered by std::bad_alloc). Called once before the
// checkpoint is read (L = H = 1: a typo'd grid fails at once) and once with the file's L and H.
void check_fold_size(const fold_options& o, gpsa::grid g, std::size_t L, std::size_t H) {
  const std::size_t R = g.rows, C = g.cols, N = g.patches();
  const std::string subject =
      grid_subject(o, g) +
      (L == 1 && H == 1 ? std::string(" (one head)")
                        : " (" + std::to_string(L) + " layer(s), H = " + std::to_string(H) + ")");
  io::byte_budget work(subject);
  work.add("folded factors (L,H,C,C)", {L, H, C, C}, sizeof(float))
      .add("(L,H,R,R)", {L, H, R, R}, sizeof(float));
  if (o.format == "npy") work.add("one head's softmax(P) (N,N)", {N, N}, sizeof(float));
  work.require();
  io::byte_budget file("-o '" + io::display_path(o.output) + "' for " + subject,
                       io::max_output_bytes);
  file.add_bytes("header", 4096);  // the .npy header, or the C header's comments and macros
  if (o.format == "npy")
    file.add("dense softmax(P) (L,H,N,N)", {L, H, N, N}, sizeof(float));
  else
    file.add("C text of the factors (L,H,C*C+R*R)", {L, H, C * C + R * R, kCBytesPerValue}, 1);
  if (!file.ok())
    throw cli_error(file.message() + " for one output file" +
                    (o.format == "npy" ? "; the C header (--format c) is the compact form" : ""));
}

// L and the largest H of the checkpoint's GPSA layers, from the tensors' shapes (fold_checkpoint
// then checks every layer properly).
std::pair<std::size_t, std::size_t> layers_and_heads(const io::safetensors_file& file) {
  const std::vector<std::string> prefixes = gpsa_layer_prefixes(file);
  std::size_t H = 1;
  for (const std::string& p : prefixes) {
    const auto it = file.tensors.find(join_key(p, gpsa_layer_marker));  // (H,3)
    if (it != file.tensors.end() && !it->second.shape.empty())
      H = std::max(H, it->second.shape.front());
  }
  return {std::max<std::size_t>(prefixes.size(), 1), H};
}

// The dense (L,H,N,N) softmax(P), streamed head by head into the output: peak memory is one
// (N,N) head, not the whole array twice (the same bytes as codegen::folded_dense_npy).
void write_dense(io::output_file& out, const std::vector<checkpoint_fold>& layers) {
  const std::size_t L = layers.size(), H = layers.front().state.heads(),
                    N = layers.front().state.shape().patches();
  const std::size_t shape[] = {L, H, N, N};
  io::npy_writer w(out, io::npy_dtype::f32, shape);
  std::vector<float> head(N * N);
  for (const checkpoint_fold& l : layers)
    for (std::size_t h = 0; h < H; ++h) {
      if (const status s = positional_expand(l.state.view(), h, head); s != status::ok)
        throw cli_error("layer '" + io::printable(l.prefix, 200) + "': " + status_message(s));
      w.append(std::span<const float>(head));
    }
  w.finish();
}

// The header, with provenance that does not depend on where the files are (reproducible bytes).
std::string c_header(const fold_options& o, const io::safetensors_file& file,
                     const std::string& sha256, const std::vector<checkpoint_fold>& layers) {
  codegen::header_options h;
  h.symbol = o.name;
  h.from.source_name = std::filesystem::path(o.weights).filename().string();
  h.from.source_sha256 = sha256;
  h.from.command = "gpsa fold --weights " + h.from.source_name +
                   (o.has_grid ? " --grid " + o.grid : std::string()) + " --format c --name " +
                   o.name + (o.with_weights ? " --with-weights" : "");
  std::vector<layer_params> weights;
  if (o.with_weights)
    for (const checkpoint_fold& l : layers) {
      weights.push_back(read_gpsa_layer(file, l.prefix));
      // C99 has no literal for NaN / Inf: name the file, the key and the index (the positional
      // tensors were checked by the fold).
      const layer_params& p = weights.back();
      const checkpoint_view v(file, l.prefix);
      for (const tensor_spec& t : convit_block_tensors())
        if (t.layer_field != nullptr && !t.positional && !(p.*t.layer_field).empty())
          require_finite(v, t.layer_key(), p.*t.layer_field,
                         "; a non-finite weight cannot be written to a C header (--with-weights)");
    }
  return codegen::folded_header(layers, h, weights);
}

void run_fold(const fold_options& o) {
  const std::optional<gpsa::grid> given = checked_grid(o);
  if (given) check_fold_size(o, *given, 1, 1);
  // The output is staged before anything is read (a missing folder, or -o naming the
  // checkpoint, fails here) and replaces the target only when it is complete.
  io::output_set out;
  out.add_input(o.weights, "--weights");
  io::output_file& target = out.add(o.output, "-o");
  // One read through io::read_file (regular files only, never blocks on a FIFO, the size
  // limit), hashed for the header's provenance and parsed from the same bytes, then dropped.
  std::string sha256;
  io::safetensors_file file;
  {
    const std::vector<std::uint8_t> bytes = io::read_file(o.weights);
    if (o.format == "c") sha256 = codegen::sha256_hex(bytes);
    file = io::parse_safetensors(bytes, o.weights);
  }
  file.path = o.weights;
  // A whole ConViT's pos_embed fixes the grid: --grid may repeat it, never contradict it.
  const gpsa::grid g = checkpoint_grid(file, given);
  const auto [L, H] = layers_and_heads(file);
  check_fold_size(o, g, L, H);
  const std::vector<checkpoint_fold> layers = fold_checkpoint(file, g);
  if (o.format == "c")
    target.write(c_header(o, file, sha256, layers));
  else
    write_dense(target, layers);
  out.commit();
  const std::size_t heads = layers.front().state.heads();
  const std::size_t per_layer = heads * (g.rows * g.rows + g.cols * g.cols) + heads;
  std::ostringstream report;
  report << io::display_path(o.output) << ": " << layers.size() << " GPSA layer(s) ("
         << io::printable(layers.front().prefix, 200)
         << (layers.size() > 1 ? " .. " + io::printable(layers.back().prefix, 200) : "")
         << "), H = " << heads << ", grid " << g.rows << "x" << g.cols << ", "
         << (o.format == "c" ? "folded: " + std::to_string(per_layer) + " floats per layer"
                             : "dense (L,H,N,N) softmax(P)")
         << (o.with_weights ? ", with weights" : "") << '\n';
  print_report(report.str());
}

}  // namespace

void add_fold(CLI::App& app) {
  auto o = std::make_shared<fold_options>();
  CLI::App* cmd = app.add_subcommand(
      "fold", "Fold the positional attention of every GPSA layer of a checkpoint for firmware");
  cmd->add_option("--weights", o->weights, "safetensors checkpoint (keys *.pos_proj.weight)")
      ->required();
  CLI::Option* grid = cmd->add_option(
      "--grid", o->grid,
      "patch grid S or RxC (a whole ConViT's pos_embed gives it; needed for a layer checkpoint)");
  cmd->add_option("--format", o->format,
                  "c: C99 header with the factors Fx, Gy, lambda; npy: dense (L,H,N,N) softmax(P)")
      ->capture_default_str();
  cmd->add_option("-o,--output", o->output, "output file")->required();
  cmd->add_option("--name", o->name, "C symbol prefix of the header (macros upper-cased)")
      ->capture_default_str();
  cmd->add_flag("--with-weights", o->with_weights,
                "also put every layer's weights (qk, v, proj, pos_proj, gating_param) in the "
                "header as const arrays, so a device needs no file system");
  cmd->callback([o, grid] {
    o->has_grid = grid->count() > 0;
    run_fold(*o);
  });
}

}  // namespace gpsa::cli
