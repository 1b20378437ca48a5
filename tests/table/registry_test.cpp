// SPDX-License-Identifier: MIT
// The registry's list: what CMake's GPSA_BAKED_GRIDS says, the same in its Hana and array forms,
// and nothing else is reported as baked.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/hana/for_each.hpp>
#include <boost/hana/length.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gpsa/registry.hpp"

namespace {

namespace hana = boost::hana;

std::vector<std::size_t> listed() {
  std::vector<std::size_t> v;
  hana::for_each(gpsa::baked_grids, [&](auto s) { v.push_back(decltype(s)::value); });
  return v;
}

TEST(Registry, ListIsTheCMakeCacheList) {
  // GPSA_TEST_BAKED_GRIDS is the cache list as text ("7,14,16"), passed by
  // tests/table/CMakeLists.txt.
  std::vector<std::size_t> from_cmake;
  std::istringstream in(GPSA_TEST_BAKED_GRIDS);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) from_cmake.push_back(std::stoul(item));
  EXPECT_EQ(listed(), from_cmake);
}

TEST(Registry, HanaListAndArrayAgree) {
  const std::vector<std::size_t> v = listed();
  EXPECT_EQ(decltype(hana::length(gpsa::baked_grids))::value, gpsa::baked_grid_sizes.size());
  EXPECT_TRUE(
      std::equal(v.begin(), v.end(), gpsa::baked_grid_sizes.begin(), gpsa::baked_grid_sizes.end()));
}

TEST(Registry, OnlyListedSquareGridsAreBaked) {
  const std::vector<std::size_t> v = listed();
  for (std::size_t s = 1; s <= 64; ++s) {
    const bool in_list = std::find(v.begin(), v.end(), s) != v.end();
    EXPECT_EQ(gpsa::is_baked<float>({s, s}), in_list) << s;
    EXPECT_EQ(gpsa::baked_rel_indices<float>({s, s}).data() != nullptr, in_list) << s;
    EXPECT_FALSE(gpsa::is_baked<float>({s, s + 1})) << s;
  }
}

}  // namespace
