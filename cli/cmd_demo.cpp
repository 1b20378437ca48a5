// SPDX-License-Identifier: MIT
// gpsa demo: builds a ConViT-S-shaped GPSA layer with local_init (or loads a checkpoint), runs it,
// reports the table path, timings, each head's attention centre and nonlocality, the folded
// firmware size, and draws the heads' positional attention maps into a PNG. On a whole ConViT
// checkpoint it also plots, per GPSA block, each head's gate and nonlocality (positional and full
// layer): the two pictures of the ConViT paper that show how layers escape locality.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "canvas.hpp"
#include "cli_args.hpp"
#include "commands.hpp"
#include "gpsa/core/convit.hpp"
#include "gpsa/core/fold.hpp"
#include "gpsa/core/layer.hpp"
#include "gpsa/core/positional.hpp"
#include "gpsa/image.hpp"
#include "gpsa/registry.hpp"
#include "gpsa/runtime/byte_budget.hpp"
#include "gpsa/runtime/checkpoint_schema.hpp"
#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/folded_state.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/layer.hpp"
#include "gpsa/runtime/output_set.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace gpsa::cli {
namespace {

struct demo_options {
  std::string weights;
  std::string prefix;
  std::string grid = "14";
  std::string query;
  std::string output = "gpsa-demo.png";
  std::string image;
  std::string layer;
  data_config_options data;  // how --image is preprocessed (the model's data configuration)
  // Which options were given (the whole-checkpoint mode refuses --grid and --prefix).
  bool has_weights = false, has_prefix = false, has_grid = false, has_image = false,
       has_layer = false, has_query = false;
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
  const status st = gpsa::local_init(demo_heads, 1.0f, demo_dim, p.pos_proj_weight, p.v_weight);
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
      throw cli_error("--query '" + io::printable(text, 200) +
                      "': expected a patch index or y,x (e.g. 105 or 7,7)");
    if (p >= g.patches())
      throw cli_error("--query '" + io::printable(text, 200) +
                      "': patch index must be below N = " + std::to_string(g.patches()));
    return p;
  }
  std::size_t y = 0, x = 0;
  if (!parse_index(std::string_view(text).substr(0, comma), y) ||
      !parse_index(std::string_view(text).substr(comma + 1), x))
    throw cli_error("--query '" + io::printable(text, 200) +
                    "': expected a patch index or y,x (e.g. 105 or 7,7)");
  if (y >= g.rows || x >= g.cols)
    throw cli_error("--query '" + io::printable(text, 200) + "': y must be below " +
                    std::to_string(g.rows) + " and x below " + std::to_string(g.cols));
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
  double mean_dx = 0, mean_dy = 0, peak = 0;
};

// Attention centre of head h for query p, from the separable factors: the argmax is the pair of
// factor argmaxes, the centroid the pair of factor means.
head_report analyse_head(const folded_view& f, std::size_t h, std::size_t p) {
  const std::size_t R = f.shape.rows, C = f.shape.cols, yp = p / C, xp = p % C;
  head_report r;
  std::size_t ax = 0, ay = 0;
  for (std::size_t x = 0; x < C; ++x) {
    if (f.fx_at(h, xp, x) > f.fx_at(h, xp, ax)) ax = x;
    r.mean_dx +=
        static_cast<double>(f.fx_at(h, xp, x)) * (static_cast<double>(x) - static_cast<double>(xp));
  }
  for (std::size_t y = 0; y < R; ++y) {
    if (f.gy_at(h, yp, y) > f.gy_at(h, yp, ay)) ay = y;
    r.mean_dy +=
        static_cast<double>(f.gy_at(h, yp, y)) * (static_cast<double>(y) - static_cast<double>(yp));
  }
  r.peak_dx = static_cast<int>(ax) - static_cast<int>(xp);
  r.peak_dy = static_cast<int>(ay) - static_cast<int>(yp);
  r.peak = static_cast<double>(f.fx_at(h, xp, ax)) * static_cast<double>(f.gy_at(h, yp, ay));
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
        peak = std::max(
            peak, static_cast<double>(f.gy_at(h, yq, y)) * static_cast<double>(f.fx_at(h, xq, x)));
    for (std::size_t y = 0; y < R; ++y)
      for (std::size_t x = 0; x < C; ++x) {
        const double v =
            static_cast<double>(f.gy_at(h, yq, y)) * static_cast<double>(f.fx_at(h, xq, x));
        img.fill_rect(ox + x * cell, my + y * cell, cell, cell,
                      heat_color(peak > 0 ? v / peak : 0));
      }
    if (cell >= 4) img.outline_rect(ox + xq * cell, my + yq * cell, cell, cell, rgb{80, 200, 255});
  }
  return img;
}

// The demo's layer: local_init (no --weights) or a GPSA layer of a checkpoint; `origin` says which.
layer make_layer(const demo_options& o, const io::safetensors_file* file, std::string& origin) {
  if (file == nullptr) {
    origin = "ConViT-S-shaped, local_init (alpha = 1), gating_param = 1";
    return layer(local_init_params());
  }
  std::string prefix = o.prefix;
  if (!o.has_prefix) {
    const std::vector<std::string> found = gpsa_layer_prefixes(*file);
    if (found.empty())
      throw cli_error(io::display_path(o.weights) + ": no GPSA layer found (no key ends in '." +
                      std::string(gpsa_layer_marker) + "')");
    prefix = found.front();
  }
  origin = io::display_path(o.weights) + ", layer " + io::printable(prefix, 200);
  layer l(*file, prefix);
  // The fold would only say "invalid argument" for a NaN/Inf positional weight: name the key.
  const checkpoint_view v(*file, prefix);
  for (const tensor_spec& t : convit_block_tensors())
    if (t.positional)
      require_finite(v, t.layer_key(), l.params().*t.layer_field, nonfinite_cannot_fold);
  return l;
}

// The relative-index table: baked (compile time) vs the runtime fill, for this grid; and the
// layer's set_grid, which needs neither.
void report_table(std::ostream& os, layer& l, gpsa::grid g, const std::string& grid_text) {
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
  os << "relative-index table (" << g.patches() << " x " << g.patches() << " x 3 floats, "
     << bytes_text(table_count * sizeof(float)) << "):\n"
     << "  baked at compile time (registry lookup): "
     << (is_baked<float>(g) ? fmt("%10.3f us", t_lookup) : std::string("  not baked"))
     << (baked ? "   <- used" : "") << '\n'
     << "  runtime fill (fallback):                 " << fmt("%10.3f us", t_fill)
     << (baked ? "" : "   <- used") << '\n'
     << "  the layer needs neither: set_grid cached its positional branch as folded "
     << "(separable factors, no table) in " << fmt("%.1f us", t_set) << "\n\n";
}

// Per head: lambda, the attention centre for the query patch, nonlocality (of the positional
// map alone, gpsa::positional_nonlocality, and of the whole layer's attention).
void report_heads(std::ostream& os, const folded_view& view, const std::vector<float>& dist,
                  std::size_t query) {
  const std::size_t C = view.shape.cols;
  std::vector<float> pos_dist(view.heads);
  if (const status s = positional_nonlocality(view, pos_dist); s != status::ok)
    throw cli_error(std::string("positional nonlocality: ") + status_message(s));
  os << "query patch " << query << " = (y " << query / C << ", x " << query % C
     << "); offsets are (dx, dy) from it\n"
     << "head  lambda  peak at (dx,dy)  centroid (dx,dy)    peak  nonlocality: positional  "
        "layer\n";
  for (std::size_t h = 0; h < view.heads; ++h) {
    const head_report r = analyse_head(view, h, query);
    char line[160];
    std::snprintf(line, sizeof line,
                  "h%-3zu  %6.3f  (%+3d,%+3d)        (%+6.2f,%+6.2f)  %6.3f  %23.3f  %5.3f\n", h,
                  static_cast<double>(view.lambda[h]), r.peak_dx, r.peak_dy, r.mean_dx, r.mean_dy,
                  r.peak, static_cast<double>(pos_dist[h]), static_cast<double>(dist[h]));
    os << line;
  }
}

void report_firmware(std::ostream& os, gpsa::grid g, std::size_t H) {
  fold_counts counts{};
  if (const status s = layer_folded_size(g, H, counts); s != status::ok)
    throw cli_error(std::string("fold: ") + status_message(s));
  const std::size_t N = g.patches();
  const std::size_t folded = counts.total() * sizeof(float), dense = H * N * N * sizeof(float);
  os << "\nfolded firmware state per layer: H*(R^2+C^2)+H = " << counts.total()
     << " floats = " << bytes_text(folded) << "; dense positional attention H*N^2 = " << H * N * N
     << " floats = " << bytes_text(dense) << " ("
     << fmt("%.0fx", static_cast<double>(dense) / static_cast<double>(folded)) << " larger)\n";
}

// ---- the whole-checkpoint mode ---------------------------------------------------------------

// Head colours for the plots: hues spread evenly, bright enough on the dark background.
rgb head_color(std::size_t h, std::size_t heads) {
  const double hue =
      6.0 * static_cast<double>(h) / static_cast<double>(std::max<std::size_t>(1, heads));
  const double f = hue - std::floor(hue);
  const auto c = [](double v) { return static_cast<std::uint8_t>(std::lround(70 + 185 * v)); };
  switch (static_cast<int>(hue) % 6) {
    case 0:
      return {c(1), c(f), c(0)};
    case 1:
      return {c(1 - f), c(1), c(0)};
    case 2:
      return {c(0), c(1), c(f)};
    case 3:
      return {c(0), c(1 - f), c(1)};
    case 4:
      return {c(f), c(0), c(1)};
    default:
      return {c(1), c(0), c(1 - f)};
  }
}

constexpr rgb k_background{24, 24, 28}, k_text{235, 235, 235}, k_axis{160, 160, 170},
    k_grid{52, 52, 60};

// The picture's geometry (tests/demo reproduces it): text at scale 2 (5x7 glyphs as 10x14 px),
// two plots stacked on the left, each a title line, a plot area, tick labels and an axis label;
// under them the legend; on the right three title lines over the positional maps of one block.
namespace geometry {
constexpr std::size_t margin = 10, text_scale = 2, line_h = 18;
constexpr std::size_t plot_left = 60, plot_w = 400, plot_right = 20;   // y tick labels | area
constexpr std::size_t plot_top = 28, plot_h = 220, plot_bottom = 50;   // title | area | x labels
constexpr std::size_t plot_total_w = plot_left + plot_w + plot_right;  // 480
constexpr std::size_t plot_total_h = plot_top + plot_h + plot_bottom;  // 298
constexpr std::size_t legend_per_row = 8, legend_item_w = 60;
constexpr std::size_t column_gap = 20, right_min_w = 300, right_title_h = 3 * line_h + 6;
constexpr std::size_t legend_h(std::size_t heads) {
  return line_h * (1 + (heads + legend_per_row - 1) / legend_per_row) + 6;
}
}  // namespace geometry

// A plot area: data coordinates to pixels. x runs over blocks 0 .. count-1 (one column each).
struct plot_area {
  std::size_t x0, y0;  // top-left pixel of the area
  std::size_t blocks;
  double ymax;
  long px(double block) const {
    return static_cast<long>(x0) +
           std::lround((block + 0.5) * geometry::plot_w / static_cast<double>(blocks));
  }
  long py(double v) const {
    const double t = std::clamp(v / ymax, 0.0, 1.0);
    return static_cast<long>(y0) + std::lround((1.0 - t) * (geometry::plot_h - 1));
  }
};

// A number for a tick label: at most two decimals, no trailing zeros ("0.25", "0.5", "2").
std::string tick_text(double v) {
  std::string t = fmt("%.2f", v);
  while (t.back() == '0') t.pop_back();
  if (t.back() == '.') t.pop_back();
  return t;
}

// A round step for about `ticks` intervals up to `top` (1, 2 or 5 times a power of ten).
double nice_step(double top, double ticks) {
  const double raw = top / ticks, p = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 5.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

// Frame, grid lines, tick labels, title and axis labels of one plot whose area starts at (x, y).
plot_area draw_axes(rgb_image& img, std::size_t x, std::size_t y, std::size_t blocks, double ymax,
                    double ystep, const std::string& title, const std::string& xlabel) {
  using namespace geometry;
  const plot_area a{x + plot_left, y + plot_top, blocks, ymax};
  img.draw_text(x, y + 4, title, text_scale, k_text);
  for (double v = 0; v <= ymax * (1 + 1e-9); v += ystep) {
    const long yy = a.py(v);
    for (std::size_t i = 0; i < plot_w; i += 4)
      img.set(a.x0 + i, static_cast<std::size_t>(yy), k_grid);
    const std::string t = tick_text(v);
    img.draw_text(a.x0 - 8 - text_width(t, text_scale), static_cast<std::size_t>(yy) - 7, t,
                  text_scale, k_axis);
  }
  img.outline_rect(a.x0 - 1, a.y0 - 1, plot_w + 2, plot_h + 2, k_axis);
  const std::size_t every = blocks > 16 ? (blocks + 15) / 16 : 1;
  for (std::size_t b = 0; b < blocks; b += every) {
    const std::string t = std::to_string(b);
    const long xx = a.px(static_cast<double>(b));
    img.fill_rect(static_cast<std::size_t>(xx), a.y0 + plot_h, 1, 5, k_axis);
    img.draw_text(static_cast<std::size_t>(xx) - text_width(t, text_scale) / 2, a.y0 + plot_h + 8,
                  t, text_scale, k_axis);
  }
  img.draw_text(a.x0 + (plot_w - text_width(xlabel, text_scale)) / 2, a.y0 + plot_h + 30, xlabel,
                text_scale, k_text);
  return a;
}

// One head's values across the blocks: a line through them and a marker on each.
void draw_series(rgb_image& img, const plot_area& a, const std::vector<double>& v, rgb c,
                 bool filled) {
  for (std::size_t b = 0; b < v.size(); ++b) {
    const long x = a.px(static_cast<double>(b)), y = a.py(v[b]);
    if (filled && b + 1 < v.size())
      img.draw_line(x, y, a.px(static_cast<double>(b + 1)), a.py(v[b + 1]), c);
    if (filled)
      img.fill_disc(x, y, 4, c);
    else
      img.draw_ring(x, y, 5, c);
  }
}

struct whole_report {
  std::size_t blocks = 0, heads = 0;
  std::vector<double> lambda;           // (blocks, heads): sigmoid(gating_param)
  std::vector<float> positional, full;  // (blocks, heads): nonlocality in patches
};

// The picture: gates and nonlocality per block (left), block `layer`'s positional maps (right).
rgb_image draw_whole(const whole_report& r, const folded_view& maps, std::size_t layer,
                     std::size_t query) {
  using namespace geometry;
  const std::size_t L = r.blocks, H = r.heads;
  const rgb_image panel = draw_panel(maps, query);
  const std::size_t left_h = 2 * plot_total_h + margin + legend_h(H);
  const std::size_t right_w = std::max(panel.width(), right_min_w);
  const std::size_t width = margin + plot_total_w + column_gap + right_w + margin;
  const std::size_t height = margin + std::max(left_h, right_title_h + panel.height()) + margin;
  rgb_image img(width, height, k_background);

  // Left, top: the gates.
  const plot_area g = draw_axes(img, margin, margin, L, 1.0, 0.25,
                                "gate lambda = sigmoid(gating_param)", "GPSA block");
  // Left, middle: the nonlocality, full layer (filled) and positional (rings).
  double top = 0;
  for (std::size_t i = 0; i < L * H; ++i)
    top = std::max({top, static_cast<double>(r.positional[i]), static_cast<double>(r.full[i])});
  if (!(top > 0) || !std::isfinite(top)) top = 1;
  const double step = nice_step(top, 4);
  const double ymax = std::ceil(top / step - 1e-9) * step;
  const plot_area d = draw_axes(img, margin, margin + plot_total_h + margin, L, ymax, step,
                                "mean attention distance (patches)", "GPSA block");
  for (std::size_t h = 0; h < H; ++h) {
    std::vector<double> lam(L), pos(L), full(L);
    for (std::size_t b = 0; b < L; ++b) {
      lam[b] = r.lambda[b * H + h];
      pos[b] = static_cast<double>(r.positional[b * H + h]);
      full[b] = static_cast<double>(r.full[b * H + h]);
    }
    draw_series(img, g, lam, head_color(h, H), true);
    draw_series(img, d, pos, head_color(h, H), false);
    draw_series(img, d, full, head_color(h, H), true);
  }
  // The legend: markers, then the heads' colours.
  std::size_t ly = margin + 2 * plot_total_h + margin + 4;
  std::size_t lx = margin + plot_left;
  img.fill_disc(static_cast<long>(lx + 5), static_cast<long>(ly + 7), 4, k_text);
  img.draw_text(lx + 16, ly, "full layer", text_scale, k_text);
  lx += 16 + text_width("full layer", text_scale) + 24;
  img.draw_ring(static_cast<long>(lx + 5), static_cast<long>(ly + 7), 5, k_text);
  img.draw_text(lx + 16, ly, "positional only", text_scale, k_text);
  for (std::size_t h = 0; h < H; ++h) {
    const std::size_t x = margin + plot_left + (h % legend_per_row) * legend_item_w;
    const std::size_t y = ly + line_h * (1 + h / legend_per_row);
    img.fill_rect(x, y + 2, 10, 10, head_color(h, H));
    img.draw_text(x + 14, y, "h" + std::to_string(h), text_scale, head_color(h, H));
  }
  // Right: the positional maps of one block, under three title lines.
  const std::size_t rx = margin + plot_total_w + column_gap, C = maps.shape.cols;
  img.draw_text(rx + margin, margin + 4, "GPSA block " + std::to_string(layer), text_scale, k_text);
  img.draw_text(rx + margin, margin + 4 + line_h, "positional attention", text_scale, k_text);
  img.draw_text(rx + margin, margin + 4 + 2 * line_h,
                "query (y " + std::to_string(query / C) + ", x " + std::to_string(query % C) + ")",
                text_scale, k_text);
  img.blit(panel, rx, margin + right_title_h);
  return img;
}

// Deterministic input for the full-layer distances when no --image is given: values uniform in
// [-2, 2] (about the range of a normalised image), the same on every machine.
std::vector<float> deterministic_images(const convit_config& c) {
  return random_values(c.channels * c.image_size * c.image_size, 2.0, 42);
}

void run_whole(const demo_options& o, io::safetensors_file&& file, io::output_set& out,
               io::output_file& png, std::ostream& report) {
  if (o.has_grid)
    throw cli_error("--grid: " + io::display_path(o.weights) +
                    " is a whole ConViT checkpoint, whose grid comes from its pos_embed; drop "
                    "--grid (or pick one layer with --prefix)");
  const gpsa::convit model(std::move(file));
  const convit_config& c = model.config();
  const std::size_t L = c.local_up_to_layer, H = c.heads;
  std::size_t layer_index = 0;
  if (o.has_layer && (!parse_index(o.layer, layer_index) || layer_index >= L))
    throw cli_error("--layer '" + io::printable(o.layer, 200) +
                    "': expected a GPSA block from 0 to " + std::to_string(L - 1) + " (" +
                    io::display_path(o.weights) + " has " + std::to_string(L) +
                    " GPSA blocks, local_up_to_layer = " + std::to_string(L) + ")");
  const gpsa::grid g = c.patch_grid();
  const std::size_t query = parse_query(o.query, g);
  // The forward's memory, refused before the image is read or anything computed.
  std::size_t floats = 0;
  if (const status s = convit_nonlocality_scratch_size(c, 1, 1, floats); s != status::ok)
    throw cli_error(io::display_path(o.weights) + ": nonlocality scratch: " + status_message(s));
  io::byte_budget budget(io::display_path(o.weights) + " (demo forward, B = 1)");
  budget.add("scratch", {floats}, sizeof(float)).require();

  // The input: --image preprocessed like timm, or the deterministic one.
  std::vector<float> x;
  std::string input;
  if (o.has_image) {
    require_image_model(c, o.weights, o.image,
                        "run the demo without --image (a deterministic input of the model's "
                        "shape)");
    const timm_data_config config =
        model_data_config(o.data, c.channels, c.image_size, image::max_size);
    const image::rgb8_image img = image::read(o.image, config);
    x = image::preprocess(img, config, o.image).data;
    input = io::display_path(o.image) + " (" +
            (img.format == image::file_format::png ? "PNG " : "JPEG ") + std::to_string(img.width) +
            "x" + std::to_string(img.height) + ", preprocessed like timm to " +
            std::to_string(c.image_size) + "x" + std::to_string(c.image_size) +
            (c.channels == 1 ? ", grey-scale" : "") + ")";
  } else {
    x = deterministic_images(c);
    input = "deterministic (values uniform in [-2, 2], seed 42; pass --image FILE for a picture)";
  }

  // Gates (double), positional nonlocality (input independent), full-layer nonlocality.
  whole_report r;
  r.blocks = L;
  r.heads = H;
  r.lambda.resize(L * H);
  for (std::size_t b = 0; b < L; ++b)
    for (std::size_t h = 0; h < H; ++h)
      r.lambda[b * H + h] =
          1.0 / (1.0 + std::exp(-static_cast<double>(model.weights().blocks[b].gating_param[h])));
  r.positional.resize(L * H);
  r.full.resize(L * H);
  if (const status s = convit_positional_nonlocality(model.weights(), r.positional);
      s != status::ok)
    throw cli_error(io::display_path(o.weights) + ": positional nonlocality: " + status_message(s));
  std::vector<float> scratch(floats);
  // The core forward reads C*S*S floats per image through a bare pointer: never fewer.
  if (x.size() != c.channels * c.image_size * c.image_size)
    throw cli_error(io::display_path(o.weights) + ": the input has " + std::to_string(x.size()) +
                    " values, the model takes " + std::to_string(c.channels) + "x" +
                    std::to_string(c.image_size) + "x" + std::to_string(c.image_size));
  status st = status::ok;
  const double t_fwd =
      time_us(1, [&] { st = convit_nonlocality(model.weights(), 1, x, r.full, scratch); });
  if (st != status::ok)
    throw cli_error(io::display_path(o.weights) + ": forward: " + status_message(st));

  // Block `layer_index`'s folded positional state: the maps and the per-head report.
  const folded_view& maps = model.weights().blocks[layer_index].folded;
  const rgb_image img = draw_whole(r, maps, layer_index, query);
  png.write(encode_png(img));
  out.commit();

  const std::size_t G = c.grid_side();
  report << "gpsa demo: whole ConViT from " << io::display_path(o.weights) << ": " << c.image_size
         << "x" << c.image_size << " images, " << G << "x" << G << " patches of " << c.patch_size
         << " px, D = " << c.dim << ", H = " << H << ", depth " << c.depth << " (GPSA blocks 0.."
         << L - 1 << ", then " << c.depth - L << " MHSA), " << c.classes << " classes\n"
         << "  input: " << input << "\n"
         << "  forward with the attention of every GPSA block measured: "
         << fmt("%.1f ms", t_fwd / 1000) << "\n\n"
         << "gate lambda = sigmoid(gating_param): 1 = positional attention only, 0 = content only\n"
         << "nonlocality = mean attention distance in patches, (1/N) sum_p sum_q |q - p| attn[p,q],"
            " of the positional\n  attention softmax(P) alone and of the full gated attention on"
            " the input\n"
         << "block  head  lambda  nonlocality: positional     full\n";
  for (std::size_t b = 0; b < L; ++b)
    for (std::size_t h = 0; h < H; ++h) {
      char line[128];
      std::snprintf(line, sizeof line, "%5zu  %4zu  %6.4f  %23.4f  %7.4f\n", b, h,
                    r.lambda[b * H + h], static_cast<double>(r.positional[b * H + h]),
                    static_cast<double>(r.full[b * H + h]));
      report << line;
    }
  report << "\nGPSA block " << layer_index << " (--layer): ";
  std::vector<float> dist(r.full.begin() + static_cast<std::ptrdiff_t>(layer_index * H),
                          r.full.begin() + static_cast<std::ptrdiff_t>((layer_index + 1) * H));
  report_heads(report, maps, dist, query);
  report << "\nwrote " << io::display_path(o.output) << ": " << img.width() << "x" << img.height()
         << " px: gate and nonlocality per GPSA block and head (left), positional attention of "
            "GPSA block "
         << layer_index << " for query patch " << query << " (right)\n";
}

// ---- the layer modes (local_init, or one GPSA layer of a checkpoint) -------------------------

void run_layer(const demo_options& o, const io::safetensors_file* file, io::output_set& out,
               io::output_file& png, std::ostream& report) {
  const gpsa::grid g = parse_grid_text(o.grid);
  const std::size_t N = g.patches();
  // The demo runs the dense layer (attention and softmax(P) are H x N x N): keep it small.
  if (N > max_demo_patches)
    throw cli_error("--grid " + o.grid + ": " + std::to_string(N) +
                    " patches; the demo runs the dense layer, use at most " +
                    std::to_string(max_demo_patches) + " (e.g. 32x32); gpsa fold handles any grid");
  const std::size_t query = parse_query(o.query, g);

  std::string origin;
  layer l = make_layer(o, file, origin);
  const std::size_t H = l.heads(), D = l.dim();
  report << "gpsa demo: GPSA layer with H = " << H << " heads, D = " << D << ", grid " << g.rows
         << "x" << g.cols << " (N = " << N << ")\n  weights: " << origin << "\n\n";
  report_table(report, l, g, o.grid);

  // The fold, the firmware form of the positional branch, and a forward on a fixed input.
  const layer_params& p = l.params();
  folded_state fold;
  const double t_fold = time_us(
      21, [&] { fold = folded_state(g, H, p.pos_proj_weight, p.pos_proj_bias, p.gating_param); });
  const std::vector<float> x = random_values(N * D, 1.0, 42);
  std::vector<float> attn, dist, y;
  const double t_fwd = time_us(5, [&] { y = l.forward(x, 1, &attn, &dist); });
  double sum = 0, peak = 0;
  for (const float v : y)
    sum += static_cast<double>(v), peak = std::max(peak, static_cast<double>(std::fabs(v)));
  report << "forward (B = 1, deterministic input): " << fmt("%.3f ms", t_fwd / 1000) << ", y sum "
         << fmt("%.6g", sum) << ", max |y| " << fmt("%.6g", peak) << '\n'
         << "fold of the positional branch (run time, once): " << fmt("%.1f us", t_fold) << "\n\n";

  report_heads(report, fold.view(), dist, query);
  report_firmware(report, g, H);
  const rgb_image img = draw_panel(fold.view(), query);
  png.write(encode_png(img));
  out.commit();
  report << "wrote " << io::display_path(o.output) << ": " << img.width() << "x" << img.height()
         << " px, positional attention of query patch " << query << " for heads h0..h" << H - 1
         << '\n';
}

void run_demo(const demo_options& o) {
  if (!o.has_weights && (o.has_prefix || o.has_image || o.has_layer))
    throw cli_error(std::string(o.has_prefix  ? "--prefix"
                                : o.has_image ? "--image"
                                              : "--layer") +
                    " needs --weights" + (o.has_prefix ? "" : " (a whole ConViT checkpoint)"));
  if (o.has_prefix && (o.has_image || o.has_layer))
    throw cli_error(std::string(o.has_image ? "--image" : "--layer") +
                    " takes a whole ConViT checkpoint; --prefix picks one GPSA layer instead "
                    "(drop one of them)");
  if (o.has_weights) require_path("--weights", o.weights);
  if (o.has_image) require_path("--image", o.image);
  if (o.has_query && o.query.empty())
    throw cli_error("--query '': expected a patch index or y,x (e.g. 105 or 7,7)");
  require_path("-o", o.output, true);
  // The PNG is checked and staged before any work; it may not replace an input. The report is
  // printed only once the PNG is in place.
  io::output_set out;
  if (o.has_weights) out.add_input(o.weights, "--weights");
  if (o.has_image) out.add_input(o.image, "--image");
  io::output_file& png = out.add(o.output, "-o");
  std::ostringstream report;
  if (!o.has_weights) {
    run_layer(o, nullptr, out, png, report);
  } else {
    io::safetensors_file file = io::read_safetensors(o.weights);
    // A whole ConViT (its patch embedding is there) unless --prefix picks one layer.
    if (!o.has_prefix && file.contains("patch_embed.proj.weight")) {
      run_whole(o, std::move(file), out, png, report);
    } else {
      if (o.has_image || o.has_layer)
        throw cli_error(std::string(o.has_image ? "--image" : "--layer") + ": " +
                        io::display_path(o.weights) +
                        " is not a whole ConViT checkpoint (no 'patch_embed.proj.weight'); "
                        "without --image and --layer the demo shows one of its GPSA layers");
      run_layer(o, &file, out, png, report);
    }
  }
  print_report(report.str());
}

}  // namespace

void add_demo(CLI::App& app) {
  auto o = std::make_shared<demo_options>();
  CLI::App* cmd = app.add_subcommand(
      "demo",
      "Run a ConViT-S-shaped GPSA layer (local_init) and draw its heads' attention maps; on a "
      "whole ConViT checkpoint, plot each GPSA block's gates and nonlocality too");
  CLI::Option* w = cmd->add_option(
      "--weights", o->weights,
      "a safetensors checkpoint instead of local_init: a whole ConViT (gates, nonlocality and "
      "maps of every GPSA block) or a file with GPSA layers");
  CLI::Option* p =
      cmd->add_option("--prefix", o->prefix, "show this one GPSA layer of the checkpoint");
  CLI::Option* g = cmd->add_option("--grid", o->grid, "patch grid S or RxC (layer modes)")
                       ->capture_default_str();
  CLI::Option* q =
      cmd->add_option("--query", o->query, "query patch: index p or y,x (default: the centre)");
  CLI::Option* im = cmd->add_option(
      "--image", o->image,
      "whole checkpoint: measure the full-layer nonlocality on this PNG/JPEG (default: a "
      "deterministic input)");
  CLI::Option* la = cmd->add_option(
      "--layer", o->layer, "whole checkpoint: the GPSA block whose maps are drawn (default 0)");
  cmd->add_option("-o,--output", o->output, "PNG to write")->capture_default_str();
  add_data_config_options(*cmd, o->data);
  cmd->callback([o, w, p, g, q, im, la] {
    o->has_weights = w->count() > 0;
    o->has_prefix = p->count() > 0;
    o->has_grid = g->count() > 0;
    o->has_image = im->count() > 0;
    o->has_layer = la->count() > 0;
    o->has_query = q->count() > 0;
    run_demo(*o);
  });
}

}  // namespace gpsa::cli
