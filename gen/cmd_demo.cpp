// SPDX-License-Identifier: MIT
// gpsa demo: builds a ConViT-S-shaped GPSA layer with local_init (or loads a checkpoint), runs it,
// reports the table path, timings, each head's attention centre and nonlocality, the folded
// firmware size, and draws the heads' positional attention maps into a PNG.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "commands.hpp"
#include "gpsa/attention.hpp"
#include "gpsa/checkpoint.hpp"
#include "gpsa/fold.hpp"
#include "gpsa/folded.hpp"
#include "gpsa/io.hpp"
#include "gpsa/layer.hpp"
#include "gpsa/registry.hpp"
#include "png_image.hpp"

namespace gpsa::cli {
namespace {

struct demo_options {
  std::string weights;
  std::string prefix;
  std::string grid = "14";
  std::string query;
  std::string output = "gpsa-demo.png";
};

// ConViT-S: 9 heads, width 432 (48 per head); 224 px images in 16 px patches give 14 x 14.
constexpr std::size_t demo_heads = 9, demo_dim = 432;
constexpr std::size_t max_demo_patches = 1024;

// Deterministic values in [-1, 1): SplitMix64, so the demo prints the same numbers everywhere.
struct splitmix {
  std::uint64_t s;
  double next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-52 - 1.0;
  }
};

std::vector<float> random_values(std::size_t n, double scale, std::uint64_t seed) {
  splitmix r{seed};
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(scale * r.next());
  return v;
}

// ConViT's initialisation of a GPSA layer: qk, proj random (uniform with variance 1/D), v the
// identity and pos_proj from local_init (alpha = 1), gating_param = 1 (timm's torch.ones).
layer_params local_init_params() {
  layer_params p;
  p.heads = demo_heads;
  p.dim = demo_dim;
  const double s = std::sqrt(3.0 / demo_dim);
  p.qk_weight = random_values(2 * demo_dim * demo_dim, s, 1);
  p.proj_weight = random_values(demo_dim * demo_dim, s, 2);
  p.proj_bias.assign(demo_dim, 0.0f);
  p.v_weight.assign(demo_dim * demo_dim, 0.0f);
  p.pos_proj_weight.assign(demo_heads * 3, 0.0f);
  p.pos_proj_bias.assign(demo_heads, 0.0f);
  p.gating_param.assign(demo_heads, 1.0f);
  const status st = gpsa::local_init(demo_heads, 1.0f, p.pos_proj_weight, demo_dim, p.v_weight);
  if (st != status::ok) throw cli_error(std::string("local_init: ") + status_message(st));
  return p;
}

bool parse_index(std::string_view s, std::size_t& out) {
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// "--query P" (patch index) or "--query y,x"; default: the centre patch (R/2, C/2).
std::size_t parse_query(const std::string& text, gpsa::grid g) {
  if (text.empty()) return (g.rows / 2) * g.cols + g.cols / 2;
  const std::size_t comma = text.find(',');
  std::size_t p = 0;
  if (comma == std::string::npos) {
    if (!parse_index(text, p))
      throw cli_error("--query '" + text + "': expected a patch index or y,x (e.g. 105 or 7,7)");
    if (p >= g.patches())
      throw cli_error("--query '" + text +
                      "': patch index must be below N = " + std::to_string(g.patches()));
    return p;
  }
  std::size_t y = 0, x = 0;
  if (!parse_index(std::string_view(text).substr(0, comma), y) ||
      !parse_index(std::string_view(text).substr(comma + 1), x))
    throw cli_error("--query '" + text + "': expected a patch index or y,x (e.g. 105 or 7,7)");
  if (y >= g.rows || x >= g.cols)
    throw cli_error("--query '" + text + "': y must be below " + std::to_string(g.rows) +
                    " and x below " + std::to_string(g.cols));
  return y * g.cols + x;
}

// Median wall time of `reps` runs of f, in microseconds.
template <class F>
double time_us(int reps, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto a = std::chrono::steady_clock::now();
    f();
    const auto b = std::chrono::steady_clock::now();
    t.push_back(std::chrono::duration<double, std::micro>(b - a).count());
  }
  std::nth_element(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(t.size() / 2), t.end());
  return t[t.size() / 2];
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string bytes_text(std::size_t b) {
  if (b < 10 * 1024) return std::to_string(b) + " B";
  if (b < 10 * 1024 * 1024) return fmt("%.1f KB", static_cast<double>(b) / 1024);
  return fmt("%.1f MB", static_cast<double>(b) / (1024.0 * 1024.0));
}

struct head_report {
  int peak_dx = 0, peak_dy = 0;
  double mean_dx = 0, mean_dy = 0, peak = 0, pos_dist = 0;
};

// Attention centre of head h for query p, from the separable factors: the argmax is the pair of
// factor argmaxes, the centroid the pair of factor means; nonlocality of the positional map
// alone, (1/N) sum_p sum_q sqrt(dx^2+dy^2) position[h,p,q] (docs/DESIGN.md §4).
head_report analyse_head(const folded_view& f, std::size_t h, std::size_t p) {
  const std::size_t R = f.shape.rows, C = f.shape.cols, yp = p / C, xp = p % C;
  head_report r;
  std::size_t ax = 0, ay = 0;
  for (std::size_t x = 0; x < C; ++x) {
    if (f.fx_at(h, xp, x) > f.fx_at(h, xp, ax)) ax = x;
    r.mean_dx += f.fx_at(h, xp, x) * (static_cast<double>(x) - static_cast<double>(xp));
  }
  for (std::size_t y = 0; y < R; ++y) {
    if (f.gy_at(h, yp, y) > f.gy_at(h, yp, ay)) ay = y;
    r.mean_dy += f.gy_at(h, yp, y) * (static_cast<double>(y) - static_cast<double>(yp));
  }
  r.peak_dx = static_cast<int>(ax) - static_cast<int>(xp);
  r.peak_dy = static_cast<int>(ay) - static_cast<int>(yp);
  r.peak = static_cast<double>(f.fx_at(h, xp, ax)) * f.gy_at(h, yp, ay);
  double d = 0;
  for (std::size_t py = 0; py < R; ++py)
    for (std::size_t px = 0; px < C; ++px)
      for (std::size_t qy = 0; qy < R; ++qy)
        for (std::size_t qx = 0; qx < C; ++qx) {
          const double dx = static_cast<double>(qx) - static_cast<double>(px);
          const double dy = static_cast<double>(qy) - static_cast<double>(py);
          d += std::sqrt(dx * dx + dy * dy) * f.gy_at(h, py, qy) * f.fx_at(h, px, qx);
        }
  r.pos_dist = d / static_cast<double>(R * C);
  return r;
}

// The panel: one tile per head (ceil(sqrt(H)) per row), each the R x C positional attention of
// the query patch, normalised to its own maximum, labelled "h<i>", the query patch outlined.
rgb_image draw_panel(const folded_view& f, std::size_t p) {
  const std::size_t R = f.shape.rows, C = f.shape.cols, H = f.heads;
  std::size_t per_row = 1;
  while (per_row * per_row < H) ++per_row;
  const std::size_t tile_rows = (H + per_row - 1) / per_row;
  const std::size_t cell = std::clamp<std::size_t>(224 / std::max(R, C), 2, 32);
  const std::size_t map_w = C * cell, map_h = R * cell;
  const std::size_t scale = 2, label_h = glyph_height * scale + 8, margin = 10;
  const std::size_t tile_w = std::max(map_w, text_width("h" + std::to_string(H - 1), scale));
  const std::size_t width = margin + per_row * (tile_w + margin);
  const std::size_t height = margin + tile_rows * (label_h + map_h + margin);
  rgb_image img(width, height, rgb{24, 24, 28});
  const std::size_t yq = p / C, xq = p % C;
  for (std::size_t h = 0; h < H; ++h) {
    const std::size_t ox = margin + (h % per_row) * (tile_w + margin);
    const std::size_t oy = margin + (h / per_row) * (label_h + map_h + margin);
    img.draw_text(ox, oy + 2, "h" + std::to_string(h), scale, rgb{235, 235, 235});
    const std::size_t my = oy + label_h;
    double peak = 0;
    for (std::size_t y = 0; y < R; ++y)
      for (std::size_t x = 0; x < C; ++x)
        peak = std::max(peak, static_cast<double>(f.gy_at(h, yq, y)) * f.fx_at(h, xq, x));
    for (std::size_t y = 0; y < R; ++y)
      for (std::size_t x = 0; x < C; ++x) {
        const double v = static_cast<double>(f.gy_at(h, yq, y)) * f.fx_at(h, xq, x);
        img.fill_rect(ox + x * cell, my + y * cell, cell, cell,
                      heat_color(peak > 0 ? v / peak : 0));
      }
    if (cell >= 4) img.outline_rect(ox + xq * cell, my + yq * cell, cell, cell, rgb{80, 200, 255});
  }
  return img;
}

// The demo's layer: local_init (no --weights) or a GPSA layer of a checkpoint; `origin` says which.
layer make_layer(const demo_options& o, std::string& origin) {
  if (o.weights.empty()) {
    if (!o.prefix.empty()) throw cli_error("--prefix needs --weights");
    origin = "ConViT-S-shaped, local_init (alpha = 1), gating_param = 1";
    return layer(local_init_params());
  }
  const io::safetensors_file file = io::read_safetensors(o.weights);
  std::string prefix = o.prefix;
  if (prefix.empty()) {
    const std::vector<std::string> found = gpsa_layer_prefixes(file);
    if (found.empty())
      throw cli_error(o.weights + ": no GPSA layer found (no key ends in '.pos_proj.weight')");
    prefix = found.front();
  }
  origin = o.weights + ", layer " + prefix;
  return layer(file, prefix);
}

// The relative-index table: baked (compile time) vs the runtime fill, for this grid; and the
// layer's set_grid, which needs neither.
void report_table(layer& l, gpsa::grid g, const std::string& grid_text) {
  std::size_t table_count = 0;
  if (const status s = rel_indices_count(g, table_count); s != status::ok)
    throw cli_error("--grid " + grid_text + ": " + status_message(s));
  std::vector<float> table(table_count);
  volatile std::size_t rows_v = g.rows, cols_v = g.cols;  // keep the lookup a run-time lookup
  bool baked = false;
  const double t_lookup = time_us(101, [&] {
    const rel_lookup<float> found =
        lookup_rel_indices<float>(gpsa::grid{rows_v, cols_v}, std::span<float>(table));
    if (!found) throw cli_error(std::string("table lookup: ") + status_message(found.code));
    baked = found.baked();
  });
  const double t_fill = time_us(21, [&] {
    if (fill_rel_indices<float>(gpsa::grid{rows_v, cols_v}, std::span<float>(table)) != status::ok)
      throw cli_error("runtime fill failed");
  });
  const double t_set = time_us(1, [&] { l.set_grid(g); });
  std::cout << "relative-index table (" << g.patches() << " x " << g.patches() << " x 3 floats, "
            << bytes_text(table_count * sizeof(float)) << "):\n"
            << "  baked at compile time (registry lookup): "
            << (is_baked<float>(g) ? fmt("%10.3f us", t_lookup) : std::string("  not baked"))
            << (baked ? "   <- used" : "") << '\n'
            << "  runtime fill (fallback):                 " << fmt("%10.3f us", t_fill)
            << (baked ? "" : "   <- used") << '\n'
            << "  the layer needs neither: set_grid cached its positional branch as folded "
            << "(separable factors, no table) in " << fmt("%.1f us", t_set) << "\n\n";
}

// Per head: lambda, the attention centre for the query patch, nonlocality.
void report_heads(const folded_view& view, const std::vector<float>& dist, std::size_t query) {
  const std::size_t C = view.shape.cols;
  std::cout << "query patch " << query << " = (y " << query / C << ", x " << query % C
            << "); offsets are (dx, dy) from it\n"
            << "head  lambda  peak at (dx,dy)  centroid (dx,dy)    peak  nonlocality: positional  "
               "layer\n";
  for (std::size_t h = 0; h < view.heads; ++h) {
    const head_report r = analyse_head(view, h, query);
    char line[160];
    std::snprintf(line, sizeof line,
                  "h%-3zu  %6.3f  (%+3d,%+3d)        (%+6.2f,%+6.2f)  %6.3f  %23.3f  %5.3f\n", h,
                  static_cast<double>(view.lambda[h]), r.peak_dx, r.peak_dy, r.mean_dx, r.mean_dy,
                  r.peak, r.pos_dist, static_cast<double>(dist[h]));
    std::cout << line;
  }
}

void report_firmware(gpsa::grid g, std::size_t H) {
  fold_counts counts{};
  if (const status s = fold_size(g, H, counts); s != status::ok)
    throw cli_error(std::string("fold: ") + status_message(s));
  const std::size_t N = g.patches();
  const std::size_t folded = counts.total() * sizeof(float), dense = H * N * N * sizeof(float);
  std::cout << "\nfolded firmware state per layer: H*(R^2+C^2)+H = " << counts.total()
            << " floats = " << bytes_text(folded)
            << "; dense positional attention H*N^2 = " << H * N * N
            << " floats = " << bytes_text(dense) << " ("
            << fmt("%.0fx", static_cast<double>(dense) / static_cast<double>(folded))
            << " larger)\n";
}

void run_demo(const demo_options& o) {
  const gpsa::grid g = parse_grid_text(o.grid);
  const std::size_t N = g.patches();
  // The demo runs the dense layer (attention and softmax(P) are H x N x N): keep it small.
  if (N > max_demo_patches)
    throw cli_error("--grid " + o.grid + ": " + std::to_string(N) +
                    " patches; the demo runs the dense layer, use at most " +
                    std::to_string(max_demo_patches) + " (e.g. 32x32); gpsa fold handles any grid");
  const std::size_t query = parse_query(o.query, g);

  std::string origin;
  layer l = make_layer(o, origin);
  const std::size_t H = l.heads(), D = l.dim();
  std::cout << "gpsa demo: GPSA layer with H = " << H << " heads, D = " << D << ", grid " << g.rows
            << "x" << g.cols << " (N = " << N << ")\n  weights: " << origin << "\n\n";
  report_table(l, g, o.grid);

  // The fold, the firmware form of the positional branch, and a forward on a fixed input.
  const layer_params& p = l.params();
  folded_state fold;
  const double t_fold = time_us(
      21, [&] { fold = folded_state(g, H, p.pos_proj_weight, p.pos_proj_bias, p.gating_param); });
  const std::vector<float> x = random_values(N * D, 1.0, 42);
  std::vector<float> attn, dist, y;
  const double t_fwd = time_us(5, [&] { y = l.forward(x, 1, &attn, &dist); });
  double sum = 0, peak = 0;
  for (const float v : y) sum += v, peak = std::max(peak, double{std::fabs(v)});
  std::cout << "forward (B = 1, deterministic input): " << fmt("%.3f ms", t_fwd / 1000)
            << ", y sum " << fmt("%.6g", sum) << ", max |y| " << fmt("%.6g", peak) << '\n'
            << "fold of the positional branch (run time, once): " << fmt("%.1f us", t_fold)
            << "\n\n";

  report_heads(fold.view(), dist, query);
  report_firmware(g, H);
  const rgb_image img = draw_panel(fold.view(), query);
  io::write_file_atomic(o.output, encode_png(img));
  std::cout << "wrote " << o.output << ": " << img.width() << "x" << img.height()
            << " px, positional attention of query patch " << query << " for heads h0..h" << H - 1
            << '\n';
}

}  // namespace

void add_demo(CLI::App& app) {
  auto o = std::make_shared<demo_options>();
  CLI::App* cmd = app.add_subcommand(
      "demo", "Run a ConViT-S-shaped GPSA layer (local_init) and draw its heads' attention maps");
  cmd->add_option("--weights", o->weights, "a safetensors checkpoint instead of local_init");
  cmd->add_option("--prefix", o->prefix, "GPSA layer of the checkpoint (default: the first)");
  cmd->add_option("--grid", o->grid, "patch grid S or RxC")->capture_default_str();
  cmd->add_option("--query", o->query, "query patch: index p or y,x (default: the centre)");
  cmd->add_option("-o,--output", o->output, "PNG to write")->capture_default_str();
  cmd->callback([o] { run_demo(*o); });
}

}  // namespace gpsa::cli
