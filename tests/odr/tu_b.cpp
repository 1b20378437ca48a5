// SPDX-License-Identifier: MIT
// ODR test, translation unit B: the same tables, seen from another TU.
#include "gpsa/rel_indices.hpp"

const float* odr_table_from_b() { return &gpsa::rel_indices_v<14>.data()[0]; }
const void* odr_int16_table_from_b() { return gpsa::rel_indices_v<3, 5, std::int16_t>.data(); }
