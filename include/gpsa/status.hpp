// SPDX-License-Identifier: MIT
// Status codes shared by the no-heap, no-exception core (tables, kernels).
#pragma once

namespace gpsa {

// Every core entry point reports failure through one of these; `ok` is zero so
// `if (s != status::ok)` and `if (!is_ok(s))` read naturally in firmware code.
enum class [[nodiscard]] status : int{
    ok = 0,
    empty_grid,          // a grid with zero rows or zero columns
    not_square,          // only a patch count was given and it is not a perfect square
    buffer_too_small,    // caller-owned output or scratch is shorter than required
    size_overflow,       // an element count does not fit in std::size_t
    value_out_of_range,  // a table value does not fit the element type
    shape_mismatch,      // tensors or weights disagree in shape
    invalid_argument,    // e.g. zero heads, width not divisible by heads, null pointer
};

constexpr bool is_ok(status s) noexcept { return s == status::ok; }

// A short, static, human-readable description (never null).
constexpr const char* status_message(status s) noexcept {
  switch (s) {
    case status::ok:
      return "ok";
    case status::empty_grid:
      return "grid has zero rows or zero columns";
    case status::not_square:
      return "patch count is not a perfect square; give the grid as RxC";
    case status::buffer_too_small:
      return "buffer too small";
    case status::size_overflow:
      return "element count overflows size_t";
    case status::value_out_of_range:
      return "table values do not fit the element type";
    case status::shape_mismatch:
      return "shape mismatch";
    case status::invalid_argument:
      return "invalid argument";
  }
  return "unknown status";
}

}  // namespace gpsa
