// SPDX-License-Identifier: MIT
// One object program-wide: two TUs that use the same baked table see the same address (the
// variable template is an inline variable), and it is constant-initialised (constinit).
#include <gtest/gtest.h>

#include <cstdint>

#include "gpsa/rel_indices.hpp"

const float* odr_table_from_a();
const float* odr_table_from_b();
const void* odr_int16_table_from_a();
const void* odr_int16_table_from_b();

// constinit: the pointer is initialised at compile time, so the table it points to is a
// constant-initialised object (no dynamic initialisation can run before main).
constinit const float* const table_at_compile_time = gpsa::rel_indices_v<14>.data();

TEST(Odr, TwoTranslationUnitsShareOneTable) {
  EXPECT_EQ(odr_table_from_a(), odr_table_from_b());
  EXPECT_EQ(odr_table_from_a(), gpsa::rel_indices_v<14>.data());
  EXPECT_EQ(odr_table_from_a(), table_at_compile_time);
  EXPECT_EQ(odr_int16_table_from_a(), odr_int16_table_from_b());
  EXPECT_NE(static_cast<const void*>(odr_table_from_a()), odr_int16_table_from_a());
  EXPECT_EQ(odr_table_from_a()[195 * 3 + 2], 338.0f);
}
