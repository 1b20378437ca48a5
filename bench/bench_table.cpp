// SPDX-License-Identifier: MIT
// Relative-index tables: the runtime fill against memset of the same bytes (the bandwidth
// bound; BM_RelFill/14 vs BM_Memset/460992) and memcpy (what the fill mostly does), reading a
// baked table (per grid of the registry's Hana list) and the registry lookup.
#include <benchmark/benchmark.h>

#include <boost/hana/for_each.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "gpsa/registry.hpp"
#include "gpsa/rel_indices.hpp"

namespace gpsa_bench {
namespace {

constexpr std::size_t table_bytes(std::size_t s) { return s * s * s * s * 3 * sizeof(float); }

void set_bytes(benchmark::State& st, std::size_t bytes) {
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) *
                       static_cast<std::int64_t>(bytes));
  st.counters["bytes"] = static_cast<double>(bytes);
}

// The runtime fill of an S x S float32 table into a warm caller-owned buffer.
void BM_RelFill(benchmark::State& st) {
  const auto s = static_cast<std::size_t>(st.range(0));
  std::vector<float> buf(table_bytes(s) / sizeof(float));
  for (auto _ : st) {
    const gpsa::status rc = gpsa::fill_rel_indices<float>(gpsa::grid{s, s}, buf);
    benchmark::DoNotOptimize(rc);
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  set_bytes(st, table_bytes(s));
}
BENCHMARK(BM_RelFill)->Arg(7)->Arg(14)->Arg(24)->Arg(32);

// memset of the same byte counts: what any fill of that buffer can at best reach.
void BM_Memset(benchmark::State& st) {
  const auto bytes = static_cast<std::size_t>(st.range(0));
  std::vector<unsigned char> buf(bytes);
  for (auto _ : st) {
    std::memset(buf.data(), 0, bytes);
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  set_bytes(st, bytes);
}
BENCHMARK(BM_Memset)
    ->Arg(table_bytes(7))
    ->Arg(table_bytes(14))
    ->Arg(table_bytes(24))
    ->Arg(table_bytes(32));

// memcpy of the same byte counts: the runtime fill is mostly copies of earlier rows.
void BM_Memcpy(benchmark::State& st) {
  const auto bytes = static_cast<std::size_t>(st.range(0));
  std::vector<unsigned char> src(bytes, 1), dst(bytes);
  for (auto _ : st) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  set_bytes(st, bytes);
}
BENCHMARK(BM_Memcpy)
    ->Arg(table_bytes(7))
    ->Arg(table_bytes(14))
    ->Arg(table_bytes(24))
    ->Arg(table_bytes(32));

// Sum over a table behind an opaque pointer (so the compiler cannot fold a constexpr table);
// eight accumulators so the loop is bound by loads, not by the latency of one add chain.
float sum_table(const float* p, std::size_t n) {
  benchmark::DoNotOptimize(p);
  float acc[8] = {};
  const std::size_t blocks = n / 8;
  for (std::size_t b = 0; b < blocks; ++b)
    for (std::size_t k = 0; k < 8; ++k) acc[k] += p[8 * b + k];
  for (std::size_t k = 0; k < n % 8; ++k) acc[k] += p[8 * blocks + k];
  float total = 0.0f;
  for (const float a : acc) total += a;
  return total;
}

// Reading the runtime-filled table, for comparison with reading the baked one.
void runtime_read(benchmark::State& st, std::size_t s) {
  std::vector<float> buf(table_bytes(s) / sizeof(float));
  (void)gpsa::fill_rel_indices<float>(gpsa::grid{s, s}, buf);
  for (auto _ : st) benchmark::DoNotOptimize(sum_table(buf.data(), buf.size()));
  set_bytes(st, table_bytes(s));
}

// Registry lookup from a patch count: a pointer for baked grids, a fill otherwise.
void BM_Lookup(benchmark::State& st) {
  const auto s = static_cast<std::size_t>(st.range(0));
  std::vector<float> buf(table_bytes(s) / sizeof(float));
  for (auto _ : st) {
    std::size_t n = s * s;
    benchmark::DoNotOptimize(n);
    const auto r = gpsa::lookup_rel_indices<float>(n, buf);
    benchmark::DoNotOptimize(r.view.values);
    benchmark::ClobberMemory();
  }
  st.SetLabel(gpsa::is_baked<float>({s, s}) ? "baked" : "runtime");
}

}  // namespace

void register_table_benchmarks() {
  // One BM_BakedRead/S (and the matching runtime read and lookup) per grid of the Hana list.
  boost::hana::for_each(gpsa::baked_grids, [](auto size) {
    constexpr std::size_t S = decltype(size)::value;
    const std::string arg = std::to_string(S);
    benchmark::RegisterBenchmark(name({"BM_BakedRead/", arg}).c_str(), [](benchmark::State& st) {
      const auto& t = gpsa::rel_indices_v<S>;
      for (auto _ : st) benchmark::DoNotOptimize(sum_table(t.data(), t.size()));
      set_bytes(st, table_bytes(S));
    });
    benchmark::RegisterBenchmark(name({"BM_RuntimeRead/", arg}).c_str(),
                                 [](benchmark::State& st) { runtime_read(st, S); });
  });
  for (const std::int64_t s : {7, 14, 24, 32})
    benchmark::RegisterBenchmark("BM_Lookup", BM_Lookup)->Arg(s);
}

}  // namespace gpsa_bench
