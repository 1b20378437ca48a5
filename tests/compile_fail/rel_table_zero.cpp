// SPDX-License-Identifier: MIT
// Compile-fail twins: a baked table of a grid with zero rows must be refused with gpsa's message
// (the ok twin bakes a 1x1 grid).
#include "gpsa/rel_indices.hpp"

#ifdef GPSA_KO
constexpr std::size_t kRows = 0;
#else
constexpr std::size_t kRows = 1;
#endif

int main() { return static_cast<int>(gpsa::rel_indices_v<kRows, 1>.size()); }
