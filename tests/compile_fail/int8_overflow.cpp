// SPDX-License-Identifier: MIT
// Compile-fail twins (Eigen's failtest idea): built twice, once as-is (must compile) and once
// with GPSA_KO defined, which asks for an int8 table of a 9x9 grid: dx^2+dy^2 reaches 128 >
// INT8_MAX, so gpsa must refuse at compile time with a readable message, never wrap.
#include <cstdint>

#include "gpsa/rel_indices.hpp"

#ifdef GPSA_KO
constexpr std::size_t kGrid = 9;
#else
constexpr std::size_t kGrid = 8;  // 7^2 + 7^2 = 98 fits
#endif

int main() {
  return static_cast<int>(gpsa::rel_indices_v<kGrid, kGrid, std::int8_t>(0, kGrid * kGrid - 1, 2));
}
