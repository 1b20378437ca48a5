// SPDX-License-Identifier: MIT
// BakedTable typed tests (baked_cases.hpp) for element type std::int8_t, one case per baked grid.
#include <cstdint>

#include "baked_cases.hpp"

namespace table_test {
INSTANTIATE_TYPED_TEST_SUITE_P(I8, BakedTable, baked_cases<std::int8_t>);
}  // namespace table_test
