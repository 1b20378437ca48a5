// SPDX-License-Identifier: MIT
// The tables against PyTorch's (tests/golden/rel_indices_s*.npy, made by timm's
// GPSA.get_rel_indices): bit for bit, for the runtime fill, the baked tables and the registry.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "../support/tiny_npy.hpp"
#include "gpsa/registry.hpp"
#include "gpsa/rel_indices.hpp"

namespace {

tiny_npy::array golden(std::size_t s) {
  return tiny_npy::load(std::string(GPSA_GOLDEN_DIR) + "/rel_indices_s" + std::to_string(s) +
                        ".npy");
}

// The golden file is the expected value; a missing or unreadable file fails the test.
void expect_golden_layout(const tiny_npy::array& g, std::size_t s) {
  const std::size_t n = s * s;
  ASSERT_EQ(g.descr, "<f4");
  ASSERT_FALSE(g.fortran_order);
  ASSERT_EQ(g.shape, (std::vector<std::size_t>{n, n, 3}));
  ASSERT_EQ(g.data.size(), n * n * 3 * sizeof(float));
}

class Golden : public ::testing::TestWithParam<std::size_t> {};

TEST_P(Golden, RuntimeFillIsBitExact) {
  const std::size_t s = GetParam();
  tiny_npy::array g;
  ASSERT_NO_THROW(g = golden(s));
  expect_golden_layout(g, s);
  std::vector<float> t(s * s * s * s * 3, -1.0f);
  ASSERT_EQ(gpsa::fill_rel_indices<float>(gpsa::grid{s, s}, t), gpsa::status::ok);
  EXPECT_EQ(std::memcmp(t.data(), g.data.data(), g.data.size()), 0);
  // the same through the patch-count overload (ConViT's N)
  std::vector<float> u(t.size(), -1.0f);
  ASSERT_EQ(gpsa::fill_rel_indices<float>(s * s, std::span<float>(u)), gpsa::status::ok);
  EXPECT_EQ(std::memcmp(u.data(), g.data.data(), g.data.size()), 0);
}

TEST_P(Golden, RegistryLookupIsBitExact) {
  const std::size_t s = GetParam();
  tiny_npy::array g;
  ASSERT_NO_THROW(g = golden(s));
  expect_golden_layout(g, s);
  std::vector<float> buf(s * s * s * s * 3);
  const auto r = gpsa::lookup_rel_indices<float>(s * s, buf);
  ASSERT_TRUE(r) << gpsa::status_message(r.code);
  EXPECT_EQ(r.source == gpsa::rel_source::baked, gpsa::is_baked<float>(gpsa::grid{s, s}));
  ASSERT_EQ(r.view.size() * sizeof(float), g.data.size());
  EXPECT_EQ(std::memcmp(r.view.data(), g.data.data(), g.data.size()), 0);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, Golden, ::testing::Values(1, 2, 3, 4, 7, 14),
                         [](const auto& info) {
                           return std::string("S").append(std::to_string(info.param));
                         });

template <std::size_t S>
void expect_baked_matches_golden() {
  const tiny_npy::array g = golden(S);
  expect_golden_layout(g, S);
  const auto& t = gpsa::rel_indices_v<S>;
  static_assert(sizeof(t.values) == S * S * S * S * 3 * sizeof(float));
  EXPECT_EQ(std::memcmp(t.data(), g.data.data(), g.data.size()), 0) << "S = " << S;
}

TEST(Golden, BakedTablesAreBitExact) {
  ASSERT_NO_THROW(expect_baked_matches_golden<1>());
  ASSERT_NO_THROW(expect_baked_matches_golden<2>());
  ASSERT_NO_THROW(expect_baked_matches_golden<3>());
  ASSERT_NO_THROW(expect_baked_matches_golden<4>());
  ASSERT_NO_THROW(expect_baked_matches_golden<7>());
  ASSERT_NO_THROW(expect_baked_matches_golden<14>());
}

}  // namespace
