// bench_gpsa: every gpsa benchmark in one program, so one run gives same-run ratios (forward vs
// the FMA peak, fill vs memset, ...). The JSON context records the GEMM and SIMD backends.
//   build/default/bench/bench_gpsa --benchmark_filter='BM_(FmaPeak|Forward/small/1)$'
#include <benchmark/benchmark.h>

#include "bench_common.hpp"
#include "gpsa/linalg.hpp"

int main(int argc, char** argv) {
  benchmark::AddCustomContext("gpsa_gemm_backend", gpsa::gemm_backend());
  benchmark::AddCustomContext("gpsa_simd_backend", gpsa::simd_backend());
  gpsa_bench::register_linalg_benchmarks();
  gpsa_bench::register_layer_benchmarks();
  gpsa_bench::register_table_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
