// SPDX-License-Identifier: MIT
// Core-private: the one owner of the pre-packed weight layout. A packed linear weight, the GPSA
// layer's pack (layer_pack: qk | v | proj) and the cursor the whole model's pack (convit_pack,
// convit.cpp's walk_block) advances with, so the layer, the model and their size queries
// cannot disagree.
#pragma once

#include <cstddef>

#include "gemm_blocked.hpp"
#include "gpsa/core/types.hpp"

namespace gpsa::detail {

// Floats of a packed (n, k) nn.Linear weight: k x n rounded up to whole GEMM panels, then to 16
// floats (consecutive packed weights stay 64-byte aligned); false on overflow.
inline bool linear_packed_floats(std::size_t n, std::size_t k, std::size_t& floats) noexcept {
  std::size_t f = 0;
  return checked_mul(k, gemm_panels(n), kGemmPanel, f) && round_up_aligned(f, floats);
}

// weight (n, k) into `out` (linear_packed_floats): the panels gemm packs op(B) = W^T into.
inline void linear_pack(std::size_t n, std::size_t k, const float* weight, float* out) noexcept {
  gemm_pack_b_run(true, k, n, weight, k, out);
}

// Where a GPSA layer's packed weights are (offsets in floats), in layer_pack's order.
struct layer_pack_layout {
  std::size_t qk = 0, v = 0, proj = 0, total = 0;
};

// The layout for width D; false on overflow.
inline bool layer_pack_layout_of(std::size_t D, layer_pack_layout& l) noexcept {
  std::size_t qk = 0, dd = 0;
  if (!linear_packed_floats(2 * D, D, qk) || !linear_packed_floats(D, D, dd)) return false;
  l.qk = 0;
  l.v = qk;
  return checked_add(qk, dd, l.proj) && checked_add(l.proj, dd, l.total);
}

// A cursor over a pack made of packed pieces in a fixed order (the whole model's): each take()
// returns the offset of the next piece and advances past it; `ok` turns false on overflow.
struct pack_walk {
  std::size_t offset = 0;
  bool ok = true;

  std::size_t advance(std::size_t floats) noexcept {
    const std::size_t at = offset;
    if (!checked_add(offset, floats, offset)) ok = false;
    return at;
  }
  // One linear weight (out, in).
  std::size_t take_linear(std::size_t out, std::size_t in) noexcept {
    std::size_t f = 0;
    if (!linear_packed_floats(out, in, f)) ok = false;
    return advance(f);
  }
  // One GPSA layer's pack (layer_pack_layout).
  std::size_t take_layer(std::size_t dim) noexcept {
    layer_pack_layout l{};
    if (!layer_pack_layout_of(dim, l)) ok = false;
    return advance(l.total);
  }
};

}  // namespace gpsa::detail
