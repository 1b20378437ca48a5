// SPDX-License-Identifier: MIT
// Checked size arithmetic, the one implementation every size query and reader uses: a product or
// a sum that does not fit its unsigned type is reported, never wrapped.
#pragma once

#include <concepts>
#include <cstddef>
#include <limits>
#include <span>
#include <type_traits>

namespace gpsa::detail {

// out = a * b; false (out untouched) when the product does not fit T.
// (T is the result's type; the operands convert to it, so checked_mul(n, 3, out) works.)
template <std::unsigned_integral T>
constexpr bool checked_mul(std::type_identity_t<T> a, std::type_identity_t<T> b, T& out) noexcept {
  if (a != 0 && b > std::numeric_limits<T>::max() / a) return false;
  out = a * b;
  return true;
}

// out = (a * b) * c; false (out untouched) when a partial product does not fit T.
template <std::unsigned_integral T>
constexpr bool checked_mul(std::type_identity_t<T> a, std::type_identity_t<T> b,
                           std::type_identity_t<T> c, T& out) noexcept {
  T ab = 0, abc = 0;
  if (!checked_mul(a, b, ab) || !checked_mul(ab, c, abc)) return false;
  out = abc;
  return true;
}

// out = a + b; false (out untouched) when the sum does not fit T.
template <std::unsigned_integral T>
constexpr bool checked_add(std::type_identity_t<T> a, std::type_identity_t<T> b, T& out) noexcept {
  if (a > std::numeric_limits<T>::max() - b) return false;
  out = a + b;
  return true;
}

// out = product(shape) * elem_size, 0 when an extent is 0; false when the product of the non-zero
// extents times elem_size does not fit T, so a zero extent does not hide an overflow of the
// others: (0, 2^32, 2^32) fails exactly like (2^32, 2^32, 0).
template <std::unsigned_integral T>
constexpr bool checked_product(std::span<const std::size_t> shape,
                               std::type_identity_t<T> elem_size, T& out) noexcept {
  T nonzero = 1, total = 0;
  bool empty = false;
  for (const std::size_t s : shape) {
    if (s == 0) {
      empty = true;
      continue;
    }
    if (!checked_mul(nonzero, static_cast<T>(s), nonzero)) return false;
  }
  if (!checked_mul(nonzero, elem_size, total)) return false;
  out = empty ? 0 : total;
  return true;
}

}  // namespace gpsa::detail
