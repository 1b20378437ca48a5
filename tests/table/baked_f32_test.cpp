// SPDX-License-Identifier: MIT
// BakedTable typed tests (baked_cases.hpp) for element type float, one case per baked grid.
#include <cstdint>

#include "baked_cases.hpp"

namespace table_test {
INSTANTIATE_TYPED_TEST_SUITE_P(F32, BakedTable, baked_cases<float>);
}  // namespace table_test
