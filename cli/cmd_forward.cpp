// SPDX-License-Identifier: MIT
// gpsa forward: runs one GPSA layer of a timm checkpoint on a .npy input; writes y, and optionally
// attn and dist.
#include <CLI/CLI.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cli_args.hpp"
#include "commands.hpp"
#include "gpsa/runtime/byte_budget.hpp"
#include "gpsa/runtime/checkpoint_schema.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/layer.hpp"
#include "gpsa/runtime/npy.hpp"
#include "gpsa/runtime/output_set.hpp"
#include "gpsa/runtime/safetensors.hpp"
#include "gpsa/runtime/thread_pool_executor.hpp"

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
  std::string threads;
  bool strict = false;
  // Whether the optional flags were given (an empty value must be refused, not ignored).
  const CLI::Option* attention_opt = nullptr;
  const CLI::Option* distances_opt = nullptr;
  const CLI::Option* grid_opt = nullptr;
  const CLI::Option* threads_opt = nullptr;
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
void strict_inputs(const forward_options& o, const io::safetensors_file& wf, const layer& l,
                   const io::tensor& x) {
  const checkpoint_view v(wf, o.prefix);
  for (const tensor_spec& t : convit_block_tensors())
    if (t.layer_field != nullptr && v.has(t.layer_key()))
      gpsa::require_finite(v, t.layer_key(), l.params().*t.layer_field, kRefused);
  require_finite(io::display_path(o.input), x.shape, x.data, kRefused);
}

// x's batch and patch counts (x is (B,N,D) or (N,D)) and the grid: --grid, or the square of N.
struct input_shape {
  std::size_t batch = 0, patches = 0;
  gpsa::grid g{};
};

input_shape shape_of(const forward_options& o, const io::tensor& x, std::size_t D,
                     const std::optional<gpsa::grid>& grid_arg) {
  const std::string in = io::display_path(o.input);
  if ((x.shape.size() != 2 && x.shape.size() != 3) || x.shape.back() != D)
    throw cli_error(in + ": input has shape " + io::shape_text(x.shape) + ", expected (B,N," +
                    std::to_string(D) + ") or (N," + std::to_string(D) +
                    ") (D = " + std::to_string(D) + " from " + io::display_path(o.weights) + ")");
  input_shape s;
  s.batch = x.shape.size() == 3 ? x.shape[0] : 1;
  s.patches = x.shape[x.shape.size() - 2];
  const std::size_t N = s.patches;
  if (s.batch == 0 || N == 0)
    throw cli_error(in + ": input has shape " + io::shape_text(x.shape) +
                    ", which holds no patches");
  if (grid_arg) {
    s.g = *grid_arg;
    if (s.g.patches() != N)
      throw cli_error(in + ": input has N = " + std::to_string(N) + " patches but --grid " +
                      io::printable(o.grid, 200) + " has " + std::to_string(s.g.patches()));
  } else if (square_grid_from_patches(N, s.g) != status::ok) {
    throw cli_error(in + ": N = " + std::to_string(N) +
                    " patches is not a perfect square; pass the grid with --grid RxC (R*C = " +
                    std::to_string(N) + ")");
  }
  return s;
}

// Everything the run will allocate beyond the files already read, refused up front with the
// bytes (docs/reliability.md, limits): the folded positional branch, the kernels' scratch, y,
// and attn when --attention or --distances asks for it.
void check_work_size(const forward_options& o, const input_shape& in, std::size_t H, std::size_t D,
                     std::size_t workers, bool attn) {
  const std::size_t B = in.batch, N = in.patches, R = in.g.rows, C = in.g.cols;
  const std::string subject = given(o.grid_opt)
                                  ? "--grid '" + io::printable(o.grid, 200) + "'"
                                  : "--input '" + io::display_path(o.input) + "' (grid " +
                                        grid_str(in.g) + ", H = " + std::to_string(H) + ")";
  std::size_t scratch = 0;
  if (const status s = layer_scratch_size({H, D, in.g, B}, workers, scratch); s != status::ok)
    throw cli_error(subject + ": the layer's scratch: " + status_message(s));
  io::byte_budget b(subject);
  b.add("folded positional branch (H,C,C)", {H, C, C}, sizeof(float))
      .add("(H,R,R)", {H, R, R}, sizeof(float))
      .add("scratch", {scratch}, sizeof(float))
      .add("-o y", {B, N, D}, sizeof(float));
  if (attn)
    b.add(given(o.attention_opt) ? "--attention attn" : "attn for --distances", {B, H, N, N},
          sizeof(float));
  b.require();
}

void run_forward(const forward_options& o) {
  // Arguments first: nothing is read or created while one of them is wrong.
  require_path("--weights", o.weights);
  require_path("--input", o.input);
  require_path("-o", o.output, true);
  const bool want_attn = given(o.attention_opt), want_dist = given(o.distances_opt);
  if (want_attn) require_path("--attention", o.attention, true);
  if (want_dist) require_path("--distances", o.distances, true);
  std::optional<gpsa::grid> grid_arg;
  if (given(o.grid_opt)) grid_arg = parse_grid_text(o.grid);
  const std::size_t threads = given(o.threads_opt) ? parse_threads(o.threads) : 0;

  // Every output is staged before anything is read (a missing folder, an output that is an
  // input, two outputs naming one file fail here) and replaced only when all are complete:
  // a failure leaves an old y.npy exactly as it was.
  io::output_set out;
  out.add_input(o.weights, "--weights");
  out.add_input(o.input, "--input");
  io::output_file& y_out = out.add(o.output, "-o");
  io::output_file* attn_out = want_attn ? &out.add(o.attention, "--attention") : nullptr;
  io::output_file* dist_out = want_dist ? &out.add(o.distances, "--distances") : nullptr;

  const io::safetensors_file wf = io::read_safetensors(o.weights);
  layer l(wf, o.prefix);
  const io::tensor x = io::read_npy(o.input);
  // Default: NaN/Inf flow through like in PyTorch. --strict refuses them up front.
  if (o.strict) strict_inputs(o, wf, l, x);
  const std::size_t D = l.dim(), H = l.heads();
  const input_shape in = shape_of(o, x, D, grid_arg);
  const std::size_t B = in.batch, N = in.patches;
  check_work_size(o, in, H, D, threads == 0 ? 1 : threads, want_attn || want_dist);
  l.set_grid(in.g);
  // --threads: the host (this CLI) owns the threads; without it gpsa starts none.
  std::unique_ptr<thread_pool_executor> pool;
  if (threads != 0) {
    pool = start_workers(threads, o.threads);
    l.set_executor(&pool->get());
  }

  std::vector<float> attn, dist;
  const std::vector<float> y =
      l.forward(x.data, B, want_attn ? &attn : nullptr, want_dist ? &dist : nullptr);
  pool.reset();  // joined: nothing runs while the files are written
  const std::vector<std::size_t> attn_shape = x.shape.size() == 3
                                                  ? std::vector<std::size_t>{B, H, N, N}
                                                  : std::vector<std::size_t>{H, N, N};
  const std::vector<std::size_t> dist_shape{H};
  // Finite inputs can still overflow float32 (e.g. weights near FLT_MAX).
  if (o.strict) {
    constexpr const char* overflow = " although the inputs are finite (float32 overflow; --strict)";
    require_finite("-o " + io::display_path(o.output) + ": y", x.shape, y, overflow);
    if (want_attn)
      require_finite("--attention " + io::display_path(o.attention) + ": attn", attn_shape, attn,
                     overflow);
    if (want_dist)
      require_finite("--distances " + io::display_path(o.distances) + ": dist", dist_shape, dist,
                     overflow);
  }
  // Straight from the results into the staged files (no second copy of any array).
  io::write_npy(y_out, x.shape, y);
  if (attn_out != nullptr) io::write_npy(*attn_out, attn_shape, attn);
  if (dist_out != nullptr) io::write_npy(*dist_out, dist_shape, dist);
  out.commit();
  std::ostringstream report;
  report << io::display_path(o.output) << ": y " << io::shape_text(x.shape) << ", grid "
         << grid_str(in.g) << ", H = " << H << ", D = " << D
         << (l.has_qkv_bias() ? ", qkv bias" : "") << ", positional branch folded"
         << (threads != 0 ? ", " + std::to_string(threads) + " worker thread(s)" : "") << '\n';
  print_report(report.str());
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
  o->attention_opt =
      cmd->add_option("--attention", o->attention, "also write attn.npy, (B,H,N,N) or (H,N,N)");
  o->distances_opt =
      cmd->add_option("--distances", o->distances, "also write the nonlocality dist.npy, (H)");
  o->grid_opt =
      cmd->add_option("--grid", o->grid, "patch grid S or RxC (default: square, S = sqrt(N))");
  o->threads_opt = cmd->add_option(
      "--threads", o->threads,
      "split the work over N worker threads (1 to 256; the results are bit-identical for any N); "
      "default: the calling thread only, gpsa starts no thread");
  cmd->add_flag("--strict", o->strict,
                "refuse NaN/Inf in the weights or the input (and an overflowed result); by "
                "default they propagate like in PyTorch");
  cmd->callback([o] { run_forward(*o); });
}

}  // namespace gpsa::cli
