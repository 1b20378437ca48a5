// SPDX-License-Identifier: MIT
// Checked size arithmetic, the one implementation every size query and reader uses: a product or
// a sum that does not fit its unsigned type is reported, never wrapped.
#pragma once

#include <concepts>
#include <limits>

namespace gpsa::detail {

// out = a * b; false (out untouched) when the product does not fit T.
template <std::unsigned_integral T>
constexpr bool checked_mul(T a, T b, T& out) noexcept {
  if (a != 0 && b > std::numeric_limits<T>::max() / a) return false;
  out = a * b;
  return true;
}

// out = (a * b) * c; false (out untouched) when a partial product does not fit T.
template <std::unsigned_integral T>
constexpr bool checked_mul(T a, T b, T c, T& out) noexcept {
  T ab = 0, abc = 0;
  if (!checked_mul(a, b, ab) || !checked_mul(ab, c, abc)) return false;
  out = abc;
  return true;
}

// out = a + b; false (out untouched) when the sum does not fit T.
template <std::unsigned_integral T>
constexpr bool checked_add(T a, T b, T& out) noexcept {
  if (a > std::numeric_limits<T>::max() - b) return false;
  out = a + b;
  return true;
}

}  // namespace gpsa::detail
