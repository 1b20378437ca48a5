// SPDX-License-Identifier: MIT
// Shared helpers of gpsa's one benchmark program (bench_gpsa): inputs, labels, registration hooks.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gpsa/core/linalg.hpp"

namespace gpsa_bench {

inline std::vector<float> random_vec(std::size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

// A benchmark name from parts, "BM_X" "/" "a" ... (appends: GCC 12 warns falsely on chains of
// std::string operator+).
inline std::string name(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}

// Every report names the SIMD target the kernels dispatched to.
inline void label_target(benchmark::State& state) { state.SetLabel(gpsa::simd_backend()); }

// Registration of the benchmarks whose names are built at run time (one per file).
void register_linalg_benchmarks();
void register_layer_benchmarks();
void register_table_benchmarks();

}  // namespace gpsa_bench
