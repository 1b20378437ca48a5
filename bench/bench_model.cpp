// SPDX-License-Identifier: MIT
// Google Benchmark of the whole ConViT forward (gpsa/core/convit.hpp):
//   BM_Model/<tiny|small>/<B>    one thread (CPU time), B = 1 and 8; 224x224 images, 16-pixel
//                                patches, depth 12, local_up_to_layer 10, MLP 4D, 1000 classes;
//                                random weights built here (tiny: D 192, H 4; small: D 432, H 9),
//                                packed and the GPSA positional state folded once outside the
//                                timed loop (as gpsa::convit does on loading).
//   BM_ModelThreads/<tiny|small>/<B>/<W>   the same through a gpsa::thread_pool_executor of W =
//                                1 or 2 workers, wall time (what two workers gain on one image).
//   BM_FmaPeak                   the FMA limit of one core on the dispatched SIMD target (as in
//                                bench_gpsa), so that one run gives the model's share of it.
// Counters: FLOP/s and GFLOP (per forward). FLOPs are the model's as PyTorch computes it, 2 per
// multiply-add of every matrix product: patch embedding 2*N*D*3p^2; per GPSA block (N tokens)
// qk 2*N*D*2D + v 2*N*D^2 + proj 2*N*D^2 + scores 2*N^2*D + attn@v 2*N^2*D (the positional and
// content attention blended before attn@v, as timm does) + MLP 4*N*D*M; per MHSA block (T = N+1
// tokens) qkv 2*T*D*3D + 4*T^2*D + proj 2*T*D^2 + MLP 4*T*D*M; head 2*D*classes. Softmax,
// LayerNorm, GELU and the residual additions are not counted. gpsa does less work than this for
// the positional branch (separable factors) and is credited the same.
// ConViT-Ti: 2.50 GFLOP per image, ConViT-S: 11.5 GFLOP (11.47).
//
// Single-threaded BLAS: OPENBLAS_NUM_THREADS=1 build/default/bench/bench_model
//
// Peak memory of loading a checkpoint and running one forward (gpsa::convit, needs the runtime):
//   build/default/bench/bench_model --rss_checkpoint=convit_tiny.safetensors [--rss_batch=1]
// prints the weights' size and the process's peak RSS, then exits.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "bench_fma.hpp"
#include "bench_main.hpp"
#include "gpsa/core/convit.hpp"
#include "gpsa/core/positional.hpp"

#if defined(GPSA_BENCH_RUNTIME)
#include <memory>

#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/thread_pool_executor.hpp"
#endif

namespace {

struct shape {
  const char* name;
  std::size_t dim, heads;
};
constexpr shape kShapes[] = {{"tiny", 192, 4}, {"small", 432, 9}};

gpsa::convit_config config_of(const shape& s) {
  gpsa::convit_config c;
  c.image_size = 224;
  c.patch_size = 16;
  c.channels = 3;
  c.dim = s.dim;
  c.heads = s.heads;
  c.depth = 12;
  c.local_up_to_layer = 10;
  c.mlp_hidden = 4 * s.dim;
  c.classes = 1000;
  return c;
}

double model_flops(const gpsa::convit_config& c, std::size_t batch) {
  const double N = static_cast<double>(c.patches()), T = N + 1, D = static_cast<double>(c.dim);
  const double M = static_cast<double>(c.mlp_hidden);
  const double K = static_cast<double>(c.channels * c.patch_size * c.patch_size);
  const double L = static_cast<double>(c.local_up_to_layer);
  const double G = static_cast<double>(c.depth - c.local_up_to_layer);
  const double gpsa_block = 2 * N * D * (2 * D + D + D) + 4 * N * N * D + 4 * N * D * M;
  const double mhsa_block = 2 * T * D * (3 * D + D) + 4 * T * T * D + 4 * T * D * M;
  return static_cast<double>(batch) *
         (2 * N * D * K + L * gpsa_block + G * mhsa_block + 2 * D * static_cast<double>(c.classes));
}

// A model with random weights: owned arrays, the core views into them, the folded state.
struct random_model {
  std::vector<std::vector<float>> arrays;
  std::vector<gpsa::convit_block_weights> blocks;
  gpsa::convit_weights w{};
  std::vector<float> folded, packed;

  explicit random_model(const gpsa::convit_config& c) {
    std::mt19937 gen(42);
    const auto make = [&](std::size_t n, float lo, float hi) -> const float* {
      std::uniform_real_distribution<float> d(lo, hi);
      arrays.emplace_back(n);
      for (auto& x : arrays.back()) x = d(gen);
      return arrays.back().data();
    };
    const std::size_t D = c.dim, H = c.heads, M = c.mlp_hidden, N = c.patches();
    const std::size_t K = c.channels * c.patch_size * c.patch_size;
    const auto lin = [&](std::size_t out, std::size_t in) {
      const float a = std::sqrt(3.0f / static_cast<float>(in));
      return make(out * in, -a, a);
    };
    arrays.reserve(64 + 32 * c.depth);  // pointers into `arrays` stay valid
    w.config = c;
    w.patch_weight = lin(D, K);
    w.patch_bias = make(D, -0.1f, 0.1f);
    w.pos_embed = make(N * D, -0.5f, 0.5f);
    w.cls_token = make(D, -0.5f, 0.5f);
    blocks.resize(c.depth);
    for (std::size_t i = 0; i < c.depth; ++i) {
      auto& b = blocks[i];
      b.norm1_weight = make(D, 0.8f, 1.2f);
      b.norm1_bias = make(D, -0.1f, 0.1f);
      if (c.is_gpsa_block(i)) {
        b.qk_weight = lin(2 * D, D);
        b.v_weight = lin(D, D);
        arrays.emplace_back(3 * H);
        if (gpsa::local_init(H, 1.0f, arrays.back()) != gpsa::status::ok) std::abort();
        b.pos_proj_weight = arrays.back().data();
        b.pos_proj_bias = make(H, -0.5f, 0.5f);
        b.gating_param = make(H, -2.0f, 2.0f);
      } else {
        b.qkv_weight = lin(3 * D, D);
      }
      b.proj_weight = lin(D, D);
      b.proj_bias = make(D, -0.1f, 0.1f);
      b.norm2_weight = make(D, 0.8f, 1.2f);
      b.norm2_bias = make(D, -0.1f, 0.1f);
      b.fc1_weight = lin(M, D);
      b.fc1_bias = make(M, -0.1f, 0.1f);
      b.fc2_weight = lin(D, M);
      b.fc2_bias = make(D, -0.1f, 0.1f);
    }
    w.blocks = blocks;
    w.norm_weight = make(D, 0.8f, 1.2f);
    w.norm_bias = make(D, -0.1f, 0.1f);
    w.head_weight = lin(c.classes, D);
    w.head_bias = make(c.classes, -0.1f, 0.1f);
    std::size_t nf = 0;
    if (gpsa::convit_folded_size(c, nf) != gpsa::status::ok) std::abort();
    folded.resize(nf);
    if (gpsa::convit_fold(c, blocks, folded) != gpsa::status::ok) std::abort();
    // Every linear weight packed once, on a 64-byte boundary, as gpsa::convit does on loading.
    std::size_t np = 0;
    if (gpsa::convit_packed_size(c, np) != gpsa::status::ok) std::abort();
    packed.resize(np + 16);
    std::size_t skip = 0;
    while (reinterpret_cast<std::uintptr_t>(packed.data() + skip) % 64 != 0) ++skip;
    if (gpsa::convit_pack(w, std::span(packed).subspan(skip, np)) != gpsa::status::ok) std::abort();
    w.packed = packed.data() + skip;
  }
};

// One thread (CPU time per forward), or `workers` > 0 through a thread_pool_executor (wall time).
void BM_Model(benchmark::State& state, shape s, std::size_t B, std::size_t workers) {
  const gpsa::convit_config c = config_of(s);
  const random_model m(c);
  std::vector<float> images(B * c.channels * c.image_size * c.image_size);
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> d(-2.0f, 2.0f);
  for (auto& x : images) x = d(gen);
  std::vector<float> logits(B * c.classes);
  std::size_t floats = 0;
  if (gpsa::convit_scratch_size(c, B, workers > 0 ? workers : 1, floats) != gpsa::status::ok) {
    state.SkipWithError("convit_scratch_size failed");
    return;
  }
  std::vector<float> scratch(floats);
  const gpsa::executor* ex = nullptr;
#if defined(GPSA_BENCH_RUNTIME)
  std::unique_ptr<gpsa::thread_pool_executor> pool;
  if (workers > 0) {
    pool = std::make_unique<gpsa::thread_pool_executor>(workers);
    ex = &pool->get();
  }
#else
  if (workers > 0) {
    state.SkipWithError("BM_ModelThreads needs gpsa::runtime (gpsa::thread_pool_executor)");
    return;
  }
#endif
  for (auto _ : state) {
    const gpsa::status st = gpsa::convit_forward(m.w, B, images, logits, {}, scratch, ex);
    if (st != gpsa::status::ok) {
      state.SkipWithError(gpsa::status_message(st));
      break;
    }
    benchmark::DoNotOptimize(logits.data());
    benchmark::ClobberMemory();
  }
  const double flops = model_flops(c, B);
  state.counters["FLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP"] = flops * 1e-9;
}

// Peak resident set size of this process: VmHWM of /proc/self/status (reset by execve, unlike
// getrusage's ru_maxrss, which a child started by a big parent inherits), else ru_maxrss.
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

// --rss_checkpoint=FILE [--rss_batch=B]: load, one forward, report peak RSS (0 = handled).
int rss_mode(int argc, char** argv, bool& handled) {
  handled = false;
  const char* file = nullptr;
  std::size_t batch = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--rss_checkpoint=", 17) == 0) file = argv[i] + 17;
    if (std::strncmp(argv[i], "--rss_batch=", 12) == 0)
      batch = std::strtoul(argv[i] + 12, nullptr, 10);
  }
  if (file == nullptr) return 0;
  handled = true;
#if defined(GPSA_BENCH_RUNTIME)
  try {
    const auto m = gpsa::convit::load(file);
    const auto& c = m.config();
    std::vector<float> x(batch * c.channels * c.image_size * c.image_size);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 255) / 64.0f - 2.0f;
    const auto logits = m.forward(x, batch);
    const double weights_mb = static_cast<double>(m.parameter_count()) * 4.0 / 1e6;
    const double peak_mb = peak_rss_bytes() / 1e6;
    std::printf(
        "checkpoint %s: %zu parameters, weights %.1f MB (float32); B = %zu: peak RSS %.1f MB "
        "= weights + %.1f MB (logit[0] = %g)\n",
        file, m.parameter_count(), weights_mb, batch, peak_mb, peak_mb - weights_mb,
        static_cast<double>(logits[0]));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_model: %s\n", e.what());
    return 1;
  }
#else
  std::fprintf(
      stderr,
      "bench_model: --rss_checkpoint needs gpsa::runtime (configure with GPSA_BUILD_CLI=ON)\n");
  return 1;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  bool handled = false;
  const int rc = rss_mode(argc, argv, handled);
  if (handled) return rc;
  // The FMA limit of this run (the same loop as bench_gpsa's BM_FmaPeak).
  benchmark::RegisterBenchmark("BM_FmaPeak", gpsa_bench::fma_peak_loop);
  for (const auto& s : kShapes)
    for (std::size_t b : {1u, 8u}) {
      const std::string name = std::string(s.name) + "/" + std::to_string(b);
      benchmark::RegisterBenchmark(("BM_Model/" + name).c_str(), BM_Model, s, b, std::size_t{0})
          ->Unit(benchmark::kMillisecond);
      for (std::size_t w : {1u, 2u})
        benchmark::RegisterBenchmark(("BM_ModelThreads/" + name + "/" + std::to_string(w)).c_str(),
                                     BM_Model, s, b, w)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    }
  return gpsa_bench::run_benchmarks(argc, argv);
}
