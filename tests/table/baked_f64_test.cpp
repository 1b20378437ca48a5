// SPDX-License-Identifier: MIT
// BakedTable typed tests (baked_cases.hpp) for element type double, one case per baked grid.
#include <cstdint>

#include "baked_cases.hpp"

namespace table_test {
INSTANTIATE_TYPED_TEST_SUITE_P(F64, BakedTable, baked_cases<double>);
}  // namespace table_test
