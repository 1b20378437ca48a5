// SPDX-License-Identifier: MIT
// Typed tests generated from the registry's Hana list: for every baked grid S and element type
// T that can hold it, the baked table equals the runtime fill bit for bit and the registry
// serves it. Each baked_<type>_test.cpp instantiates the suite for one T (parallel builds).
#pragma once

#include <gtest/gtest.h>

#include <boost/hana/filter.hpp>
#include <boost/hana/is_empty.hpp>
#include <boost/hana/type.hpp>
#include <boost/hana/unpack.hpp>
#include <cstring>
#include <vector>

#include "gpsa/registry.hpp"
#include "gpsa/rel_indices.hpp"

namespace table_test {

namespace hana = boost::hana;

template <std::size_t S, class T>
struct baked_case {
  static constexpr bool none = false;
  static constexpr std::size_t size = S;
  using type = T;
};

// Stands in when no listed grid fits T (e.g. int8 with GPSA_BAKED_GRIDS=14;16).
template <class T>
struct no_baked_case {
  static constexpr bool none = true;
  static constexpr std::size_t size = 0;
  using type = T;
};

// ::testing::Types<baked_case<S, T>...> over the listed S whose values fit T.
template <class T>
constexpr auto baked_cases_type() {
  constexpr auto fitting = hana::filter(gpsa::baked_grids, [](auto s) {
    return hana::bool_c<gpsa::rel_values_fit<T>(
        gpsa::grid{decltype(s)::value, decltype(s)::value})>;
  });
  if constexpr (hana::is_empty(fitting))
    return hana::type_c<::testing::Types<no_baked_case<T>>>;
  else
    return hana::unpack(fitting, [](auto... s) {
      return hana::type_c<::testing::Types<baked_case<decltype(s)::value, T>...>>;
    });
}

template <class T>
using baked_cases = typename decltype(baked_cases_type<T>())::type;

template <class Case>
class BakedTable : public ::testing::Test {};

TYPED_TEST_SUITE_P(BakedTable);

TYPED_TEST_P(BakedTable, RuntimeFillEqualsBakedBitForBit) {
  using T = typename TypeParam::type;
  constexpr std::size_t S = TypeParam::size;
  if constexpr (TypeParam::none) {
    for (const std::size_t s : gpsa::baked_grid_sizes) EXPECT_FALSE(gpsa::is_baked<T>({s, s})) << s;
  } else {
    const auto& baked = gpsa::rel_indices_v<S, S, T>;
    std::vector<T> runtime(baked.size(), T{-3});
    ASSERT_EQ(gpsa::fill_rel_indices<T>(gpsa::grid{S, S}, runtime), gpsa::status::ok);
    EXPECT_EQ(std::memcmp(runtime.data(), baked.data(), sizeof(T) * baked.size()), 0);
    // spot checks against the formula: the far corner and the centre row
    const std::size_t n = S * S;
    EXPECT_EQ(baked(0, n - 1, 0), static_cast<T>(S - 1));
    EXPECT_EQ(baked(n - 1, 0, 1), static_cast<T>(-static_cast<long>(S - 1)));
    EXPECT_EQ(baked(0, n - 1, 2), static_cast<T>(2 * (S - 1) * (S - 1)));
  }
}

TYPED_TEST_P(BakedTable, RegistryServesTheBakedTable) {
  using T = typename TypeParam::type;
  constexpr std::size_t S = TypeParam::size;
  if constexpr (TypeParam::none) {
    SUCCEED() << "no listed grid fits this element type";
  } else {
    const auto& baked = gpsa::rel_indices_v<S, S, T>;
    EXPECT_TRUE(gpsa::is_baked<T>({S, S}));
    EXPECT_FALSE(gpsa::is_baked<T>({S, S + 1}));  // rectangular grids are never baked
    EXPECT_EQ(gpsa::baked_rel_indices<T>({S, S}).data(), baked.data());

    // A baked grid needs no buffer: an empty span is fine and stays untouched.
    const gpsa::rel_lookup<T> by_grid = gpsa::lookup_rel_indices<T>(gpsa::grid{S, S}, {});
    ASSERT_TRUE(by_grid) << gpsa::status_message(by_grid.code);
    EXPECT_TRUE(by_grid.baked());
    EXPECT_EQ(by_grid.view.data(), baked.data());
    EXPECT_EQ(by_grid.view.shape, (gpsa::grid{S, S}));
    EXPECT_EQ(by_grid.view.size(), baked.size());

    std::vector<T> buf(3, T{9});
    const gpsa::rel_lookup<T> by_n = gpsa::lookup_rel_indices<T>(S * S, buf);
    ASSERT_TRUE(by_n);
    EXPECT_EQ(by_n.source, gpsa::rel_source::baked);
    EXPECT_EQ(by_n.view.data(), baked.data());
    EXPECT_EQ(buf, std::vector<T>(3, T{9}));
  }
}

REGISTER_TYPED_TEST_SUITE_P(BakedTable, RuntimeFillEqualsBakedBitForBit,
                            RegistryServesTheBakedTable);

}  // namespace table_test
