// SPDX-License-Identifier: MIT
// Test helpers: run code on each SIMD target this build compiled and this CPU supports (so an
// AVX-512 machine also tests AVX2, SSE4, ...), and a serial executor that runs tasks out of order.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "gpsa/core/layer.hpp"
#include "linalg_impl.hpp"

namespace gpsa_test {

inline constexpr std::size_t kAutoTarget = static_cast<std::size_t>(-1);

// Dispatch restricted to one target while alive; kAutoTarget leaves the CPU's choice.
struct target_scope {
  explicit target_scope(std::size_t index) { gpsa::detail::simd_target_select(index); }
  ~target_scope() { gpsa::detail::simd_target_select(kAutoTarget); }
  target_scope(const target_scope&) = delete;
  target_scope& operator=(const target_scope&) = delete;
};

inline std::vector<std::size_t> simd_targets() {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < gpsa::detail::simd_target_count(); ++i) out.push_back(i);
  return out;
}

inline std::string target_name(std::size_t index) {
  return index == kAutoTarget ? "auto" : gpsa::detail::simd_target_name(index);
}

// Targets whose multiply-add is one fused rounding (x86 AVX2 and AVX-512): their results must be
// bit-identical to each other.
inline bool fused_multiply_add(std::size_t index) {
  const std::string n = target_name(index);
  return n == "AVX2" || n == "AVX3" || n == "AVX3_DL";
}

// An executor that runs every task on the calling thread, last index first, cycling through
// `workers` worker ids: a schedule no thread pool would produce in order.
struct reverse_executor {
  gpsa::executor ex{};
  explicit reverse_executor(std::size_t workers) {
    ex.context = this;
    ex.workers = workers;
    ex.parallel_for = [](void* ctx, std::size_t count,
                         void (*task)(void*, std::size_t, std::size_t), void* arg) {
      const auto* self = static_cast<reverse_executor*>(ctx);
      for (std::size_t i = count; i-- > 0;) task(arg, i, i % self->ex.workers);
    };
  }
};

}  // namespace gpsa_test
