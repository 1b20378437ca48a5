// SPDX-License-Identifier: MIT
// The FMA limit both benchmark programs report: a register-only FMA loop of the dispatched SIMD
// target (as many independent chains as the GEMM tile keeps), counter FLOP/s.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>

#include "gpsa/core/linalg.hpp"
#include "linalg_impl.hpp"

namespace gpsa_bench {

inline void fma_peak_loop(benchmark::State& state) {
  constexpr std::size_t kIters = 1 << 16;
  for (auto _ : state) benchmark::DoNotOptimize(gpsa::detail::fma_peak(kIters));
  state.counters["FLOP/s"] =
      benchmark::Counter(static_cast<double>(kIters * gpsa::detail::fma_peak_flops_per_iteration()),
                         benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(gpsa::simd_backend());
}

}  // namespace gpsa_bench
