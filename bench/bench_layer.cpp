// SPDX-License-Identifier: MIT
// The GPSA layer kernels (gpsa/core/layer.hpp) at ConViT's shapes, with the stable names the
// comparison script (bench/compare_pytorch.py) looks up:
//   BM_PositionalBranch/S/H          3->H projection + softmax, folded to the separable factors
//                                    (gpsa::layer_fold: what gpsa::layer::set_grid caches)
//   BM_PositionalBranchDense/S/H     the dense (H, N, N) softmax(P), as PyTorch computes it
//   BM_Attention/<tiny|small|base>   B = 1, attn (B, H, N, N) materialised (get_attention)
//   BM_Forward/<tiny|small|base>/B   B = 1 and 8, no attention copy (the fused path)
//   BM_ForwardWithAttn/<cfg>/B       the same with attn materialised (PyTorch-order path)
//   BM_ForwardThreads/small/B/W      BM_Forward/small/B (B = 1, 8) through a
//                                    gpsa::thread_pool_executor of W workers (W = 1, 2), wall time
// Shapes: tiny H=4 D=192, small H=9 D=432, base H=16 D=768; N = 196 (14 x 14).
// The positional branch of attention/forward is precomputed once (weights are constant), as an
// inference app would; BM_PositionalBranch is its one-off cost. FLOP/s counts the GEMM work
// (qk, v, proj, q k^T and attn v: 359.0 MFLOP for small at B = 1).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "gpsa/core/fold.hpp"
#include "gpsa/core/layer.hpp"
#include "gpsa/core/linalg.hpp"
#include "gpsa/core/positional.hpp"
#include "gpsa/runtime/thread_pool_executor.hpp"

namespace gpsa_bench {
namespace {

struct config {
  const char* name;
  std::size_t heads, dim;
};
constexpr config kConfigs[] = {{"tiny", 4, 192}, {"small", 9, 432}, {"base", 16, 768}};
constexpr gpsa::grid kGrid{14, 14};

// A layer with timm-like random weights (pre-packed, as gpsa::layer keeps them), local_init
// positional weights and its folded factors.
struct layer {
  std::vector<float> qk, v, proj, proj_bias, pos_w, pos_b, gating, fx, gy, lambda, packed;
  gpsa::layer_weights w{};
  gpsa::folded_view pos{};

  layer(std::size_t heads, std::size_t dim) {
    const float s = 1.0f / static_cast<float>(dim);
    qk = random_vec(2 * dim * dim, 1, s);
    v = random_vec(dim * dim, 2, s);
    proj = random_vec(dim * dim, 3, s);
    proj_bias = random_vec(dim, 4, s);
    pos_w.assign(heads * 3, 0.0f);
    pos_b.assign(heads, 0.0f);
    gating.assign(heads, 1.0f);
    if (gpsa::local_init(heads, 1.0f, pos_w) != gpsa::status::ok) std::abort();
    w = gpsa::layer_weights{heads,    dim,     qk.data(),   nullptr,
                            v.data(), nullptr, proj.data(), proj_bias.data()};
    // The linear weights packed once, on a 64-byte boundary, as gpsa::layer does on loading.
    std::size_t pf = 0;
    if (gpsa::layer_packed_size(dim, pf) != gpsa::status::ok) std::abort();
    packed.resize(pf + 16);
    std::size_t skip = 0;
    while (reinterpret_cast<std::uintptr_t>(packed.data() + skip) % 64 != 0) ++skip;
    if (gpsa::layer_pack(w, std::span(packed).subspan(skip, pf)) != gpsa::status::ok) std::abort();
    w.packed = packed.data() + skip;
    gpsa::fold_counts n{};
    if (gpsa::layer_folded_size(kGrid, heads, n) != gpsa::status::ok) std::abort();
    fx.resize(n.fx);
    gy.resize(n.gy);
    lambda.resize(n.lambda);
    if (gpsa::layer_fold(kGrid, heads, pos_w, pos_b, gating, fx, gy, lambda) != gpsa::status::ok)
      std::abort();
    pos = gpsa::folded_view{heads, kGrid, fx.data(), gy.data(), lambda.data()};
  }
};

void check(benchmark::State& state, gpsa::status s) {
  if (s != gpsa::status::ok) state.SkipWithError(gpsa::status_message(s));
  label_target(state);
}

// The positional branch folded: H * (R^2 + C^2) floats from pos_proj.weight.
void BM_PositionalBranch(benchmark::State& state) {
  const auto S = static_cast<std::size_t>(state.range(0));
  const auto H = static_cast<std::size_t>(state.range(1));
  const gpsa::grid g{S, S};
  std::vector<float> w(H * 3), b(H, 0.0f), gating(H, 1.0f);
  check(state, gpsa::local_init(H, 1.0f, w));
  gpsa::fold_counts n{};
  check(state, gpsa::layer_folded_size(g, H, n));
  std::vector<float> fx(n.fx), gy(n.gy), lambda(n.lambda);
  for (auto _ : state) {
    check(state, gpsa::layer_fold(g, H, w, b, gating, fx, gy, lambda));
    benchmark::DoNotOptimize(fx.data());
    benchmark::DoNotOptimize(gy.data());
    benchmark::ClobberMemory();
  }
  // items = positional attention entries represented, H * N^2 (comparable with the dense one)
  state.SetItemsProcessed(
      static_cast<std::int64_t>(state.iterations() * H * g.patches() * g.patches()));
}
BENCHMARK(BM_PositionalBranch)->Args({14, 9})->Args({14, 4})->Args({14, 16});

// The dense (H, N, N) positional attention, what PyTorch computes on every forward.
void BM_PositionalBranchDense(benchmark::State& state) {
  const auto S = static_cast<std::size_t>(state.range(0));
  const auto H = static_cast<std::size_t>(state.range(1));
  const gpsa::grid g{S, S};
  std::vector<float> w(H * 3), b(H, 0.0f);
  check(state, gpsa::local_init(H, 1.0f, w));
  std::vector<float> out(H * S * S * S * S);
  for (auto _ : state) {
    check(state, gpsa::pos_attention(g, H, w, b, out));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_PositionalBranchDense)->Args({14, 9});

double layer_flops(const config& c, std::size_t batch) {
  const double n = static_cast<double>(kGrid.patches()), d = static_cast<double>(c.dim);
  // qk, v, proj linear layers + per head q k^T and attn v (2 N^2 d each, summed over heads)
  return static_cast<double>(batch) * (2.0 * n * d * (2.0 * d + d + d) + 4.0 * n * n * d);
}

void BM_Attention(benchmark::State& state, config c) {
  layer l(c.heads, c.dim);
  const std::size_t N = kGrid.patches(), B = 1;
  const auto x = random_vec(B * N * c.dim, 5, 1.0f);
  std::vector<float> attn(B * c.heads * N * N);
  std::size_t floats = 0;
  check(state, gpsa::layer_scratch_size(gpsa::dims_of(l.w, l.pos, B), 1, floats));
  std::vector<float> scratch(floats);
  for (auto _ : state) {
    check(state, gpsa::layer_attention(l.w, l.pos, B, x, attn, scratch));
    benchmark::DoNotOptimize(attn.data());
    benchmark::ClobberMemory();
  }
  const double n = static_cast<double>(N), d = static_cast<double>(c.dim);
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * n * d * 2.0 * d + 2.0 * n * n * d,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Forward(benchmark::State& state, config c, std::size_t B, bool with_attn) {
  layer l(c.heads, c.dim);
  const std::size_t N = kGrid.patches();
  const auto x = random_vec(B * N * c.dim, 6, 1.0f);
  std::vector<float> y(x.size());
  std::vector<float> attn(with_attn ? B * c.heads * N * N : 0);
  std::size_t floats = 0;
  check(state, gpsa::layer_scratch_size(gpsa::dims_of(l.w, l.pos, B), 1, floats));
  std::vector<float> scratch(floats);
  for (auto _ : state) {
    check(state, gpsa::layer_forward(l.w, l.pos, B, x, y, attn, scratch));
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(layer_flops(c, B), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ForwardThreads(benchmark::State& state, config c, std::size_t B, std::size_t workers) {
  layer l(c.heads, c.dim);
  gpsa::thread_pool_executor pool(workers);
  const auto x = random_vec(B * kGrid.patches() * c.dim, 6, 1.0f);
  std::vector<float> y(x.size());
  std::size_t floats = 0;
  check(state, gpsa::layer_scratch_size(gpsa::dims_of(l.w, l.pos, B), workers, floats));
  std::vector<float> scratch(floats);
  for (auto _ : state) {
    check(state, gpsa::layer_forward(l.w, l.pos, B, x, y, {}, scratch, &pool.get()));
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(layer_flops(c, B), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

void register_layer_benchmarks() {
  for (const auto& c : kConfigs) {
    benchmark::RegisterBenchmark(name({"BM_Attention/", c.name}).c_str(), BM_Attention, c)
        ->Unit(benchmark::kMicrosecond);
  }
  for (const auto& c : kConfigs) {
    for (std::size_t b : {1u, 8u}) {
      const std::string bs = std::to_string(b);
      benchmark::RegisterBenchmark(name({"BM_Forward/", c.name, "/", bs}).c_str(), BM_Forward, c, b,
                                   false)
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(name({"BM_ForwardWithAttn/", c.name, "/", bs}).c_str(),
                                   BM_Forward, c, b, true)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  for (std::size_t b : {1u, 8u})
    for (std::size_t workers : {1u, 2u})
      benchmark::RegisterBenchmark(
          name({"BM_ForwardThreads/small/", std::to_string(b), "/", std::to_string(workers)})
              .c_str(),
          BM_ForwardThreads, kConfigs[1], b, workers)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
}

}  // namespace gpsa_bench
