// SPDX-License-Identifier: MIT
// ODR test, translation unit A: the address of the 14x14 table as this TU sees it.
#include "gpsa/rel_indices.hpp"

const float* odr_table_from_a() { return &gpsa::rel_indices_v<14>.data()[0]; }
const void* odr_int16_table_from_a() { return gpsa::rel_indices_v<3, 5, std::int16_t>.data(); }
