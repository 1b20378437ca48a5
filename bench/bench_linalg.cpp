// Google Benchmark of gpsa/linalg.hpp at the GPSA shapes: GEMMs (FLOP/s), row softmax, exp.
// Run single-threaded BLAS for figures comparable to docs/performance.md:
//   OPENBLAS_NUM_THREADS=1 build/<dir>/bench/bench_linalg
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "bench_main.hpp"
#include "gpsa/detail/linalg_impl.hpp"
#include "gpsa/linalg.hpp"

namespace {

using gemm_fn = void (*)(bool, bool, std::size_t, std::size_t, std::size_t, float, const float*,
                         std::size_t, const float*, std::size_t, float, float*, std::size_t);

constexpr std::size_t kTokens = 196;  // 14 x 14 patches
constexpr std::size_t kHeadDim = 48;  // D / H for ConViT-Ti (192/4), -S (432/9), -B (768/16)

std::vector<float> random_vec(std::size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

// C(m x n) = op(A) op(B) timed, FLOP/s = 2 m n k per iteration.
void run_gemm(benchmark::State& state, gemm_fn fn, bool ta, bool tb, std::size_t m, std::size_t n,
              std::size_t k) {
  const auto a = random_vec(m * k, 1), b = random_vec(k * n, 2);
  std::vector<float> c(m * n);
  const std::size_t lda = ta ? m : k, ldb = tb ? k : n;
  for (auto _ : state) {
    fn(ta, tb, m, n, k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(m * n * k),
                                                benchmark::Counter::kIsIterationInvariantRate);
}

// x (N x D) times W^T, W = qk.weight (2D x D): the fused q/k projection.
template <gemm_fn Fn>
void BM_GemmQkProj(benchmark::State& state) {
  const auto d = static_cast<std::size_t>(state.range(0));
  run_gemm(state, Fn, false, true, kTokens, 2 * d, d);
}
// x (N x D) times W^T, W (D x D): the v and proj layers.
template <gemm_fn Fn>
void BM_GemmSquareProj(benchmark::State& state) {
  const auto d = static_cast<std::size_t>(state.range(0));
  run_gemm(state, Fn, false, true, kTokens, d, d);
}
// q_h k_h^T for one head: (N x d) (d x N).
template <gemm_fn Fn>
void BM_GemmQKt(benchmark::State& state) {
  run_gemm(state, Fn, false, true, kTokens, kTokens, static_cast<std::size_t>(state.range(0)));
}
// attn_h v_h for one head: (N x N) (N x d).
template <gemm_fn Fn>
void BM_GemmAV(benchmark::State& state) {
  run_gemm(state, Fn, false, false, kTokens, static_cast<std::size_t>(state.range(0)), kTokens);
}

#define GPSA_GEMM_BENCHES(fn, tag)                                                                 \
  BENCHMARK_TEMPLATE(BM_GemmQkProj, fn)->Name("BM_GemmQkProj/" tag)->Arg(192)->Arg(432)->Arg(768); \
  BENCHMARK_TEMPLATE(BM_GemmSquareProj, fn)                                                        \
      ->Name("BM_GemmSquareProj/" tag)                                                             \
      ->Arg(192)                                                                                   \
      ->Arg(432)                                                                                   \
      ->Arg(768);                                                                                  \
  BENCHMARK_TEMPLATE(BM_GemmQKt, fn)->Name("BM_GemmQKt/" tag)->Arg(kHeadDim);                      \
  BENCHMARK_TEMPLATE(BM_GemmAV, fn)->Name("BM_GemmAV/" tag)->Arg(kHeadDim)

// gemm = the configured backend; blocked = portable kernel (Highway when GPSA_SIMD); scalar =
// the firmware kernel, vectorised only by the compiler flags.
GPSA_GEMM_BENCHES(&gpsa::gemm, "gemm");
GPSA_GEMM_BENCHES(&gpsa::detail::gemm_blocked, "blocked");
GPSA_GEMM_BENCHES(&gpsa::detail::gemm_blocked_scalar, "scalar");

// Softmax of `rows` rows of 196 logits (one head's content scores), items = rows * cols.
template <void (*Fn)(float*, std::size_t, std::size_t, std::size_t)>
void BM_SoftmaxRows(benchmark::State& state) {
  const auto cols = static_cast<std::size_t>(state.range(0));
  const std::size_t rows = kTokens;
  const auto src = random_vec(rows * cols, 3, 8.0f);
  std::vector<float> x(src.size());
  for (auto _ : state) {
    state.PauseTiming();
    x = src;
    state.ResumeTiming();
    Fn(x.data(), rows, cols, cols);
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * rows * cols));
}
BENCHMARK_TEMPLATE(BM_SoftmaxRows, &gpsa::softmax_rows)->Name("BM_SoftmaxRows/simd")->Arg(196);
BENCHMARK_TEMPLATE(BM_SoftmaxRows, &gpsa::detail::softmax_rows_scalar)
    ->Name("BM_SoftmaxRows/scalar")
    ->Arg(196);

// exp over n values (softmax is memory-light, so exp throughput bounds it).
template <void (*Fn)(const float*, float*, std::size_t)>
void BM_Exp(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto x = random_vec(n, 4, 20.0f);
  std::vector<float> y(n);
  for (auto _ : state) {
    Fn(x.data(), y.data(), n);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK_TEMPLATE(BM_Exp, &gpsa::exp_inplace)->Name("BM_Exp/simd")->Arg(196 * 196);
BENCHMARK_TEMPLATE(BM_Exp, &gpsa::detail::exp_scalar)->Name("BM_Exp/scalar")->Arg(196 * 196);

}  // namespace

int main(int argc, char** argv) { return gpsa_bench::run_benchmarks(argc, argv); }
