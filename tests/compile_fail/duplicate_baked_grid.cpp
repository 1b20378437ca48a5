// SPDX-License-Identifier: MIT
// Compile-fail twins: a list of baked grids that names a grid twice (GPSA_BAKED_GRIDS, normally
// set by CMake) must be refused with gpsa's message (the ok twin lists two distinct grids).
#undef GPSA_BAKED_GRIDS
#ifdef GPSA_KO
#define GPSA_BAKED_GRIDS 3, 4, 3
#else
#define GPSA_BAKED_GRIDS 3, 4
#endif
#include "gpsa/registry.hpp"

int main() { return static_cast<int>(gpsa::baked_grid_sizes.size()); }
