// SPDX-License-Identifier: MIT
// gpsa forward: runs one GPSA layer of a timm checkpoint on a .npy input; writes y, and optionally
// attn and dist.
#include <CLI/CLI.hpp>
#include <cstddef>
#include <filesystem>
#include <iostream>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "cli_args.hpp"
#include "commands.hpp"
#include "gpsa/checkpoint.hpp"
#include "gpsa/io.hpp"
#include "gpsa/layer.hpp"

namespace gpsa::cli {
namespace {

struct forward_options {
  std::string weights;
  std::string prefix{layer::default_prefix};
  std::string input;
  std::string output;
  std::string attention;
  std::string distances;
  std::string grid;
  bool strict = false;
};

std::string grid_str(gpsa::grid g) { return std::to_string(g.rows) + "x" + std::to_string(g.cols); }

// --strict: the first NaN/Inf of an array is an error naming the array and the index.
void require_finite(const std::string& what, const std::vector<std::size_t>& shape,
                    std::span<const float> v, const char* why) {
  if (const std::string bad = first_nonfinite(shape, v); !bad.empty())
    throw cli_error(what + " has " + bad + why);
}

constexpr const char* kRefused = " (--strict refuses NaN and Inf)";

// --strict, before anything runs: every tensor of the layer and the input must be finite.
void strict_inputs(const forward_options& o, const io::safetensors_file& wf, const io::tensor& x) {
  const auto check_key = [&](std::string_view suffix) {
    const std::string key = join_key(o.prefix, suffix);
    if (!wf.contains(key)) return;
    const io::tensor& t = wf.at(key);
    require_finite(o.weights + ": tensor '" + key + "'", t.shape, t.data, kRefused);
  };
  for (const std::string_view suffix : gpsa_required_keys) check_key(suffix);
  for (const std::string_view suffix : gpsa_optional_keys) check_key(suffix);
  require_finite(o.input, x.shape, x.data, kRefused);
}

// x's batch and patch counts (x is (B,N,D) or (N,D)) and the grid: --grid, or the square of N.
struct input_shape {
  std::size_t batch = 0, patches = 0;
  gpsa::grid g{};
};

input_shape shape_of(const forward_options& o, const io::tensor& x, std::size_t D) {
  if ((x.shape.size() != 2 && x.shape.size() != 3) || x.shape.back() != D)
    throw cli_error(o.input + ": input has shape " + io::shape_text(x.shape) + ", expected (B,N," +
                    std::to_string(D) + ") or (N," + std::to_string(D) +
                    ") (D = " + std::to_string(D) + " from " + o.weights + ")");
  input_shape s;
  s.batch = x.shape.size() == 3 ? x.shape[0] : 1;
  s.patches = x.shape[x.shape.size() - 2];
  const std::size_t N = s.patches;
  if (s.batch == 0 || N == 0)
    throw cli_error(o.input + ": input has shape " + io::shape_text(x.shape) +
                    ", which holds no patches");
  if (!o.grid.empty()) {
    s.g = parse_grid_text(o.grid);
    if (s.g.patches() != N)
      throw cli_error(o.input + ": input has N = " + std::to_string(N) + " patches but --grid " +
                      o.grid + " has " + std::to_string(s.g.patches()));
  } else if (square_grid_from_patches(N, s.g) != status::ok) {
    throw cli_error(o.input + ": N = " + std::to_string(N) +
                    " patches is not a perfect square; pass the grid with --grid RxC (R*C = " +
                    std::to_string(N) + ")");
  }
  return s;
}

// Writes every output or none: if a later write fails, the files already written are removed.
void write_all(const named_paths& outs, const std::vector<std::string>& bytes) {
  for (std::size_t i = 0; i < outs.size(); ++i) {
    try {
      io::write_file_atomic(outs[i].second, bytes[i]);
    } catch (...) {
      for (std::size_t j = 0; j < i; ++j) {
        std::error_code ec;
        std::filesystem::remove(outs[j].second, ec);
      }
      throw;
    }
  }
}

void run_forward(const forward_options& o) {
  named_paths outs{{"-o", o.output}};
  if (!o.attention.empty()) outs.emplace_back("--attention", o.attention);
  if (!o.distances.empty()) outs.emplace_back("--distances", o.distances);
  check_output_paths(outs, {{"--weights", o.weights}, {"--input", o.input}});
  if (!o.grid.empty()) (void)parse_grid_text(o.grid);  // a bad --grid fails before any read

  // Everything is read, checked and computed before the first byte is written.
  const io::safetensors_file wf = io::read_safetensors(o.weights);
  layer l(wf, o.prefix);
  const io::tensor x = io::read_npy(o.input);
  // Default: NaN/Inf flow through like in PyTorch. --strict refuses them up front.
  if (o.strict) strict_inputs(o, wf, x);
  const std::size_t D = l.dim(), H = l.heads();
  const input_shape in = shape_of(o, x, D);
  const std::size_t B = in.batch, N = in.patches;
  l.set_grid(in.g);

  std::vector<float> attn, dist;
  const std::vector<float> y = l.forward(x.data, B, o.attention.empty() ? nullptr : &attn,
                                         o.distances.empty() ? nullptr : &dist);
  const std::vector<std::size_t> attn_shape = x.shape.size() == 3
                                                  ? std::vector<std::size_t>{B, H, N, N}
                                                  : std::vector<std::size_t>{H, N, N};
  const std::vector<std::size_t> dist_shape{H};
  // Finite inputs can still overflow float32 (e.g. weights near FLT_MAX).
  if (o.strict) {
    constexpr const char* overflow = " although the inputs are finite (float32 overflow; --strict)";
    require_finite("-o " + o.output + ": y", x.shape, y, overflow);
    if (!o.attention.empty())
      require_finite("--attention " + o.attention + ": attn", attn_shape, attn, overflow);
    if (!o.distances.empty())
      require_finite("--distances " + o.distances + ": dist", dist_shape, dist, overflow);
  }
  std::vector<std::string> bytes{io::npy_bytes(x.shape, y)};
  if (!o.attention.empty()) bytes.push_back(io::npy_bytes(attn_shape, attn));
  if (!o.distances.empty()) bytes.push_back(io::npy_bytes(dist_shape, dist));
  write_all(outs, bytes);
  std::cout << o.output << ": y " << io::shape_text(x.shape) << ", grid " << grid_str(in.g)
            << ", H = " << H << ", D = " << D << (l.has_qkv_bias() ? ", qkv bias" : "")
            << ", positional branch folded\n";
}

}  // namespace

void add_forward(CLI::App& app) {
  auto o = std::make_shared<forward_options>();
  CLI::App* cmd = app.add_subcommand(
      "forward",
      "Run a GPSA layer of a timm checkpoint on x (B,N,D) or (N,D); write y (and attn, dist)");
  cmd->add_option("--weights", o->weights, "safetensors checkpoint (timm key names)")->required();
  cmd->add_option("--prefix", o->prefix, "key prefix of the GPSA layer")->capture_default_str();
  cmd->add_option("--input", o->input, "input x.npy, float32/float64, (B,N,D) or (N,D)")
      ->required();
  cmd->add_option("-o,--output", o->output, "output y.npy, same shape as x")->required();
  cmd->add_option("--attention", o->attention, "also write attn.npy, (B,H,N,N) or (H,N,N)");
  cmd->add_option("--distances", o->distances, "also write the nonlocality dist.npy, (H)");
  cmd->add_option("--grid", o->grid, "patch grid S or RxC (default: square, S = sqrt(N))");
  cmd->add_flag("--strict", o->strict,
                "refuse NaN/Inf in the weights or the input (and an overflowed result); by "
                "default they propagate like in PyTorch");
  cmd->callback([o] { run_forward(*o); });
}

}  // namespace gpsa::cli
