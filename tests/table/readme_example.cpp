// SPDX-License-Identifier: MIT
// The API tour of docs/tables.md, verbatim: built and run by ctest so the example keeps
// compiling and keeps telling the truth.
#include <gpsa/gpsa.hpp>

#include <cstdio>
#include <vector>

// Compile time: the 14x14 table (ConViT at 224 px) is a constexpr value in .rodata.
constexpr const auto& t = gpsa::rel_indices_v<14>;  // float, shape (196, 196, 3)
static_assert(t(0, 195, 0) == 13 && t(0, 195, 1) == 13 && t(0, 195, 2) == 338);
static_assert(t.size() == 196 * 196 * 3);

// Other grids and element types: rel_indices_v<R, C, T>.
static_assert(gpsa::rel_indices_v<8, 32, std::int16_t>(0, 255, 0) == 31);
// gpsa::rel_indices_v<9, 9, std::int8_t> would not compile: 8^2 + 8^2 = 128 > INT8_MAX.

int main() {
  // Run time: any grid, caller-owned memory, a status instead of exceptions.
  const gpsa::grid g{12, 20};
  std::size_t count = 0;
  if (gpsa::rel_indices_count(g, count) != gpsa::status::ok) return 1;
  std::vector<float> buffer(count);
  if (const gpsa::status s = gpsa::fill_rel_indices<float>(g, buffer); s != gpsa::status::ok) {
    std::printf("error: %s\n", gpsa::status_message(s));
    return 1;
  }

  // Registry: the baked table when the grid is in GPSA_BAKED_GRIDS, else the runtime fill.
  std::vector<float> scratch(196 * 196 * 3);                     // untouched when 14x14 is baked
  const auto r = gpsa::lookup_rel_indices<float>(196, scratch);  // N = 196 patches -> 14x14
  if (!r) {
    std::printf("error: %s\n", gpsa::status_message(r.code));
    return 1;
  }
  std::printf("14x14 table: %s, t(0, 195, 2) = %g\n", gpsa::rel_source_name(r.source),
              static_cast<double>(r.view(0, 195, 2)));

  const auto bad = gpsa::lookup_rel_indices<float>(200, scratch);  // 200 is not a square
  std::printf("N = 200: %s\n", gpsa::status_message(bad.code));
  return r.view(0, 195, 2) == 338.0f && bad.code == gpsa::status::not_square ? 0 : 1;
}
