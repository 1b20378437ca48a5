// SPDX-License-Identifier: MIT
// gpsa bench: times the user's own ConViT checkpoint: load (read, fold, pack), the forward's
// latency per batch (p50 / p90 / p99 over K iterations after W warm-up runs), images per second
// and the process's peak memory; a human-readable report, or JSON for scripts.
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "commands.hpp"
#include "gpsa/core/convit.hpp"
#include "gpsa/core/convit_int8.hpp"
#include "gpsa/core/linalg.hpp"
#include "gpsa/runtime/byte_budget.hpp"
#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/thread_pool_executor.hpp"
#include "gpsa/version.hpp"
#include "int8_calibration.hpp"
#include "model_text.hpp"

namespace gpsa::cli {
namespace {

struct bench_options {
  std::string weights;
  std::string batch = "1";
  std::string threads;
  std::string iterations = "20";
  std::string warmup = "3";
  bool json = false;
  int8_options int8;  // --int8 --calibration x.npy
  bool has_threads = false;
};

// Largest --batch, --iterations and --warmup (a typo such as 1e9 iterations is refused).
constexpr std::size_t max_batch = 4096;
constexpr std::size_t max_iterations = 1'000'000;

// A decimal integer in [lo, max] for `flag`; anything else is an error naming the value.
std::size_t parse_count(const std::string& text, std::string_view flag, std::size_t lo,
                        std::size_t max, std::string_view what) {
  std::size_t v = 0;
  bool ok = !text.empty() && text.size() <= 9;
  for (const char c : text) {
    if (c < '0' || c > '9') ok = false;
    if (ok) v = v * 10 + static_cast<std::size_t>(c - '0');
  }
  if (!ok || v < lo || v > max)
    throw cli_error(std::string(flag) + " '" + io::printable(text, 200) +
                    "': expected an integer from " + std::to_string(lo) + " to " +
                    std::to_string(max) + " (" + std::string(what) + ")");
  return v;
}

// Peak resident set size of this process in bytes: VmHWM of /proc/self/status, else ru_maxrss.
double peak_rss_bytes() {
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    double kb = -1;
    while (std::fgets(line, sizeof line, f) != nullptr)
      if (std::strncmp(line, "VmHWM:", 6) == 0) kb = std::strtod(line + 6, nullptr);
    std::fclose(f);
    if (kb >= 0) return kb * 1024.0;
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) * 1024.0;  // KiB on Linux
}

// The nearest-rank percentile p (0..100] of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  const std::size_t i = rank < 1 ? 0 : static_cast<std::size_t>(rank) - 1;
  return sorted[std::min(i, sorted.size() - 1)];
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

void run_bench(const bench_options& o) {
  require_path("--weights", o.weights);
  o.int8.check();
  if (o.int8.enabled && o.has_threads)
    throw cli_error("--threads: the int8 forward runs on this thread (drop --threads)");
  if (o.int8.enabled) require_path("--calibration", o.int8.calibration);
  const std::size_t B = parse_count(o.batch, "--batch", 1, max_batch, "images per forward");
  const std::size_t K =
      parse_count(o.iterations, "--iterations", 1, max_iterations, "timed forwards");
  const std::size_t W = parse_count(o.warmup, "--warmup", 0, max_iterations, "untimed forwards");
  std::optional<std::size_t> threads;
  if (o.has_threads) threads = parse_threads(o.threads);
  const bool progress = !o.json && ::isatty(STDERR_FILENO) == 1;

  using clock = std::chrono::steady_clock;
  const auto secs = [](clock::duration d) { return std::chrono::duration<double>(d).count(); };
  if (progress) std::cerr << "gpsa bench: loading " << io::display_path(o.weights) << "\r";
  const clock::time_point t0 = clock::now();
  convit_options options;
  options.keep_plain_weights = o.int8.enabled;  // quantising reads the checkpoint's layout
  gpsa::convit model = gpsa::convit::load(o.weights, options);
  const double load_s = secs(clock::now() - t0);
  const convit_config& c = model.config();
  // --int8: quantised and calibrated once (timed as "quantise"); the forwards below are its own.
  std::optional<calibrated> q;
  double quantise_s = 0;
  if (o.int8.enabled) {
    require_int8_supported(model, o.weights);
    if (progress) std::cerr << "gpsa bench: quantising                \r" << std::flush;
    const clock::time_point tq = clock::now();
    q.emplace(calibrated_int8(model, o.int8.calibration));
    quantise_s = secs(clock::now() - tq);
  }

  // Everything the forward allocates, refused up front if it is too much.
  const std::size_t workers = threads.value_or(1);
  std::size_t scratch = 0;
  if ((o.int8.enabled ? convit_int8_scratch_size(c, scratch)
                      : convit_scratch_size(c, B, workers, scratch)) != status::ok)
    throw cli_error("--batch " + std::to_string(B) + ": too large a batch for this model");
  io::byte_budget budget("--batch " + std::to_string(B));
  budget.add("images", {B, c.channels, c.image_size, c.image_size}, sizeof(float))
      .add("logits", {B, c.classes}, sizeof(float))
      .add("forward scratch", {scratch}, sizeof(float));
  budget.require();

  // Synthetic preprocessed images (what the timm transform gives: values around [-2, 2]); the
  // time of a forward does not depend on them.
  std::vector<float> images(B * c.channels * c.image_size * c.image_size);
  std::uint32_t seed = 12345;
  for (float& v : images) {
    seed = seed * 1664525u + 1013904223u;
    v = static_cast<float>(seed >> 8) / 4194304.0f - 2.0f;
  }
  std::vector<float> logits(B * c.classes);

  // --threads N: a pool of N workers (this thread + N - 1); without it no thread is started.
  std::unique_ptr<thread_pool_executor> pool;
  if (threads) {
    pool = start_workers(*threads, o.threads);
    model.set_executor(&pool->get());
  }
  std::vector<double> lat;
  lat.reserve(K);
  for (std::size_t i = 0; i < W + K; ++i) {
    if (progress)
      std::cerr << "gpsa bench: " << (i < W ? "warm-up " : "iteration ")
                << (i < W ? i + 1 : i - W + 1) << "/" << (i < W ? W : K) << "          \r"
                << std::flush;
    const clock::time_point s = clock::now();
    if (q) {
      const std::vector<float> lg = q->model.forward(images, B);
      std::copy(lg.begin(), lg.end(), logits.begin());
    } else {
      model.forward(images, B, logits);
    }
    if (i >= W) lat.push_back(secs(clock::now() - s));
  }
  pool.reset();
  if (progress) std::cerr << std::string(48, ' ') << "\r" << std::flush;
  for (const float v : logits)
    if (!std::isfinite(v))
      throw cli_error(io::display_path(o.weights) +
                      ": the forward gave a non-finite logit on the synthetic input (the timing "
                      "would not be representative)");

  std::vector<double> sorted = lat;
  std::sort(sorted.begin(), sorted.end());
  double total = 0;
  for (const double v : lat) total += v;
  const double mean = total / static_cast<double>(K);
  const double p50 = percentile(sorted, 50), p90 = percentile(sorted, 90),
               p99 = percentile(sorted, 99);
  const double ips = static_cast<double>(B * K) / total;
  const double rss_mb = peak_rss_bytes() / 1e6;
  // The weights the timed forward reads: float32 parameters, or int8 codes plus their floats.
  const std::size_t weights_bytes =
      q ? q->model.code_bytes() + q->model.float_count() * sizeof(float)
        : model.parameter_count() * sizeof(float);
  const double weights_mb = static_cast<double>(weights_bytes) / 1e6;
  const convit::load_times& lt = model.loading();
  const char* arith = q ? "int8" : "float32";

  std::ostringstream out;
  if (o.json) {
    // Every number as it was computed (17 significant digits: the default 6 made images_per_s
    // and the latencies disagree in the 6th digit).
    out.precision(17);
    out << "{\"weights\":" << json_string(o.weights)
        << ",\"model\":" << json_string(describe(model))
        << ",\"parameters\":" << model.parameter_count() << ",\"precision\":\"" << arith
        << "\",\"gpsa_version\":" << json_string(version())
        << ",\"simd_target\":" << json_string(simd_backend())
        << ",\"gemm_backend\":" << json_string(gemm_backend()) << ",\"threads\":" << workers
        << ",\"batch\":" << B << ",\"iterations\":" << K << ",\"warmup\":" << W
        << ",\"load_s\":" << load_s << ",\"read_s\":" << lt.read << ",\"fold_s\":" << lt.fold
        << ",\"pack_s\":" << lt.pack << ",\"quantise_s\":" << quantise_s
        << ",\"latency_s\":{\"p50\":" << p50 << ",\"p90\":" << p90 << ",\"p99\":" << p99
        << ",\"min\":" << sorted.front() << ",\"max\":" << sorted.back() << ",\"mean\":" << mean
        << "},\"images_per_s\":" << ips
        << ",\"peak_rss_bytes\":" << static_cast<long long>(rss_mb * 1e6)
        << ",\"weights_bytes\":" << weights_bytes << "}\n";
  } else {
    const auto ms = [](double s) { return fixed(s * 1e3, 2) + " ms"; };
    out << io::display_path(o.weights) << ": " << describe(model) << '\n'
        << "gpsa " << version() << ", " << arith << ", SIMD target " << simd_backend() << " ("
        << gemm_backend() << "), " << workers << (workers == 1 ? " thread" : " threads")
        << ", batch " << B << '\n'
        << "load " << ms(load_s) << " (read " << ms(lt.read) << ", fold " << ms(lt.fold)
        << ", pack " << ms(lt.pack) << ")"
        << (q ? ", quantise " + ms(quantise_s) + " (" + q->summary + ")" : std::string()) << '\n'
        << "latency per batch of " << B << " over " << K << " iterations (" << W
        << " warm-up): p50 " << ms(p50) << ", p90 " << ms(p90) << ", p99 " << ms(p99) << " (min "
        << ms(sorted.front()) << ", mean " << ms(mean) << ")\n"
        << "throughput " << fixed(ips, 1) << " images/s\n"
        << "peak RSS " << fixed(rss_mb, 1) << " MB (weights " << fixed(weights_mb, 1) << " MB "
        << (q ? "int8 codes and their floats" : "float32") << ")\n";
  }
  print_report(out.str());
}

}  // namespace

void add_bench(CLI::App& app) {
  auto o = std::make_shared<bench_options>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Time a timm ConViT checkpoint: load (read, fold, pack), forward latency p50/p90/p99 per "
      "batch, images per second, peak memory (synthetic input)");
  cmd->add_option("--weights", o->weights, "safetensors checkpoint of a timm ConViT")->required();
  cmd->add_option("--batch", o->batch, "images per forward")->capture_default_str();
  CLI::Option* thr = cmd->add_option(
      "--threads", o->threads,
      "run each forward on N worker threads (default: this thread only, no thread started)");
  cmd->add_option("--iterations", o->iterations, "timed forwards")->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "untimed forwards first")->capture_default_str();
  cmd->add_flag("--json", o->json, "print one JSON object instead of the report");
  add_int8_options(*cmd, o->int8, "time");
  cmd->callback([o, thr] {
    o->has_threads = given(thr);
    run_bench(*o);
  });
}

}  // namespace gpsa::cli
