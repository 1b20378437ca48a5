// SPDX-License-Identifier: MIT
// ConViT's relative-position table (dx, dy, dx^2+dy^2 per query/key patch pair): the
// compile-time tables, the runtime fill into caller-owned memory, and a non-owning view.
//
// Provenance: timm/models/convit.py GPSA.get_rel_indices. For query p = (yp, xp) and key
// q = (yq, xq) on an R x C grid (p = yp*C + xp), element (p, q, c) is
//   c = 0: dx = xq - xp,   c = 1: dy = yq - yp,   c = 2: dx^2 + dy^2.
// All values are small integers, so every supported element type holds them exactly
// (or the choice is rejected, at compile time for tables and with a status at run time).
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>

#include "gpsa/grid.hpp"
#include "gpsa/status.hpp"

namespace gpsa {

// Element types a table can be stored in.
template <class T>
concept rel_element = std::same_as<T, float> || std::same_as<T, double> ||
    std::same_as<T, std::int8_t> || std::same_as<T, std::int16_t> || std::same_as<T, std::int32_t>;

// Largest magnitude T represents exactly: digits of the significand for floats
// (2^24 for float), max() for integers.
template <rel_element T>
constexpr std::uint64_t exact_limit() noexcept {
  if constexpr (std::is_floating_point_v<T>)
    return std::uint64_t{1} << std::numeric_limits<T>::digits;
  else
    return static_cast<std::uint64_t>(std::numeric_limits<T>::max());
}

// True when every value of grid g's table (|dx| <= C-1, |dy| <= R-1,
// dx^2+dy^2 <= (R-1)^2+(C-1)^2) is exactly representable in T.
template <rel_element T>
constexpr bool rel_values_fit(grid g) noexcept {
  if (g.empty()) return true;
  const std::uint64_t lim = exact_limit<T>();
  const std::uint64_t a = g.rows - 1, b = g.cols - 1;
  if (a > lim || b > lim) return false;
  // a*a + b*b <= lim, without overflowing 64 bits
  if (a != 0 && a > lim / a) return false;
  if (b != 0 && b > lim / b) return false;
  return a * a <= lim - b * b;
}

// Non-owning view of an (N, N, 3) table in PyTorch layout.
template <rel_element T>
struct rel_view {
  const T* values = nullptr;
  gpsa::grid shape{};

  constexpr std::size_t patches() const noexcept { return shape.patches(); }
  constexpr std::size_t size() const noexcept { return patches() * patches() * 3; }
  constexpr const T* data() const noexcept { return values; }
  constexpr T operator()(std::size_t p, std::size_t q, std::size_t c) const noexcept {
    return values[(p * patches() + q) * 3 + c];
  }
  constexpr std::span<const T> span() const noexcept { return {values, size()}; }
};

namespace detail {

template <class T>
constexpr void put_triple(T* out, std::ptrdiff_t dx, std::ptrdiff_t dy) noexcept {
  out[0] = static_cast<T>(dx);
  out[1] = static_cast<T>(dy);
  out[2] = static_cast<T>(dx * dx + dy * dy);
}

// Fills an already validated buffer. In constant evaluation every element is computed. At run
// time almost everything is block copies from two L1-resident rows (bench: BM_RelFill vs
// BM_Memset). Key row yq of query (yp, xp) holds dy = yq - yp, and
//  - the first and last query rows of column xp, (0, xp) and (R-1, xp), hold every dy >= 0 and
//    every dy <= 0: they are computed (column 0), or copied from column xp-1's by one key with
//    the first key of each key row recomputed (other columns; computed instead when that copy
//    would run between addresses a multiple of 4 KiB apart plus a few bytes, e.g. S = 32 float,
//    where x86 cores stall on false store-to-load aliasing);
//  - every other query row (yp, xp) is key rows [R-1-yp, R-1) of row (R-1, xp) followed by key
//    rows [0, R-yp) of row (0, xp): two copies of whole key rows.
template <class T>
constexpr void fill_rel_indices_unchecked(std::size_t R, std::size_t C, T* d) noexcept {
  using sp = std::ptrdiff_t;
  const std::size_t n = R * C, row = 3 * n, blk = 3 * C;
  const auto compute_row = [&](T* r, std::size_t yp, std::size_t xp) {
    for (std::size_t yq = 0; yq < R; ++yq)
      for (std::size_t xq = 0; xq < C; ++xq)
        put_triple(r + 3 * (yq * C + xq), sp(xq) - sp(xp), sp(yq) - sp(yp));
  };
  if (std::is_constant_evaluated()) {
    for (std::size_t p = 0; p < n; ++p) compute_row(d + p * row, p / C, p % C);
    return;
  }
  const std::size_t alias = (row + 3) * sizeof(T) % 4096;
  const bool shift_by_key = alias >= 256 && alias <= 4096 - 256;
  for (std::size_t xp = 0; xp < C; ++xp) {
    T* top = d + xp * row;                     // query (0, xp)
    T* bottom = d + ((R - 1) * C + xp) * row;  // query (R-1, xp)
    T* const ends[2] = {top, bottom};
    for (std::size_t e = 0; e < 2; ++e) {
      T* r = ends[e];
      const std::size_t yp = e == 0 ? 0 : R - 1;
      if (xp > 0 && shift_by_key) {
        std::copy_n(r - row, row - 3, r + 3);
        for (std::size_t yq = 0; yq < R; ++yq) put_triple(r + yq * blk, -sp(xp), sp(yq) - sp(yp));
      } else {
        compute_row(r, yp, xp);
      }
      if (R == 1) break;
    }
    for (std::size_t yp = 1; yp + 1 < R; ++yp) {
      T* r = d + (yp * C + xp) * row;
      std::copy_n(bottom + (R - 1 - yp) * blk, yp * blk, r);
      std::copy_n(top, (R - yp) * blk, r + yp * blk);
    }
  }
}

}  // namespace detail

// Runtime fallback: writes grid g's (N, N, 3) table into `out` (caller-owned, at least
// N*N*3 elements). No heap, no exceptions; usable in constant evaluation too.
template <rel_element T>
constexpr status fill_rel_indices(grid g, std::span<T> out) noexcept {
  std::size_t count = 0;
  if (const status s = rel_indices_count(g, count); s != status::ok) return s;
  if (!rel_values_fit<T>(g)) return status::value_out_of_range;
  if (out.size() < count) return status::buffer_too_small;
  detail::fill_rel_indices_unchecked(g.rows, g.cols, out.data());
  return status::ok;
}

// Same, for a patch count N of a square grid (ConViT's convention); non-square N is an error.
template <rel_element T>
constexpr status fill_rel_indices(std::size_t patches, std::span<T> out) noexcept {
  grid g{};
  if (const status s = square_grid_from_patches(patches, g); s != status::ok) return s;
  return fill_rel_indices(g, out);
}

// Compact form: the (2R-1) x (2C-1) x 3 table of every offset. Element (i, j, c) holds
// dx = j - (C-1), dy = i - (R-1), dx^2+dy^2; table entry (p, q, c) equals offset entry
// (yq - yp + R - 1, xq - xp + C - 1, c), so each query row is a window of this one.
template <rel_element T>
constexpr status fill_rel_offsets(grid g, std::span<T> out) noexcept {
  if (g.empty()) return status::empty_grid;
  std::size_t h = 0, w = 0, hw = 0, count = 0;
  if (g.rows > std::numeric_limits<std::size_t>::max() / 2 ||
      g.cols > std::numeric_limits<std::size_t>::max() / 2)
    return status::size_overflow;
  h = 2 * g.rows - 1;
  w = 2 * g.cols - 1;
  if (!detail::checked_mul(h, w, hw) || !detail::checked_mul(hw, 3, count))
    return status::size_overflow;
  if (!rel_values_fit<T>(g)) return status::value_out_of_range;
  if (out.size() < count) return status::buffer_too_small;
  for (std::size_t i = 0; i < h; ++i)
    for (std::size_t j = 0; j < w; ++j)
      detail::put_triple(out.data() + 3 * (i * w + j),
                         static_cast<std::ptrdiff_t>(j) - static_cast<std::ptrdiff_t>(g.cols - 1),
                         static_cast<std::ptrdiff_t>(i) - static_cast<std::ptrdiff_t>(g.rows - 1));
  return status::ok;
}

// A baked table of the R x C grid with element type T. Build it through `rel_indices_v`.
template <std::size_t R, std::size_t C = R, rel_element T = float>
struct rel_table {
  using value_type = T;
  static constexpr std::size_t rows = R;
  static constexpr std::size_t cols = C;
  static constexpr std::size_t patches = R * C;
  static constexpr std::size_t channels = 3;
  static constexpr std::size_t count = patches * patches * channels;

  T values[count > 0 ? count : 1]{};  // (never zero-sized: make() reports an empty grid)

  static constexpr gpsa::grid shape_grid() noexcept { return {R, C}; }
  static constexpr std::array<std::size_t, 3> shape() noexcept { return {patches, patches, 3}; }
  static constexpr std::size_t size() noexcept { return count; }
  constexpr const T* data() const noexcept { return values; }
  constexpr const T* begin() const noexcept { return values; }
  constexpr const T* end() const noexcept { return values + count; }
  constexpr T operator()(std::size_t p, std::size_t q, std::size_t c) const noexcept {
    return values[(p * patches + q) * channels + c];
  }
  constexpr rel_view<T> view() const noexcept { return {values, shape_grid()}; }

  // The checks live here, where rel_indices_v instantiates them, so a misuse gives exactly one
  // error (in the class body, Clang would add follow-up errors on every use of the table).
  static constexpr rel_table make() noexcept {
    static_assert(R > 0 && C > 0, "gpsa::rel_table: a grid needs at least one row and one column");
    static_assert(R == 0 || C == 0 || rel_values_fit<T>(grid{R, C}),
                  "gpsa::rel_table: the element type cannot hold this grid's values exactly "
                  "(dx^2+dy^2 reaches (R-1)^2+(C-1)^2; int8 holds square grids up to 8x8, "
                  "int16 up to 128x128): choose a wider element type");
    rel_table t{};
    detail::fill_rel_indices_unchecked(R, C, t.values);
    return t;
  }
};

// The baked table, PyTorch layout: rel_indices_v<S> (float, S x S), rel_indices_v<R, C>,
// rel_indices_v<R, C, T> with T in {float, double, int8_t, int16_t, int32_t}. A variable
// template: evaluated only in translation units that name it, constant-initialised
// (.rodata, no start-up code), one object program-wide.
template <std::size_t R, std::size_t C = R, rel_element T = float>
inline constexpr rel_table<R, C, T> rel_indices_v = rel_table<R, C, T>::make();

// The compact (2R-1, 2C-1, 3) offset table as a constexpr value.
template <std::size_t R, std::size_t C = R, rel_element T = float>
struct rel_offset_table {
  static constexpr std::size_t height = R > 0 ? 2 * R - 1 : 0, width = C > 0 ? 2 * C - 1 : 0,
                               count = height * width * 3;
  T values[count > 0 ? count : 1]{};  // (never zero-sized: make() reports an empty grid)

  static constexpr std::size_t size() noexcept { return count; }
  constexpr const T* data() const noexcept { return values; }
  constexpr T operator()(std::size_t i, std::size_t j, std::size_t c) const noexcept {
    return values[(i * width + j) * 3 + c];
  }
  // Entry (p, q, c) of the full table, read through the window of query p.
  constexpr T at(std::size_t p, std::size_t q, std::size_t c) const noexcept {
    return (*this)(q / C + (R - 1) - p / C, q % C + (C - 1) - p % C, c);
  }
  // The checks live here, as in rel_table::make (one error per misuse).
  static constexpr rel_offset_table make() noexcept {
    static_assert(R > 0 && C > 0,
                  "gpsa::rel_offset_table: a grid needs at least one row and one column");
    static_assert(
        R == 0 || C == 0 || rel_values_fit<T>(grid{R, C}),
        "gpsa::rel_offset_table: the element type cannot hold this grid's values exactly");
    rel_offset_table t{};
    (void)fill_rel_offsets<T>(grid{R, C}, std::span<T>(t.values, count));
    return t;
  }
};

template <std::size_t R, std::size_t C = R, rel_element T = float>
inline constexpr rel_offset_table<R, C, T> rel_offsets_v = rel_offset_table<R, C, T>::make();

}  // namespace gpsa
