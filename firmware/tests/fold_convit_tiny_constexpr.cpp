// SPDX-License-Identifier: MIT
// The ConViT-Ti golden layer folded by the cross compiler (gpsa::layer_fold in constant
// evaluation): 4*(14*14 + 14*14) + 4 floats in .rodata, no start-up code. fold_convit_tiny.c
// compares it bit for bit with the run-time fold and with the `gpsa fold` header.
#include <span>

#include "convit_tiny_golden.h"
#include "gpsa/core/fold.hpp"
#include "gpsa/gpsa.h"

constexpr std::size_t heads = CONVIT_TINY_HEADS, grid = CONVIT_TINY_GRID;
constexpr gpsa::folded_layer<heads, grid> convit_tiny_folded_ct =
    gpsa::layer_fold<heads, grid>(std::span<const float, heads * 3>(convit_tiny_pos_weight),
                                  std::span<const float, heads>(convit_tiny_gating));
static_assert(convit_tiny_folded_ct.state == gpsa::status::ok);
static_assert(convit_tiny_folded_ct.lambda[0] > 0.0f && convit_tiny_folded_ct.lambda[0] < 1.0f);

extern "C" const gpsa_folded_view convit_tiny_constexpr_fold = {heads,
                                                                grid,
                                                                grid,
                                                                convit_tiny_folded_ct.fx,
                                                                convit_tiny_folded_ct.gy,
                                                                convit_tiny_folded_ct.lambda};
