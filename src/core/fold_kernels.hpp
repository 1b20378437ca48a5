// SPDX-License-Identifier: MIT
// Internal: the kernels on separable factors shared by gpsa/core/fold.hpp and gpsa/core/layer.hpp.
// One implementation each of (Gy (x) Fx) V and of PyTorch's get_attention blend.
#pragma once

#include <cstddef>

namespace gpsa::detail {

// Sum of a row: eight independent float lanes (vectorisable, no 196-long dependency chain),
// combined in double. Rows are probability rows, so the lanes lose nothing that matters.
inline float row_sum(const float* row, std::size_t n) noexcept {
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (std::size_t l = 0; l < 8; ++l) lane[l] += row[j + l];
  double s = 0.0;
  for (; j < n; ++j) s += static_cast<double>(row[j]);
  for (const float v : lane) s += static_cast<double>(v);
  return static_cast<float>(s);
}

// Rows [p0, p0 + rows) of one head, as PyTorch's GPSA.get_attention, in float:
//   out = one_minus * content + lam * (gy_h[yp][yq] * fx_h[xp][xq]),  then out /= row sum.
// fx_h: C x C, gy_h: R x R; content / out: `rows` x (R*C), strides ldc / ldo; out may equal
// content. The position is formed as gy * fx first, so this equals a blend with the dense
// expansion (positional_expand) bit for bit.
void blend_rows_factored(const float* fx_h, const float* gy_h, std::size_t R, std::size_t C,
                         float lam, float one_minus, std::size_t p0, std::size_t rows,
                         const float* content, std::size_t ldc, float* out,
                         std::size_t ldo) noexcept;

// out (N x d, stride ldo) = (gy_h (x) fx_h) v (N x d, stride ldv) for one head, O(N (R+C) d):
// along columns with fx_h (C x C), then across rows with gy_h (R x R). t: N*d floats of scratch.
// out must not overlap v or t.
void positional_apply_factors(const float* fx_h, const float* gy_h, std::size_t R, std::size_t C,
                              std::size_t d, const float* v, std::size_t ldv, float* out,
                              std::size_t ldo, float* t) noexcept;

}  // namespace gpsa::detail
