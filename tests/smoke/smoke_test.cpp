// SPDX-License-Identifier: MIT
// Smoke test: a baked table and the library version.
#include <gtest/gtest.h>

#include "gpsa/rel_indices.hpp"
#include "gpsa/version.hpp"

TEST(Smoke, BakedTableCornerMatchesFormula) {
  // query 0 = (0,0), key N-1 = (13,13): dx = dy = 13, dx^2+dy^2 = 338
  EXPECT_EQ(gpsa::rel_indices_v<14>(0, 195, 0), 13.0f);
  EXPECT_EQ(gpsa::rel_indices_v<14>(0, 195, 2), 338.0f);
  // one version source: CMake project(VERSION) -> version.hpp -> gpsa::version()
  EXPECT_STREQ(gpsa::version(), GPSA_EXPECTED_VERSION);
  EXPECT_STREQ(gpsa::version(), GPSA_VERSION_STRING);
}
