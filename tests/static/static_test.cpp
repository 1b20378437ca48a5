// SPDX-License-Identifier: MIT
// Compile-time tests: if this file compiles, every static_assert below holds (the ctest entry
// only runs the empty main). Tables, the runtime fill in constant evaluation, statuses, registry.
#include <array>
#include <boost/hana/for_each.hpp>
#include <cstdint>

#include "gpsa/registry.hpp"
#include "gpsa/rel_indices.hpp"

namespace {

using gpsa::grid;
using gpsa::status;

// The formula, spelled out once more for constant evaluation.
constexpr long long expected(std::size_t cols, std::size_t p, std::size_t q, std::size_t c) {
  const long long dx = static_cast<long long>(q % cols) - static_cast<long long>(p % cols);
  const long long dy = static_cast<long long>(q / cols) - static_cast<long long>(p / cols);
  return c == 0 ? dx : c == 1 ? dy : dx * dx + dy * dy;
}

template <std::size_t R, std::size_t C, class T>
constexpr bool table_matches_formula() {
  const auto& t = gpsa::rel_indices_v<R, C, T>;
  for (std::size_t p = 0; p < R * C; ++p)
    for (std::size_t q = 0; q < R * C; ++q)
      for (std::size_t c = 0; c < 3; ++c)
        if (t(p, q, c) != static_cast<T>(expected(C, p, q, c)) ||
            t.data()[(p * R * C + q) * 3 + c] != t(p, q, c))
          return false;
  return true;
}

// --- baked tables: values, shape, element types, rectangular grids -------------------------
constexpr const auto& t14 = gpsa::rel_indices_v<14>;
static_assert(std::is_same_v<std::remove_cvref_t<decltype(t14)>, gpsa::rel_table<14, 14, float>>);
static_assert(t14.size() == 196 * 196 * 3 && t14.patches == 196 && t14.channels == 3);
static_assert(t14.shape() == std::array<std::size_t, 3>{196, 196, 3});
static_assert(t14(0, 195, 0) == 13.0f && t14(0, 195, 1) == 13.0f && t14(0, 195, 2) == 338.0f);
static_assert(t14(195, 0, 0) == -13.0f && t14(195, 0, 1) == -13.0f && t14(195, 0, 2) == 338.0f);
static_assert(t14(15, 15, 0) == 0.0f && t14(15, 15, 2) == 0.0f);  // diagonal
static_assert(t14(14, 1, 0) == 1.0f && t14(14, 1, 1) == -1.0f);   // (1,0) -> (0,1)
static_assert(t14.end() - t14.begin() == 196 * 196 * 3);
static_assert(t14.view().data() == t14.data() && t14.view().size() == t14.size());

static_assert(table_matches_formula<1, 1, float>());
static_assert(table_matches_formula<4, 4, float>());
static_assert(table_matches_formula<2, 5, double>());
static_assert(table_matches_formula<5, 2, std::int32_t>());
static_assert(table_matches_formula<3, 7, std::int16_t>());
static_assert(table_matches_formula<8, 8, std::int8_t>());  // largest square int8 grid: 98
static_assert(gpsa::rel_indices_v<8, 8, std::int8_t>(0, 63, 2) == 98);
static_assert(gpsa::rel_indices_v<1, 12, std::int8_t>(0, 11, 2) == 121);

// --- what fits which element type (the rule behind the compile error of the ko test) --------
static_assert(gpsa::rel_values_fit<std::int8_t>(grid{8, 8}) &&
              !gpsa::rel_values_fit<std::int8_t>(grid{9, 9}));
static_assert(gpsa::rel_values_fit<std::int16_t>(grid{128, 128}) &&
              !gpsa::rel_values_fit<std::int16_t>(grid{129, 129}));
static_assert(gpsa::rel_values_fit<float>(grid{2897, 2897}) &&
              !gpsa::rel_values_fit<float>(grid{2898, 2898}));
static_assert(gpsa::exact_limit<float>() == (1u << 24) && gpsa::exact_limit<std::int8_t>() == 127);

// --- the runtime fill and its statuses in constant evaluation -------------------------------
template <std::size_t R, std::size_t C>
constexpr bool runtime_fill_equals_baked() {
  std::array<float, R * C * R * C * 3> a{};
  if (gpsa::fill_rel_indices<float>(grid{R, C}, a) != status::ok) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != gpsa::rel_indices_v<R, C>.data()[i]) return false;
  return true;
}
static_assert(runtime_fill_equals_baked<3, 3>());
static_assert(runtime_fill_equals_baked<2, 4>());

constexpr status fill_status(grid g, std::size_t buffer) {
  std::array<std::int8_t, 256> a{};
  return gpsa::fill_rel_indices<std::int8_t>(g, std::span<std::int8_t>(a.data(), buffer));
}
static_assert(fill_status({0, 3}, 256) == status::empty_grid);
static_assert(fill_status({3, 3}, 242) == status::buffer_too_small);
static_assert(fill_status({3, 3}, 243) == status::ok);
static_assert(fill_status({9, 9}, 256) == status::value_out_of_range);
static_assert(fill_status({~std::size_t{0}, 2}, 256) == status::size_overflow);
static_assert([] {
  std::array<float, 12> a{};
  return gpsa::fill_rel_indices<float>(std::size_t{3}, std::span<float>(a));
}() == status::not_square);

static_assert([] {
  grid g{};
  return gpsa::square_grid_from_patches(196, g) == status::ok && g == grid{14, 14};
}());
static_assert(gpsa::detail::isqrt(~std::size_t{0}) == 4294967295u);
static_assert(gpsa::status_message(status::not_square)[0] != '\0');

// --- compact offsets: every row is a window ---------------------------------------------------
static_assert([] {
  const auto& o = gpsa::rel_offsets_v<3, 5>;
  for (std::size_t p = 0; p < 15; ++p)
    for (std::size_t q = 0; q < 15; ++q)
      for (std::size_t c = 0; c < 3; ++c)
        if (o.at(p, q, c) != gpsa::rel_indices_v<3, 5>(p, q, c)) return false;
  return o.size() == 5 * 9 * 3;
}());

// --- registry ------------------------------------------------------------------------------------
static_assert(gpsa::baked_grid_sizes.size() ==
              decltype(boost::hana::length(gpsa::baked_grids))::value);
static_assert(!gpsa::is_baked<float>(grid{3, 4}));
static_assert(gpsa::lookup_rel_indices<float>(std::size_t{5}, {}).code == status::not_square);

// Every listed grid is served baked, without touching the (empty) buffer, in constant evaluation.
constexpr bool every_listed_grid_is_baked() {
  bool ok = true;
  boost::hana::for_each(gpsa::baked_grids, [&](auto s) {
    constexpr std::size_t S = decltype(s)::value;
    const auto r = gpsa::lookup_rel_indices<float>(grid{S, S}, {});
    ok = ok && r.baked() && r.view.data() == gpsa::rel_indices_v<S>.data() &&
         r.view(0, S * S - 1, 0) == S - 1;
  });
  return ok;
}
static_assert(every_listed_grid_is_baked());

}  // namespace

int main() { return 0; }
