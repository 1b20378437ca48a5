// SPDX-License-Identifier: MIT
// The registry of baked tables: the compile-time list of square grids (GPSA_BAKED_GRIDS) and a
// lookup from a runtime grid or patch count to the baked table, else the runtime fill.
//
// Typical use (no heap, no exceptions):
//
//   float scratch[...];                                   // only touched for grids not baked
//   auto r = gpsa::lookup_rel_indices<float>(gpsa::grid{h, w}, scratch);
//   if (!r) return r.code;                                // gpsa::status, see status_message()
//   use(r.view);                                          // r.source says baked or runtime
//
// The list comes from the compile definition GPSA_BAKED_GRIDS (comma-separated sizes S, set on
// gpsa::gpsa from the CMake cache list of the same name). A TU that calls the lookup for element
// type T evaluates every baked table that fits T (about 0.4 s of CPU per 14x14 table: "Compile
// cost" in docs/tables.md).
#pragma once

#include <array>
#include <boost/hana/for_each.hpp>
#include <boost/hana/integral_constant.hpp>
#include <boost/hana/length.hpp>
#include <boost/hana/tuple.hpp>
#include <cstddef>
#include <span>
#include <type_traits>
#include <utility>

#include "gpsa/grid.hpp"
#include "gpsa/rel_indices.hpp"
#include "gpsa/status.hpp"

#ifndef GPSA_BAKED_GRIDS
#define GPSA_BAKED_GRIDS 7, 14, 16  // keep in sync with the CMake cache default
#endif

namespace gpsa {

namespace detail {

// A leading 0 keeps the initializer valid when GPSA_BAKED_GRIDS is defined empty.
inline constexpr std::size_t baked_grids_raw[] = {0, GPSA_BAKED_GRIDS};
inline constexpr std::size_t baked_grid_count = std::size(baked_grids_raw) - 1;

template <std::size_t... I>
constexpr auto make_baked_list(std::index_sequence<I...>) noexcept {
  return boost::hana::tuple_c<std::size_t, baked_grids_raw[I + 1]...>;
}

constexpr bool baked_grids_valid() noexcept {
  for (std::size_t i = 1; i <= baked_grid_count; ++i) {
    if (baked_grids_raw[i] == 0) return false;
    for (std::size_t j = 1; j < i; ++j)
      if (baked_grids_raw[i] == baked_grids_raw[j]) return false;
  }
  return true;
}
static_assert(baked_grids_valid(),
              "GPSA_BAKED_GRIDS must list distinct positive grid sizes, e.g. 7,14,16");

}  // namespace detail

// The baked square grid sizes S as a Boost.Hana tuple of std::size_t integral constants,
// e.g. hana::tuple_c<std::size_t, 7, 14, 16>. Iterate with hana::for_each / hana::unpack.
inline constexpr auto baked_grids =
    detail::make_baked_list(std::make_index_sequence<detail::baked_grid_count>{});

// The same sizes as a plain array, for code that wants a runtime loop.
inline constexpr std::array<std::size_t, detail::baked_grid_count> baked_grid_sizes = [] {
  std::array<std::size_t, detail::baked_grid_count> a{};
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = detail::baked_grids_raw[i + 1];
  return a;
}();

// Where a looked-up table came from.
enum class rel_source {
  baked,    // a view of gpsa::rel_indices_v<S, S, T> in .rodata; the buffer was not touched
  runtime,  // the runtime fill wrote the caller's buffer; the view points into it
};

constexpr const char* rel_source_name(rel_source s) noexcept {
  return s == rel_source::baked ? "baked" : "runtime";
}

// Result of a lookup: on success (`code == status::ok`, also `explicit operator bool`) `view`
// is the (N, N, 3) table; on failure `view` is empty and `code` says why.
template <rel_element T>
struct [[nodiscard]] rel_lookup {
  status code = status::ok;
  rel_source source = rel_source::runtime;
  rel_view<T> view{};

  constexpr explicit operator bool() const noexcept { return code == status::ok; }
  constexpr bool baked() const noexcept {
    return code == status::ok && source == rel_source::baked;
  }
};

// True when grid g is baked for element type T (square, listed, and T holds its values).
template <rel_element T = float>
constexpr bool is_baked(grid g) noexcept {
  bool found = false;
  boost::hana::for_each(baked_grids, [&](auto s) {
    constexpr std::size_t S = decltype(s)::value;
    if constexpr (rel_values_fit<T>(grid{S, S})) found = found || (g.rows == S && g.cols == S);
  });
  return found;
}

// The baked table of grid g as a view, or an empty view (data() == nullptr) when g is not baked
// for T. Never fills anything.
template <rel_element T = float>
constexpr rel_view<T> baked_rel_indices(grid g) noexcept {
  rel_view<T> v{};
  boost::hana::for_each(baked_grids, [&](auto s) {
    constexpr std::size_t S = decltype(s)::value;
    if constexpr (rel_values_fit<T>(grid{S, S}))
      if (g.rows == S && g.cols == S) v = rel_indices_v<S, S, T>.view();
  });
  return v;
}

// Grid g's table: the baked one when g is baked for T (`fallback` untouched, may be empty), else
// the runtime fill into `fallback`, which needs N*N*3 elements (see gpsa::rel_indices_count).
// Errors: empty_grid, size_overflow, value_out_of_range, buffer_too_small.
template <rel_element T = float>
constexpr rel_lookup<T> lookup_rel_indices(grid g,
                                           std::type_identity_t<std::span<T>> fallback) noexcept {
  if (const rel_view<T> v = baked_rel_indices<T>(g); v.data() != nullptr)
    return {status::ok, rel_source::baked, v};
  const status s = fill_rel_indices<T>(g, fallback);
  if (s != status::ok) return {s, rel_source::runtime, {}};
  return {status::ok, rel_source::runtime, rel_view<T>{fallback.data(), g}};
}

// Same, from a patch count N of a square grid (ConViT's convention); also returns not_square.
template <rel_element T = float>
constexpr rel_lookup<T> lookup_rel_indices(std::size_t patches,
                                           std::type_identity_t<std::span<T>> fallback) noexcept {
  grid g{};
  if (const status s = square_grid_from_patches(patches, g); s != status::ok)
    return {s, rel_source::runtime, {}};
  return lookup_rel_indices<T>(g, fallback);
}

}  // namespace gpsa
