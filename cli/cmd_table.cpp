// SPDX-License-Identifier: MIT
// gpsa table — writes a grid's relative-index table (N, N, 3) as a NumPy .npy or a C99 header.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "cli_args.hpp"
#include "commands.hpp"
#include "gpsa/codegen.hpp"
#include "gpsa/grid.hpp"
#include "gpsa/registry.hpp"
#include "gpsa/rel_indices.hpp"
#include "gpsa/runtime/byte_budget.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/npy.hpp"
#include "gpsa/runtime/output_set.hpp"
#include "output_arg.hpp"

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

// "S" (square) or "RxC" through the CLI's shared parser, then the table's own size limits.
grid parse_grid(const std::string& text) {
  const std::string shown = "--grid '" + io::printable(text, 200) + "'";
  const grid g = parse_grid_text(text);
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
  throw cli_error("--format '" + io::printable(text, 200) + "': expected npy or c");
}

io::npy_dtype parse_dtype(const std::string& text) {
  if (text == "f32") return io::npy_dtype::f32;
  if (text == "f64") return io::npy_dtype::f64;
  if (text == "i8") return io::npy_dtype::i8;
  if (text == "i16") return io::npy_dtype::i16;
  if (text == "i32") return io::npy_dtype::i32;
  throw cli_error("--dtype '" + io::printable(text, 200) + "': expected f32, f64, i8, i16 or i32");
}

std::string dims_text(grid g) { return std::to_string(g.rows) + "x" + std::to_string(g.cols); }

// The --grid value that regenerates g: "14" for square grids, "8x32" otherwise.
std::string grid_arg(grid g) { return g.square() ? std::to_string(g.rows) : dims_text(g); }

// Streams grid g's (N, N, 3) table into `out` query row by query row, each row assembled from
// the compact (2R-1, 2C-1, 3) offset table (every query row is R windows of it), so memory is
// the offsets plus a ~1 MiB chunk instead of the whole table (and never the file twice).
template <class T>
void stream_table(io::output_file& out, grid g, io::npy_dtype dt) {
  const std::size_t R = g.rows, C = g.cols, N = g.patches(), W = 2 * C - 1;
  std::vector<T> offsets((2 * R - 1) * W * 3);
  if (const status s = fill_rel_offsets<T>(g, std::span<T>(offsets)); s != status::ok)
    throw cli_error(status_message(s));
  const std::size_t shape[3] = {N, N, 3};
  io::npy_writer w(out, dt, shape);
  const std::size_t row = N * 3,
                    rows_per_chunk = std::max<std::size_t>(1, (1 << 20) / sizeof(T) / row);
  std::vector<T> chunk;
  chunk.reserve(rows_per_chunk * row);
  for (std::size_t p = 0; p < N; ++p) {
    const std::size_t yp = p / C, xp = p % C;
    for (std::size_t yq = 0; yq < R; ++yq) {  // offsets row yq - yp + R - 1, columns from C-1-xp
      const T* src = offsets.data() + ((yq + R - 1 - yp) * W + (C - 1 - xp)) * 3;
      chunk.insert(chunk.end(), src, src + C * 3);
    }
    if (chunk.size() == rows_per_chunk * row || p + 1 == N) {
      w.append(std::span<const T>(chunk));
      chunk.clear();
    }
  }
  w.finish();
}

template <class T>
void write_table(grid g, io::npy_dtype dt, const table_options& o, out_format fmt) {
  if (!rel_values_fit<T>(g))
    throw cli_error("--dtype '" + o.dtype + "' cannot hold grid " + dims_text(g) +
                    "'s values (dx^2+dy^2 reaches " +
                    std::to_string((g.rows - 1) * (g.rows - 1) + (g.cols - 1) * (g.cols - 1)) +
                    "); choose a wider --dtype");
  std::size_t count = 0;
  if (const status s = rel_indices_count(g, count); s != status::ok)  // checked by parse_grid
    throw cli_error("--grid '" + io::printable(o.grid, 200) + "': " + status_message(s));
  // The C text is built in memory from the whole table: bounded up front.
  if (fmt == out_format::c) {
    io::byte_budget b("--grid '" + io::printable(o.grid, 200) + "' --format c");
    b.add("table (N,N,3)", {count}, sizeof(T)).add("C text (about 6 bytes a value)", {count, 6}, 1);
    b.require();
  }
  // Staged before any work: a missing folder or an unwritable target fails here.
  io::output_set out;
  io::output_file& target = add_output(out, o.output, "-o");
  const std::size_t n = g.patches();
  rel_source source = rel_source::runtime;
  if (fmt == out_format::npy) {
    // A baked f32 table is written straight from .rodata; every other one is streamed.
    if constexpr (std::is_same_v<T, float>) {
      if (is_baked<T>(g)) {
        const rel_lookup<T> r = lookup_rel_indices<T>(g, std::span<T>());
        if (!r)
          throw cli_error("--grid '" + io::printable(o.grid, 200) + "': " + status_message(r.code));
        const std::size_t shape[3] = {n, n, 3};
        io::npy_writer w(target, dt, shape);
        w.append(r.view.span());
        w.finish();
        source = rel_source::baked;
      }
    }
    if (source != rel_source::baked) stream_table<T>(target, g, dt);
  } else {
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
    if (!r)
      throw cli_error("--grid '" + io::printable(o.grid, 200) + "': " + status_message(r.code));
    source = r.source;
    const std::string leaf = std::filesystem::path(o.output).filename().string();
    codegen::provenance from;
    from.command =
        "gpsa table --grid " + grid_arg(g) + " --dtype " + o.dtype + " --format c -o " + leaf;
    const std::string symbol =
        "gpsa_rel_indices_" + dims_text(g) + (o.dtype != "f32" ? "_" + o.dtype : "");
    target.write(codegen::rel_table_header<T>(r.view, symbol, from));
  }
  out.commit();
  std::ostringstream report;
  report << "gpsa table: wrote " << io::display_path(o.output) << " ("
         << (fmt == out_format::npy ? "npy" : "C99 header") << ", grid " << dims_text(g)
         << ", shape (" << n << ", " << n << ", 3), " << o.dtype << ", " << rel_source_name(source)
         << " table)\n";
  print_report(report.str(), o.output == "-");
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
  sub->add_option("-o,--output", opts->output, "Output file (written atomically; '-': stdout)")
      ->required();
  sub->callback([opts] {
    const table_options& o = *opts;
    require_path("-o", o.output, true);
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
