// SPDX-License-Identifier: MIT
// bench_gpsa: every gpsa kernel benchmark in one program, so one run gives same-run ratios
// (forward vs the FMA peak, fill vs memset, gpsa's GEMM vs the installed BLAS libraries).
//   build/default/bench/bench_gpsa --benchmark_filter='BM_(FmaPeak|Forward/small/1)$'
#include "bench_main.hpp"
#include "bench_common.hpp"

int main(int argc, char** argv) {
  gpsa_bench::register_linalg_benchmarks();
  gpsa_bench::register_layer_benchmarks();
  gpsa_bench::register_table_benchmarks();
  return gpsa_bench::run_benchmarks(argc, argv);
}
