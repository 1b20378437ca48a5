// gpsa table — writes a grid's relative-index table (N, N, 3) as a NumPy .npy or a C99 header.
#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <iostream>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "commands.hpp"
#include "gpsa/grid.hpp"
#include "gpsa/io.hpp"
#include "gpsa/registry.hpp"
#include "gpsa/rel_indices.hpp"
#include "gpsa/version.hpp"

namespace gpsa::cli {
namespace {

// Largest table gpsa table writes: 2^28 values (1 GiB as f32, square grids up to 97x97).
constexpr std::size_t kMaxValues = std::size_t{1} << 28;

struct table_options {
  std::string grid;
  std::string dtype = "f32";
  std::string format = "npy";
  std::string output;
};

enum class out_format { npy, c };

enum class size_parse { ok, malformed, too_large };

// One decimal size, digits only (no sign, no spaces).
size_parse parse_size(std::string_view s, std::size_t& out) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos)
    return size_parse::malformed;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc::result_out_of_range ? size_parse::too_large : size_parse::ok;
}

// "S" (square) or "RxC"; every failure names the value.
grid parse_grid(const std::string& text) {
  const std::string shown = "--grid '" + text + "'";
  const std::size_t x = text.find_first_of("xX");
  grid g{};
  size_parse r = size_parse::ok, c = size_parse::ok;
  if (x == std::string::npos) {
    r = c = parse_size(text, g.rows);
    g.cols = g.rows;
  } else {
    r = parse_size(std::string_view(text).substr(0, x), g.rows);
    c = parse_size(std::string_view(text).substr(x + 1), g.cols);
  }
  if (r == size_parse::malformed || c == size_parse::malformed)
    throw cli_error(shown + ": expected S or RxC with positive integers, e.g. 14 or 8x32");
  if (r == size_parse::too_large || c == size_parse::too_large)
    throw cli_error(shown + ": grid size out of range");
  if (g.empty()) throw cli_error(shown + ": a grid needs at least one row and one column");
  std::size_t count = 0;
  if (const status s = rel_indices_count(g, count); s != status::ok)
    throw cli_error(shown + ": the (N, N, 3) table's " + status_message(s));
  if (count > kMaxValues)
    throw cli_error(shown + ": the table has " + std::to_string(count) +
                    " values; gpsa table writes at most " + std::to_string(kMaxValues) +
                    " (square grids up to 97)");
  return g;
}

out_format parse_format(const std::string& text) {
  if (text == "npy") return out_format::npy;
  if (text == "c") return out_format::c;
  throw cli_error("--format '" + text + "': expected npy or c");
}

io::npy_dtype parse_dtype(const std::string& text) {
  if (text == "f32") return io::npy_dtype::f32;
  if (text == "f64") return io::npy_dtype::f64;
  if (text == "i8") return io::npy_dtype::i8;
  if (text == "i16") return io::npy_dtype::i16;
  if (text == "i32") return io::npy_dtype::i32;
  throw cli_error("--dtype '" + text + "': expected f32, f64, i8, i16 or i32");
}

std::string dims_text(grid g) { return std::to_string(g.rows) + "x" + std::to_string(g.cols); }

// The --grid value that regenerates g: "14" for square grids, "8x32" otherwise.
std::string grid_arg(grid g) { return g.square() ? std::to_string(g.rows) : dims_text(g); }

template <class T>
constexpr const char* c_type_name() {
  if constexpr (std::is_same_v<T, float>)
    return "float";
  else if constexpr (std::is_same_v<T, double>)
    return "double";
  else if constexpr (std::is_same_v<T, std::int8_t>)
    return "int8_t";
  else if constexpr (std::is_same_v<T, std::int16_t>)
    return "int16_t";
  else
    return "int32_t";
}

// Appends v (an exact small integer in any element type) in decimal.
template <class T>
void append_value(std::string& out, T v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v));
  out.append(buf, r.ptr);
}

// The self-contained C99 header: guard, <stdint.h>, shape macros, provenance, one
// `static const T name[N][N][3]` with one source line per key row.
template <class T>
std::string c_header(rel_view<T> t, const std::string& dtype, const std::string& leaf) {
  const grid g = t.shape;
  const std::size_t n = t.patches();
  std::string name = "gpsa_rel_indices_" + dims_text(g);
  if (dtype != "f32") name += "_" + dtype;
  std::string macro = name;
  for (char& ch : macro) ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
  const std::string ns = std::to_string(n), rs = std::to_string(g.rows),
                    cs = std::to_string(g.cols);

  std::string out;
  out.reserve(2048 + t.size() * 6 + n * (g.rows * 4 + 40));
  const auto line = [&out](std::initializer_list<std::string_view> parts) {
    for (const std::string_view part : parts) out.append(part);
    out += '\n';
  };
  line({"/* ", name, ": ConViT relative-position table of a ", rs, " x ", cs, " patch grid."});
  line({" *"});
  line({" * Generated by gpsa " GPSA_VERSION_STRING ":"});
  line({" *   gpsa table --grid ", grid_arg(g), " --dtype ", dtype, " --format c -o ", leaf});
  line({" * Do not edit; regenerate with the command above."});
  line({" *"});
  line({" * Same values and layout as timm's GPSA.get_rel_indices (models/convit.py): shape"});
  line({" * (N, N, 3), N = R * C = ", ns,
        ", patch p = y * C + x (row-major). For query p = (yp, xp)"});
  line({" * and key q = (yq, xq), element [p][q][c] is"});
  line({" *   c = 0: dx = xq - xp,   c = 1: dy = yq - yp,   c = 2: dx * dx + dy * dy."});
  line({" * All values are exact integers, stored as ", c_type_name<T>(), "."});
  line({" */"});
  line({"#ifndef ", macro, "_H"});
  line({"#define ", macro, "_H"});
  line({});
  line({"#include <stdint.h>"});
  line({});
  line({"#define ", macro, "_ROWS ", rs});
  line({"#define ", macro, "_COLS ", cs});
  line({"#define ", macro, "_PATCHES ", ns});
  line({"#define ", macro, "_CHANNELS 3"});
  line({"#define ", macro, "_SIZE ", std::to_string(t.size())});
  line({});
  line({"static const ", c_type_name<T>(), " ", name, "[", ns, "][", ns, "][3] = {"});
  const T* v = t.data();
  for (std::size_t p = 0; p < n; ++p) {
    out += "  { /* p = ";
    append_value(out, p);
    out += ": y ";
    append_value(out, p / g.cols);
    out += ", x ";
    append_value(out, p % g.cols);
    out += " */\n";
    for (std::size_t yq = 0; yq < g.rows; ++yq) {
      out += "   ";
      for (std::size_t xq = 0; xq < g.cols; ++xq, v += 3) {
        out += " {";
        append_value(out, v[0]);
        out += ", ";
        append_value(out, v[1]);
        out += ", ";
        append_value(out, v[2]);
        out += "},";
      }
      out += '\n';
    }
    out += "  },\n";
  }
  out += "};\n\n#endif /* " + macro + "_H */\n";
  return out;
}

template <class T>
void write_table(grid g, io::npy_dtype dt, const table_options& o, out_format fmt) {
  if (!rel_values_fit<T>(g))
    throw cli_error("--dtype '" + o.dtype + "' cannot hold grid " + dims_text(g) +
                    "'s values (dx^2+dy^2 reaches " +
                    std::to_string((g.rows - 1) * (g.rows - 1) + (g.cols - 1) * (g.cols - 1)) +
                    "); choose a wider --dtype");
  std::size_t count = 0;
  (void)rel_indices_count(g, count);  // checked by parse_grid
  // f32 (PyTorch's type) goes through the registry: a baked grid is served from .rodata and
  // needs no buffer. Other types use the runtime fill: baking them too would add ~30 s and
  // 5 MB to this CLI for tables the fill makes in microseconds.
  std::vector<T> buffer;
  rel_lookup<T> r{};
  if constexpr (std::is_same_v<T, float>) {
    if (!is_baked<T>(g)) buffer.resize(count);
    r = lookup_rel_indices<T>(g, std::span<T>(buffer));
  } else {
    buffer.resize(count);
    r.code = fill_rel_indices<T>(g, std::span<T>(buffer));
    r.view = rel_view<T>{buffer.data(), g};
  }
  if (!r) throw cli_error("--grid '" + o.grid + "': " + status_message(r.code));

  const std::size_t n = r.view.patches();
  const std::size_t shape[3] = {n, n, 3};
  const std::string bytes =
      fmt == out_format::npy
          ? io::npy_bytes(dt, shape, r.view.data())
          : c_header<T>(r.view, o.dtype, std::filesystem::path(o.output).filename().string());
  io::write_file_atomic(o.output, bytes);
  std::cout << "gpsa table: wrote " << o.output << " ("
            << (fmt == out_format::npy ? "npy" : "C99 header") << ", grid " << dims_text(g)
            << ", shape (" << n << ", " << n << ", 3), " << o.dtype << ", "
            << rel_source_name(r.source) << " table)\n";
}

}  // namespace

void add_table(CLI::App& app) {
  auto opts = std::make_shared<table_options>();
  CLI::App* sub = app.add_subcommand(
      "table",
      "Write a grid's relative-index table (N, N, 3: dx, dy, dx^2+dy^2) as .npy or a C99 header");
  sub->add_option("--grid", opts->grid, "Patch grid: S (S x S) or RxC, e.g. 14 or 8x32")
      ->required();
  sub->add_option("--dtype", opts->dtype, "Element type: f32 (default), f64, i8, i16, i32");
  sub->add_option("--format", opts->format, "Output format: npy (default) or c");
  sub->add_option("-o,--output", opts->output, "Output file (written atomically)")->required();
  sub->callback([opts] {
    const table_options& o = *opts;
    const grid g = parse_grid(o.grid);
    const io::npy_dtype dt = parse_dtype(o.dtype);
    const out_format fmt = parse_format(o.format);
    switch (dt) {
      case io::npy_dtype::f32:
        write_table<float>(g, dt, o, fmt);
        break;
      case io::npy_dtype::f64:
        write_table<double>(g, dt, o, fmt);
        break;
      case io::npy_dtype::i8:
        write_table<std::int8_t>(g, dt, o, fmt);
        break;
      case io::npy_dtype::i16:
        write_table<std::int16_t>(g, dt, o, fmt);
        break;
      case io::npy_dtype::i32:
        write_table<std::int32_t>(g, dt, o, fmt);
        break;
    }
  });
}

}  // namespace gpsa::cli
