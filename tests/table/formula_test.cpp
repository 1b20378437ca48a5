// SPDX-License-Identifier: MIT
// The runtime fill against the formula (formula.hpp, written independently): every S in 1..64,
// rectangular grids, every element type, and the compact offset table.
#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "formula.hpp"
#include "gpsa/rel_indices.hpp"

namespace gpsa {
// Readable test names and messages for grid parameters ("8x32", not the object's bytes).
inline void PrintTo(const grid& g, std::ostream* os) { *os << g.rows << "x" << g.cols; }
}  // namespace gpsa

namespace {

using table_test::expected;

// Checks every element; stops at the first mismatch so a broken fill gives one message.
template <class T>
void expect_formula(gpsa::grid g) {
  const std::size_t n = g.rows * g.cols;
  std::vector<T> t(n * n * 3, T{-7});
  ASSERT_EQ(gpsa::fill_rel_indices<T>(g, t), gpsa::status::ok);
  const T* v = t.data();
  for (std::size_t p = 0; p < n; ++p) {
    const auto yp = static_cast<std::int64_t>(p / g.cols),
               xp = static_cast<std::int64_t>(p % g.cols);
    for (std::size_t q = 0; q < n; ++q, v += 3) {
      const std::int64_t dx = static_cast<std::int64_t>(q % g.cols) - xp;
      const std::int64_t dy = static_cast<std::int64_t>(q / g.cols) - yp;
      const std::int64_t want[3] = {dx, dy, dx * dx + dy * dy};
      for (std::size_t c = 0; c < 3; ++c)
        if (v[c] != static_cast<T>(want[c]) || static_cast<std::int64_t>(v[c]) != want[c])
          FAIL() << g.rows << "x" << g.cols << ": (" << p << ", " << q << ", " << c << ") is "
                 << static_cast<double>(v[c]) << ", expected " << want[c];
    }
  }
}

class SquareFormula : public ::testing::TestWithParam<std::size_t> {};

TEST_P(SquareFormula, Float32) { expect_formula<float>({GetParam(), GetParam()}); }

INSTANTIATE_TEST_SUITE_P(S1to64, SquareFormula, ::testing::Range<std::size_t>(1, 65),
                         [](const auto& info) {
                           return std::string("S").append(std::to_string(info.param));
                         });

class RectFormula : public ::testing::TestWithParam<gpsa::grid> {};

TEST_P(RectFormula, Float32) { expect_formula<float>(GetParam()); }
TEST_P(RectFormula, Float64) { expect_formula<double>(GetParam()); }
TEST_P(RectFormula, Int16) { expect_formula<std::int16_t>(GetParam()); }
TEST_P(RectFormula, Int32) { expect_formula<std::int32_t>(GetParam()); }

// Not a perfect-square N, N = 1 rows/cols, tall and wide, and 8x32 whose N = 256 = 16^2 is the
// case PyTorch silently gets wrong (it assumes 16x16).
INSTANTIATE_TEST_SUITE_P(Grids, RectFormula,
                         ::testing::Values(gpsa::grid{1, 1}, gpsa::grid{1, 7}, gpsa::grid{7, 1},
                                           gpsa::grid{2, 3}, gpsa::grid{3, 2}, gpsa::grid{4, 9},
                                           gpsa::grid{13, 5}, gpsa::grid{8, 32}, gpsa::grid{32, 8},
                                           gpsa::grid{12, 20}),
                         [](const auto& info) {
                           return std::to_string(info.param.rows) + "x" +
                                  std::to_string(info.param.cols);
                         });

TEST(Formula, Int8UpToItsLimit) {
  for (std::size_t s = 1; s <= 8; ++s) expect_formula<std::int8_t>({s, s});
  expect_formula<std::int8_t>({1, 12});  // dx^2 = 121 <= 127
  expect_formula<std::int8_t>({12, 1});
  expect_formula<std::int8_t>({5, 9});  // 16 + 64 = 80
}

TEST(Formula, WideGridIsNotTheSquareOneOfTheSameN) {
  std::vector<float> wide(256 * 256 * 3), square(256 * 256 * 3);
  ASSERT_EQ(gpsa::fill_rel_indices<float>(gpsa::grid{8, 32}, wide), gpsa::status::ok);
  ASSERT_EQ(gpsa::fill_rel_indices<float>(gpsa::grid{16, 16}, square), gpsa::status::ok);
  EXPECT_NE(wide, square);
  // query 0 = (0, 0), key 255 = (7, 31) on 8x32, (15, 15) on 16x16
  EXPECT_EQ(wide[255 * 3 + 0], 31.0f);
  EXPECT_EQ(square[255 * 3 + 0], 15.0f);
}

TEST(Formula, SymmetriesAndDiagonal) {
  const gpsa::grid g{6, 9};
  const std::size_t n = 54;
  std::vector<double> t(n * n * 3);
  ASSERT_EQ(gpsa::fill_rel_indices<double>(g, t), gpsa::status::ok);
  const auto at = [&](std::size_t p, std::size_t q, std::size_t c) {
    return t[(p * n + q) * 3 + c];
  };
  for (std::size_t p = 0; p < n; ++p) {
    for (std::size_t c = 0; c < 3; ++c) EXPECT_EQ(at(p, p, c), 0.0);
    for (std::size_t q = 0; q < n; ++q) {
      EXPECT_EQ(at(p, q, 0), -at(q, p, 0));
      EXPECT_EQ(at(p, q, 1), -at(q, p, 1));
      EXPECT_EQ(at(p, q, 2), at(q, p, 2));
    }
  }
}

// Every query row is a window of the (2R-1) x (2C-1) offset table.
TEST(Formula, CompactOffsetsHoldEveryRow) {
  for (const gpsa::grid g :
       {gpsa::grid{1, 1}, gpsa::grid{3, 5}, gpsa::grid{7, 7}, gpsa::grid{9, 4}}) {
    const std::size_t h = 2 * g.rows - 1, w = 2 * g.cols - 1, n = g.rows * g.cols;
    std::vector<float> off(h * w * 3, -1.0f);
    ASSERT_EQ(gpsa::fill_rel_offsets<float>(g, off), gpsa::status::ok);
    for (std::size_t p = 0; p < n; ++p)
      for (std::size_t q = 0; q < n; ++q)
        for (std::size_t c = 0; c < 3; ++c) {
          const std::size_t i = q / g.cols + g.rows - 1 - p / g.cols;
          const std::size_t j = q % g.cols + g.cols - 1 - p % g.cols;
          ASSERT_EQ(off[(i * w + j) * 3 + c],
                    static_cast<float>(expected(g.rows, g.cols, p, q, c)));
        }
  }
  const auto& o = gpsa::rel_offsets_v<3, 5>;
  for (std::size_t p = 0; p < 15; ++p)
    for (std::size_t q = 0; q < 15; ++q)
      for (std::size_t c = 0; c < 3; ++c)
        ASSERT_EQ(o.at(p, q, c), static_cast<float>(expected(3, 5, p, q, c)));
}

// The runtime fill has two paths (first query row computed, later rows copied); element access
// on the baked table must agree with data() layout.
TEST(Formula, BakedRectangularAccessors) {
  const auto& t = gpsa::rel_indices_v<3, 4, std::int16_t>;
  static_assert(t.rows == 3 && t.cols == 4 && t.patches == 12 && t.size() == 12 * 12 * 3);
  EXPECT_EQ(t.shape()[0], 12u);
  EXPECT_EQ(t.shape()[2], 3u);
  for (std::size_t p = 0; p < 12; ++p)
    for (std::size_t q = 0; q < 12; ++q)
      for (std::size_t c = 0; c < 3; ++c) {
        EXPECT_EQ(t(p, q, c), expected(3, 4, p, q, c));
        EXPECT_EQ(t.data()[(p * 12 + q) * 3 + c], t(p, q, c));
        EXPECT_EQ(t.view()(p, q, c), t(p, q, c));
      }
}

}  // namespace
