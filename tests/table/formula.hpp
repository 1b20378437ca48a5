// SPDX-License-Identifier: MIT
// The relative-index formula, written out independently of gpsa for the tests: element (p, q, c)
// of an R x C grid's table, p = yp*C + xp, q = yq*C + xq (docs/DESIGN.md §2).
#pragma once

#include <cstddef>
#include <cstdint>

namespace table_test {

inline std::int64_t expected(std::size_t rows, std::size_t cols, std::size_t p, std::size_t q,
                             std::size_t c) {
  (void)rows;
  const auto yp = static_cast<std::int64_t>(p / cols), xp = static_cast<std::int64_t>(p % cols);
  const auto yq = static_cast<std::int64_t>(q / cols), xq = static_cast<std::int64_t>(q % cols);
  const std::int64_t dx = xq - xp, dy = yq - yp;
  return c == 0 ? dx : c == 1 ? dy : dx * dx + dy * dy;
}

}  // namespace table_test
