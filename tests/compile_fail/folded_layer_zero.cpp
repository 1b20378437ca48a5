// SPDX-License-Identifier: MIT
// Compile-fail twins: a folded layer with zero heads must be refused with gpsa's message (the ok
// twin folds one head on a 2x2 grid).
#include <array>

#include "gpsa/core/fold.hpp"

#ifdef GPSA_KO
constexpr std::size_t kHeads = 0;
#else
constexpr std::size_t kHeads = 1;
#endif

constexpr std::array<float, kHeads * 3> kWeight{};
constexpr std::array<float, kHeads> kGating{};
constexpr auto kFolded = gpsa::layer_fold<kHeads, 2>(kWeight, kGating);

int main() { return kFolded.state == gpsa::status::ok ? 0 : 1; }
