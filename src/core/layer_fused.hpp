// SPDX-License-Identifier: MIT
// Core-private: the GPSA layer's fused forward on checked arguments, for the whole model
// (convit.cpp), defined beside layer_forward in layer.cpp.
#pragma once

#include <cstddef>
#include <span>

#include "gpsa/core/layer.hpp"

namespace gpsa::detail {

// layer_forward's fused path with the residual option the model needs: y (B, N, D) = GPSA(x), or
// y += GPSA(x) with `accumulate` (y must then not alias x). scratch: at least
// layer_scratch_size(dims, workers_of(ex)).
void layer_forward_fused(const layer_weights& w, const folded_view& pos, std::size_t batch,
                         const float* x, float* y, bool accumulate, std::span<float> scratch,
                         const executor* ex) noexcept;

}  // namespace gpsa::detail
