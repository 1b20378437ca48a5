// gpsa forward: runs one GPSA layer of a timm checkpoint on a .npy input; writes y, and optionally
// attn and dist.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "gpsa/checkpoint.hpp"
#include "gpsa/io.hpp"
#include "gpsa/layer.hpp"
#include "grid_arg.hpp"

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

// Output files must be distinct, or the last write would silently replace an earlier one.
void check_distinct(const std::vector<std::pair<std::string, std::string>>& outs) {
  namespace fs = std::filesystem;
  for (std::size_t i = 0; i < outs.size(); ++i)
    for (std::size_t j = i + 1; j < outs.size(); ++j) {
      std::error_code e1, e2;
      const fs::path a = fs::weakly_canonical(outs[i].second, e1);
      const fs::path b = fs::weakly_canonical(outs[j].second, e2);
      if ((!e1 && !e2 && a == b) || outs[i].second == outs[j].second)
        throw cli_error(outs[i].first + " and " + outs[j].first + " name the same file '" +
                        outs[i].second + "'");
    }
}

// An output must not name an input: the rename would replace the user's file with the result.
void check_not_input(const std::vector<std::pair<std::string, std::string>>& outs,
                     const std::vector<std::pair<std::string, std::string>>& ins) {
  namespace fs = std::filesystem;
  for (const auto& [oopt, opath] : outs)
    for (const auto& [iopt, ipath] : ins) {
      std::error_code e1, e2, e3;
      const bool same_file = fs::equivalent(opath, ipath, e1);
      const fs::path a = fs::weakly_canonical(opath, e2), b = fs::weakly_canonical(ipath, e3);
      if (same_file || (!e2 && !e3 && a == b) || opath == ipath)
        throw cli_error(oopt + " '" + opath + "' is the input " + iopt + " '" + ipath +
                        "'; refusing to overwrite an input file");
    }
}

// --strict: the first NaN/Inf of an array is an error naming the array and the index.
void require_finite(const std::string& what, const std::vector<std::size_t>& shape,
                    std::span<const float> v, const char* why) {
  if (const std::string bad = first_nonfinite(shape, v); !bad.empty())
    throw cli_error(what + " has " + bad + why);
}

void run_forward(const forward_options& o) {
  std::vector<std::pair<std::string, std::string>> outs{{"-o", o.output}};
  if (!o.attention.empty()) outs.emplace_back("--attention", o.attention);
  if (!o.distances.empty()) outs.emplace_back("--distances", o.distances);
  check_distinct(outs);
  check_not_input(outs, {{"--weights", o.weights}, {"--input", o.input}});
  std::optional<gpsa::grid> want_grid;
  if (!o.grid.empty()) want_grid = parse_grid_text(o.grid);

  // Everything is read, checked and computed before the first byte is written.
  const io::safetensors_file wf = io::read_safetensors(o.weights);
  layer l(wf, o.prefix);
  const io::tensor x = io::read_npy(o.input);
  // Default: NaN/Inf flow through like in PyTorch. --strict refuses them up front.
  constexpr const char* refused = " (--strict refuses NaN and Inf)";
  if (o.strict) {
    const auto check_key = [&](std::string_view suffix) {
      const std::string key = join_key(o.prefix, suffix);
      if (!wf.contains(key)) return;
      const io::tensor& t = wf.at(key);
      require_finite(o.weights + ": tensor '" + key + "'", t.shape, t.data, refused);
    };
    for (const std::string_view suffix : gpsa_required_keys) check_key(suffix);
    for (const std::string_view suffix : gpsa_optional_keys) check_key(suffix);
    require_finite(o.input, x.shape, x.data, refused);
  }
  const std::size_t D = l.dim();
  const bool batched = x.shape.size() == 3;
  if ((x.shape.size() != 2 && x.shape.size() != 3) || x.shape.back() != D)
    throw cli_error(o.input + ": input has shape " + io::shape_text(x.shape) + ", expected (B,N," +
                    std::to_string(D) + ") or (N," + std::to_string(D) +
                    ") (D = " + std::to_string(D) + " from " + o.weights + ")");
  const std::size_t B = batched ? x.shape[0] : 1;
  const std::size_t N = x.shape[x.shape.size() - 2];
  if (B == 0 || N == 0)
    throw cli_error(o.input + ": input has shape " + io::shape_text(x.shape) +
                    ", which holds no patches");

  gpsa::grid g{};
  if (want_grid) {
    if (want_grid->patches() != N)
      throw cli_error(o.input + ": input has N = " + std::to_string(N) + " patches but --grid " +
                      o.grid + " has " + std::to_string(want_grid->patches()));
    g = *want_grid;
  } else if (square_grid_from_patches(N, g) != status::ok) {
    throw cli_error(o.input + ": N = " + std::to_string(N) +
                    " patches is not a perfect square; pass the grid with --grid RxC (R*C = " +
                    std::to_string(N) + ")");
  }
  l.set_grid(g);

  const std::size_t H = l.heads();
  std::vector<float> attn, dist;
  const std::vector<float> y = l.forward(x.data, B, o.attention.empty() ? nullptr : &attn,
                                         o.distances.empty() ? nullptr : &dist);

  const std::vector<std::size_t> attn_shape =
      batched ? std::vector<std::size_t>{B, H, N, N} : std::vector<std::size_t>{H, N, N};
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

  std::vector<std::string> bytes;
  bytes.push_back(io::npy_bytes(x.shape, y));
  if (!o.attention.empty()) bytes.push_back(io::npy_bytes(attn_shape, attn));
  if (!o.distances.empty()) bytes.push_back(io::npy_bytes(dist_shape, dist));

  // All or nothing: if a later write fails, remove the files already written.
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
  std::cout << o.output << ": y " << io::shape_text(x.shape) << ", grid " << grid_str(g)
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
