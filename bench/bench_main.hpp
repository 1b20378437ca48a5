// Shared main() body of gpsa's benchmark programs: records the backends in the JSON context.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdlib>

#include "gpsa/linalg.hpp"

namespace gpsa_bench {

// Adds which GEMM/SIMD backend and BLAS thread setting produced the numbers, then runs.
inline int run_benchmarks(int argc, char** argv) {
  benchmark::AddCustomContext("gpsa_gemm_backend", gpsa::gemm_backend());
  benchmark::AddCustomContext("gpsa_simd_backend", gpsa::simd_backend());
  const char* threads = std::getenv("OPENBLAS_NUM_THREADS");
  benchmark::AddCustomContext("OPENBLAS_NUM_THREADS", threads != nullptr ? threads : "unset");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace gpsa_bench
