// SPDX-License-Identifier: MIT
// The FMA limit, gpsa's GEMM at the ConViT shapes (per SIMD target, pre-packed B, split over
// workers), the BLAS libraries installed on this machine at the same shapes (dlopen, one thread),
// row softmax and exp.
//   BM_FmaPeak[/<target>]               register-only FMA loop, counter FLOP/s
//   BM_Gemm<Shape>/<impl>/<D>           impl: gpsa (dispatched target), packed (gemm_packed, B
//                                       packed ahead), portable (plain C++ kernel), a target name
//                                       (AVX2, ...: gpsa forced to it), openblas, blis, onednn
//   BM_GemmThreads/<Shape>/<D>/<W>      gpsa::gemm over a W-worker thread pool (wall time)
// Shapes (N = 196 tokens, head width 48): QkProj x W_qk^T (196 x 2D x D), Proj x W^T
// (196 x D x D, v and proj), MlpUp (196 x 4D x D), MlpDown (196 x D x 4D), QKt per head
// (196 x 196 x 48), AV per head (196 x 48 x 196).
#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "bench_fma.hpp"
#include "gpsa/core/linalg.hpp"
#include "gpsa/runtime/thread_pool_executor.hpp"
#include "linalg_impl.hpp"

namespace gpsa_bench {
namespace {

constexpr std::size_t kTokens = 196;
constexpr std::size_t kHeadDim = 48;

// Restricts the kernels to one SIMD target for a benchmark's lifetime (npos: leave the CPU's).
struct target_scope {
  explicit target_scope(std::size_t index) : active(index != static_cast<std::size_t>(-1)) {
    if (active) gpsa::detail::simd_target_select(index);
  }
  ~target_scope() {
    if (active) gpsa::detail::simd_target_select(static_cast<std::size_t>(-1));
  }
  target_scope(const target_scope&) = delete;
  target_scope& operator=(const target_scope&) = delete;
  bool active;
};
constexpr std::size_t kDispatched = static_cast<std::size_t>(-1);

void BM_FmaPeak(benchmark::State& state, std::size_t target) {
  const target_scope scope(target);
  fma_peak_loop(state);
}

// ---- BLAS libraries, loaded at run time so none is a build dependency --------------------------

enum cblas_order { kRowMajor = 101 };
enum cblas_trans { kNoTrans = 111, kTrans = 112 };
using cblas_sgemm_fn = void (*)(int, int, int, int, int, int, float, const float*, int,
                                const float*, int, float, float*, int);
using dnnl_sgemm_fn = int (*)(char, char, long, long, long, float, const float*, long, const float*,
                              long, float, float*, long);

struct peer {
  std::string name;
  cblas_sgemm_fn cblas = nullptr;
  dnnl_sgemm_fn dnnl = nullptr;

  void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const float* a,
            std::size_t lda, const float* b, std::size_t ldb, float* c, std::size_t ldc) const {
    const auto i = [](std::size_t v) { return static_cast<int>(v); };
    if (cblas != nullptr)
      cblas(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, i(m), i(n), i(k), 1.0f, a,
            i(lda), b, i(ldb), 0.0f, c, i(ldc));
    else
      dnnl(ta ? 'T' : 'N', tb ? 'T' : 'N', static_cast<long>(m), static_cast<long>(n),
           static_cast<long>(k), 1.0f, a, static_cast<long>(lda), b, static_cast<long>(ldb), 0.0f,
           c, static_cast<long>(ldc));
  }
};

// Loads the first of `files` that opens (RTLD_LOCAL: the libraries' cblas_sgemm never clash).
void* open_first(std::initializer_list<const char*> files) {
  for (const char* f : files)
    if (void* h = dlopen(f, RTLD_NOW | RTLD_LOCAL)) return h;
  return nullptr;
}

std::vector<peer> load_peers() {
  std::vector<peer> out;
  // Debian's OpenBLAS variants; each limited to one thread.
  const std::pair<const char*, const char*> openblas[] = {
      {"openblas", "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0"},
      {"openblas_serial", "/usr/lib/x86_64-linux-gnu/openblas-serial/libopenblas.so.0"},
  };
  for (const auto& [name, file] : openblas) {
    if (void* h = open_first({file})) {
      if (auto set = reinterpret_cast<void (*)(int)>(dlsym(h, "openblas_set_num_threads"))) set(1);
      if (auto f = reinterpret_cast<cblas_sgemm_fn>(dlsym(h, "cblas_sgemm")))
        out.push_back({name, f, nullptr});
    }
  }
  if (void* h =
          open_first({"/usr/lib/x86_64-linux-gnu/blis-serial/libblis.so.4",
                      "/usr/lib/x86_64-linux-gnu/blis-pthread/libblis.so.4",
                      "/usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so.4", "libblis.so.4"})) {
    if (auto set = reinterpret_cast<void (*)(long)>(dlsym(h, "bli_thread_set_num_threads"))) set(1);
    if (auto f = reinterpret_cast<cblas_sgemm_fn>(dlsym(h, "cblas_sgemm")))
      out.push_back({"blis", f, nullptr});
  }
  if (void* h = open_first({"libdnnl.so.2", "libdnnl.so.3"})) {
    // oneDNN threads through OpenMP (GNU libgomp, loaded with it): one thread, as the others.
    void* gomp = dlopen("libgomp.so.1", RTLD_NOW | RTLD_NOLOAD);
    auto set = gomp != nullptr ? reinterpret_cast<void (*)(int)>(dlsym(gomp, "omp_set_num_threads"))
                               : nullptr;
    if (set == nullptr) return out;  // cannot pin it to one thread: leave it out
    set(1);
    if (auto f = reinterpret_cast<dnnl_sgemm_fn>(dlsym(h, "dnnl_sgemm")))
      out.push_back({"onednn", nullptr, f});
  }
  return out;
}

// ---- GEMM shapes --------------------------------------------------------------------------------

struct shape {
  const char* name;
  bool ta, tb;
  std::size_t m, n, k;
};

shape make_shape(const std::string& s, std::size_t dim) {
  if (s == "QkProj") return {"QkProj", false, true, kTokens, 2 * dim, dim};
  if (s == "Proj") return {"Proj", false, true, kTokens, dim, dim};
  if (s == "MlpUp") return {"MlpUp", false, true, kTokens, 4 * dim, dim};
  if (s == "MlpDown") return {"MlpDown", false, true, kTokens, dim, 4 * dim};
  if (s == "QKt") return {"QKt", false, true, kTokens, kTokens, kHeadDim};
  return {"AV", false, false, kTokens, kHeadDim, kTokens};
}

struct operands {
  std::vector<float> a, b, c;
  std::size_t lda, ldb;
  explicit operands(const shape& s)
      : a(random_vec(s.m * s.k, 1)),
        b(random_vec(s.k * s.n, 2)),
        c(s.m * s.n),
        lda(s.ta ? s.m : s.k),
        ldb(s.tb ? s.k : s.n) {}
};

void set_flops(benchmark::State& state, const shape& s) {
  state.counters["FLOP/s"] = benchmark::Counter(
      2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k),
      benchmark::Counter::kIsIterationInvariantRate);
}

void BM_GemmGpsa(benchmark::State& state, shape s, std::size_t target) {
  const target_scope scope(target);
  operands o(s);
  for (auto _ : state) {
    if (gpsa::gemm(s.ta, s.tb, s.m, s.n, s.k, 1.0f, o.a.data(), o.lda, o.b.data(), o.ldb, 0.0f,
                   o.c.data(), s.n) != gpsa::status::ok) {
      state.SkipWithError("gemm failed");
      break;
    }
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
  label_target(state);
}

void BM_GemmPacked(benchmark::State& state, shape s) {
  operands o(s);
  std::size_t floats = 0;
  if (gpsa::gemm_packed_b_size(s.k, s.n, floats) != gpsa::status::ok) std::abort();
  std::vector<float> packed(floats);
  if (gpsa::gemm_pack_b(s.tb, s.k, s.n, o.b.data(), o.ldb, packed) != gpsa::status::ok)
    std::abort();
  for (auto _ : state) {
    if (gpsa::gemm_packed(s.ta, s.m, s.n, s.k, 1.0f, o.a.data(), o.lda, packed, 0.0f, o.c.data(),
                          s.n) != gpsa::status::ok) {
      state.SkipWithError("gemm_packed failed");
      break;
    }
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
  label_target(state);
}

void BM_GemmPortable(benchmark::State& state, shape s) {
  operands o(s);
  for (auto _ : state) {
    gpsa::detail::gemm_blocked_scalar(s.ta, s.tb, s.m, s.n, s.k, 1.0f, o.a.data(), o.lda,
                                      o.b.data(), o.ldb, 0.0f, o.c.data(), s.n);
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
  state.SetLabel("portable C++");
}

void BM_GemmPeer(benchmark::State& state, shape s, peer p) {
  operands o(s);
  for (auto _ : state) {
    p.gemm(s.ta, s.tb, s.m, s.n, s.k, o.a.data(), o.lda, o.b.data(), o.ldb, o.c.data(), s.n);
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
  state.SetLabel(p.name + ", 1 thread");
}

void BM_GemmThreads(benchmark::State& state, shape s, std::size_t workers) {
  operands o(s);
  gpsa::thread_pool_executor pool(workers);
  for (auto _ : state) {
    if (gpsa::gemm(s.ta, s.tb, s.m, s.n, s.k, 1.0f, o.a.data(), o.lda, o.b.data(), o.ldb, 0.0f,
                   o.c.data(), s.n, &pool.get()) != gpsa::status::ok) {
      state.SkipWithError("gemm failed");
      break;
    }
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
  label_target(state);
}

// ---- softmax and exp ----------------------------------------------------------------------------

// The public entry points in the signature of the scalar kernels they are compared with.
void softmax_public(float* x, std::size_t rows, std::size_t cols, std::size_t ld) noexcept {
  if (gpsa::softmax_rows(rows, cols, x, ld) != gpsa::status::ok) std::abort();
}
void exp_public(const float* in, float* out, std::size_t n) noexcept {
  if (gpsa::exp_values({in, n}, {out, n}) != gpsa::status::ok) std::abort();
}

// Softmax of 196 rows of `cols` logits (one head's content scores), items = rows * cols.
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
  label_target(state);
}
BENCHMARK_TEMPLATE(BM_SoftmaxRows, &softmax_public)->Name("BM_SoftmaxRows/simd")->Arg(196);
BENCHMARK_TEMPLATE(BM_SoftmaxRows, &gpsa::detail::softmax_rows_scalar)
    ->Name("BM_SoftmaxRows/scalar")
    ->Arg(196);

// exp over n values (the softmax's arithmetic).
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
  label_target(state);
}
BENCHMARK_TEMPLATE(BM_Exp, &exp_public)->Name("BM_Exp/simd")->Arg(196 * 196);
BENCHMARK_TEMPLATE(BM_Exp, &gpsa::detail::exp_scalar)->Name("BM_Exp/scalar")->Arg(196 * 196);

}  // namespace

void register_linalg_benchmarks() {
  benchmark::RegisterBenchmark("BM_FmaPeak", BM_FmaPeak, kDispatched);
  const std::size_t targets = gpsa::detail::simd_target_count();
  for (std::size_t t = 0; t < targets; ++t)
    benchmark::RegisterBenchmark(name({"BM_FmaPeak/", gpsa::detail::simd_target_name(t)}).c_str(),
                                 BM_FmaPeak, t);

  const std::vector<peer> peers = load_peers();
  const std::vector<std::pair<std::string, std::vector<std::size_t>>> shapes = {
      {"QkProj", {192, 432, 768}},  {"Proj", {192, 432, 768}}, {"MlpUp", {192, 432, 768}},
      {"MlpDown", {192, 432, 768}}, {"QKt", {kHeadDim}},       {"AV", {kHeadDim}}};
  for (const auto& entry : shapes) {
    const std::string& shape_name = entry.first;  // not a structured binding: lambdas capture it
    for (const std::size_t dim : entry.second) {
      const shape s = make_shape(shape_name, dim);
      const std::string d = std::to_string(dim);
      const auto bm = [&](std::string_view impl) {
        return name({"BM_Gemm", shape_name, "/", impl, "/", d});
      };
      benchmark::RegisterBenchmark(bm("gpsa").c_str(), BM_GemmGpsa, s, kDispatched);
      if (s.tb) benchmark::RegisterBenchmark(bm("packed").c_str(), BM_GemmPacked, s);
      for (std::size_t t = 1; t < targets; ++t)  // the others than the dispatched best
        benchmark::RegisterBenchmark(bm(gpsa::detail::simd_target_name(t)).c_str(), BM_GemmGpsa, s,
                                     t);
      benchmark::RegisterBenchmark(bm("portable").c_str(), BM_GemmPortable, s);
      for (const peer& p : peers)
        benchmark::RegisterBenchmark(bm(p.name).c_str(), BM_GemmPeer, s, p);
      for (const std::size_t w : {1, 2})
        benchmark::RegisterBenchmark(
            name({"BM_GemmThreads/", shape_name, "/", d, "/", std::to_string(w)}).c_str(),
            BM_GemmThreads, s, w)
            ->UseRealTime();
    }
  }
}

}  // namespace gpsa_bench
