// SPDX-License-Identifier: MIT
// Core-private: a ConViT block's GPSA layer as the layer kernels read it, for the model's
// analysis functions (convit_probe.cpp); defined in convit.cpp, which owns the pack's layout.
#pragma once

#include <cstddef>

#include "gpsa/core/convit.hpp"
#include "gpsa/core/layer.hpp"

namespace gpsa::detail {

// Block i's GPSA layer: its weights and, when w.packed is set, the block's place in the pack
// (the plain linear weights may then be null). i must be a GPSA block.
layer_weights convit_gpsa_layer(const convit_weights& w, std::size_t i) noexcept;

}  // namespace gpsa::detail
