// SPDX-License-Identifier: MIT
// Patch grids (rows x cols), patch counts and the checked size arithmetic behind every table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "gpsa/detail/checked.hpp"
#include "gpsa/status.hpp"

namespace gpsa {

// A grid of `rows` x `cols` patches, patch index p = y * cols + x (row-major, like
// PyTorch's flatten(2) of a conv output).
struct grid {
  std::size_t rows = 0;
  std::size_t cols = 0;

  constexpr std::size_t patches() const noexcept { return rows * cols; }
  constexpr bool empty() const noexcept { return rows == 0 || cols == 0; }
  constexpr bool square() const noexcept { return rows == cols; }
  friend constexpr bool operator==(const grid&, const grid&) = default;
};

namespace detail {

// floor(sqrt(n)) without floating point or division (digit by digit, two bits per step), exact
// for every size_t; a few dozen cycles, also on cores without an FPU or divider.
constexpr std::size_t isqrt(std::size_t n) noexcept {
  std::size_t rem = n, root = 0;
  std::size_t bit = std::size_t{1} << (std::numeric_limits<std::size_t>::digits - 2);
  while (bit > rem) bit >>= 2;
  while (bit != 0) {
    if (rem >= root + bit) {
      rem -= root + bit;
      root = (root >> 1) + bit;
    } else {
      root >>= 1;
    }
    bit >>= 2;
  }
  return root;
}

}  // namespace detail

// The square grid with `n` patches (ConViT's convention, S = sqrt(N)). Unlike PyTorch,
// a non-square n is an error rather than a silently wrong table.
constexpr status square_grid_from_patches(std::size_t n, grid& out) noexcept {
  if (n == 0) return status::empty_grid;
  const std::size_t s = detail::isqrt(n);
  if (s * s != n) return status::not_square;
  out = grid{s, s};
  return status::ok;
}

// Number of elements of the (N, N, 3) table of grid g, with overflow checks.
constexpr status rel_indices_count(grid g, std::size_t& count) noexcept {
  if (g.empty()) return status::empty_grid;
  std::size_t n = 0, nn = 0, c = 0;
  if (!detail::checked_mul(g.rows, g.cols, n)) return status::size_overflow;
  if (!detail::checked_mul(n, n, nn)) return status::size_overflow;
  if (!detail::checked_mul(nn, 3, c)) return status::size_overflow;
  count = c;
  return status::ok;
}

}  // namespace gpsa
