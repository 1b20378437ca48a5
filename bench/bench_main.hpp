// SPDX-License-Identifier: MIT
// Shared main() body of gpsa's benchmark programs: records the backends in the JSON context.
#pragma once

#include <benchmark/benchmark.h>

#include "gpsa/core/linalg.hpp"

namespace gpsa_bench {

// Adds which GEMM and SIMD target produced the numbers (the JSON context), then runs.
inline int run_benchmarks(int argc, char** argv) {
  benchmark::AddCustomContext("gpsa_gemm_backend", gpsa::gemm_backend());
  benchmark::AddCustomContext("gpsa_simd_backend", gpsa::simd_backend());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace gpsa_bench
