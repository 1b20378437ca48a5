// SPDX-License-Identifier: MIT
// Every error path of the runtime fill, the offset fill and the registry lookup: the right
// status, the output buffer untouched, and a message for every status.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "gpsa/registry.hpp"
#include "gpsa/rel_indices.hpp"

namespace {

using gpsa::grid;
using gpsa::status;
constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();

// The grid goes through volatile so GCC cannot constant-propagate huge sizes into the (never
// reached) fill loop and warn about it (-Waggressive-loop-optimizations) under -Werror.
grid opaque(grid g) {
  volatile std::size_t r = g.rows, c = g.cols;
  return {r, c};
}

template <class T>
status fill(grid g, std::vector<T>& buf) {
  return gpsa::fill_rel_indices<T>(opaque(g), buf);
}

template <class T>
bool untouched(const std::vector<T>& buf, T sentinel) {
  return std::all_of(buf.begin(), buf.end(), [&](T v) { return v == sentinel; });
}

TEST(FillStatus, ZeroRowsOrCols) {
  std::vector<float> buf(64, 5.0f);
  EXPECT_EQ(fill<float>({0, 5}, buf), status::empty_grid);
  EXPECT_EQ(fill<float>({5, 0}, buf), status::empty_grid);
  EXPECT_EQ(fill<float>({0, 0}, buf), status::empty_grid);
  EXPECT_EQ(fill<float>({0, kMax}, buf), status::empty_grid);  // empty wins over overflow
  EXPECT_EQ(gpsa::fill_rel_indices<float>(std::size_t{0}, std::span<float>(buf)),
            status::empty_grid);
  EXPECT_TRUE(untouched(buf, 5.0f));
}

TEST(FillStatus, PatchCountNotASquare) {
  std::vector<float> buf(16 * 16 * 3, 5.0f);
  for (const std::size_t n : {2u, 3u, 5u, 8u, 15u, 17u, 195u, 197u})
    EXPECT_EQ(gpsa::fill_rel_indices<float>(n, std::span<float>(buf)), status::not_square) << n;
  EXPECT_EQ(gpsa::fill_rel_indices<float>(kMax, std::span<float>(buf)), status::not_square);
  EXPECT_TRUE(untouched(buf, 5.0f));
  EXPECT_EQ(gpsa::fill_rel_indices<float>(16, std::span<float>(buf)), status::ok);  // 4x4
}

TEST(FillStatus, BufferTooSmall) {
  std::vector<float> buf(14 * 14 * 14 * 14 * 3 - 1, 5.0f);
  EXPECT_EQ(fill<float>({14, 14}, buf), status::buffer_too_small);
  EXPECT_TRUE(untouched(buf, 5.0f));
  std::vector<float> none;
  EXPECT_EQ(fill<float>({1, 1}, none), status::buffer_too_small);
  buf.push_back(5.0f);  // exactly N*N*3 is enough
  EXPECT_EQ(fill<float>({14, 14}, buf), status::ok);
  // a larger buffer is fine and its tail is left alone
  std::vector<float> big(4 * 4 * 3 + 2, 5.0f);
  EXPECT_EQ(fill<float>({2, 2}, big), status::ok);
  EXPECT_EQ(big[48], 5.0f);
  EXPECT_EQ(big[49], 5.0f);
}

TEST(FillStatus, ElementCountOverflowsSizeT) {
  static_assert(std::numeric_limits<std::size_t>::digits == 64, "the cases below assume 64 bits");
  std::vector<double> buf(8, 5.0);
  constexpr std::size_t k15 = std::size_t{1} << 15, k16 = std::size_t{1} << 16;
  EXPECT_EQ(fill<double>({kMax, 2}, buf), status::size_overflow);       // rows*cols
  EXPECT_EQ(fill<double>({k16, k16}, buf), status::size_overflow);      // N*N = 2^64
  EXPECT_EQ(fill<double>({3 * k15, k15}, buf), status::size_overflow);  // N*N*3 only: 27*2^60
  std::size_t count = 0;
  EXPECT_EQ(gpsa::rel_indices_count({k15, k15}, count), status::ok);  // N*N*3 = 3*2^60
  EXPECT_EQ(count, 3 * (std::size_t{1} << 60));
  EXPECT_TRUE(untouched(buf, 5.0));
}

TEST(FillStatus, ValuesOutOfRangeForTheElementType) {
  std::vector<std::int8_t> b8(9 * 9 * 9 * 9 * 3, 5);
  EXPECT_EQ(fill<std::int8_t>({9, 9}, b8), status::value_out_of_range);   // 64 + 64 = 128
  EXPECT_EQ(fill<std::int8_t>({1, 13}, b8), status::value_out_of_range);  // 144
  EXPECT_EQ(fill<std::int8_t>({8, 10}, b8), status::value_out_of_range);  // 49 + 81
  EXPECT_TRUE(untouched(b8, std::int8_t{5}));
  EXPECT_EQ(fill<std::int8_t>({8, 8}, b8), status::ok);   // 98
  EXPECT_EQ(fill<std::int8_t>({1, 12}, b8), status::ok);  // 121
  EXPECT_EQ(fill<std::int8_t>({8, 9}, b8), status::ok);   // 49 + 64 = 113

  // int16: (S-1)^2 * 2 <= 32767 up to S = 128; checked before the buffer, so tiny buffers do
  std::vector<std::int16_t> b16(3, 5);
  EXPECT_EQ(fill<std::int16_t>({129, 129}, b16), status::value_out_of_range);
  EXPECT_EQ(fill<std::int16_t>({1, 183}, b16), status::value_out_of_range);  // 182^2 = 33124
  EXPECT_EQ(fill<std::int16_t>({128, 128}, b16), status::buffer_too_small);
  EXPECT_EQ(fill<std::int16_t>({1, 182}, b16), status::buffer_too_small);  // 181^2 = 32761
  EXPECT_TRUE(untouched(b16, std::int16_t{5}));

  // int32 and float: the exactness limits (2^31 - 1; 2^24 for float's significand)
  EXPECT_TRUE(gpsa::rel_values_fit<std::int32_t>({32768, 32768}));  // 2 * 32767^2 < 2^31
  EXPECT_FALSE(gpsa::rel_values_fit<std::int32_t>({32769, 32769}));
  EXPECT_TRUE(gpsa::rel_values_fit<float>({2897, 2897}));  // 2 * 2896^2 <= 2^24
  EXPECT_FALSE(gpsa::rel_values_fit<float>({2898, 2898}));
  EXPECT_TRUE(gpsa::rel_values_fit<double>({1u << 20, 1u << 20}));
}

TEST(FillStatus, OffsetTable) {
  std::vector<float> buf(3, 5.0f);
  EXPECT_EQ(gpsa::fill_rel_offsets<float>({0, 3}, buf), status::empty_grid);
  EXPECT_EQ(gpsa::fill_rel_offsets<float>({kMax, 3}, buf), status::size_overflow);
  EXPECT_EQ(gpsa::fill_rel_offsets<float>({kMax / 4, kMax / 4}, buf), status::size_overflow);
  EXPECT_EQ(gpsa::fill_rel_offsets<float>({2, 2}, buf), status::buffer_too_small);
  std::vector<std::int8_t> b8(17 * 17 * 3);
  EXPECT_EQ(gpsa::fill_rel_offsets<std::int8_t>({9, 9}, b8), status::value_out_of_range);
  EXPECT_EQ(gpsa::fill_rel_offsets<float>({1, 1}, buf), status::ok);
}

TEST(FillStatus, EveryStatusHasItsOwnMessage) {
  std::set<std::string> seen;
  for (const status s :
       {status::ok, status::empty_grid, status::not_square, status::buffer_too_small,
        status::size_overflow, status::value_out_of_range}) {
    const char* m = gpsa::status_message(s);
    ASSERT_NE(m, nullptr);
    EXPECT_GT(std::strlen(m), 1u);
    EXPECT_TRUE(seen.insert(m).second) << m;
  }
}

TEST(LookupStatus, ErrorsLeaveAnEmptyView) {
  std::vector<float> buf(8, 5.0f);
  const auto bad_n = gpsa::lookup_rel_indices<float>(std::size_t{15}, buf);
  EXPECT_EQ(bad_n.code, status::not_square);
  EXPECT_FALSE(bad_n);
  EXPECT_EQ(bad_n.view.data(), nullptr);
  EXPECT_EQ(gpsa::lookup_rel_indices<float>(std::size_t{0}, buf).code, status::empty_grid);
  EXPECT_EQ(gpsa::lookup_rel_indices<float>(grid{3, 0}, buf).code, status::empty_grid);
  EXPECT_EQ(gpsa::lookup_rel_indices<float>(opaque(grid{kMax, 2}), buf).code,
            status::size_overflow);
  const auto small = gpsa::lookup_rel_indices<float>(grid{5, 3}, buf);
  EXPECT_EQ(small.code, status::buffer_too_small);
  EXPECT_EQ(small.source, gpsa::rel_source::runtime);
  EXPECT_FALSE(small.baked());
  std::vector<std::int8_t> b8(10 * 10 * 10 * 10 * 3);
  EXPECT_EQ(gpsa::lookup_rel_indices<std::int8_t>(grid{10, 10}, b8).code,
            status::value_out_of_range);
  EXPECT_TRUE(untouched(buf, 5.0f));
}

TEST(LookupStatus, RuntimeFallbackForGridsNotBaked) {
  // 5x3 is rectangular (never baked); 1x1 is baked only if someone lists 1.
  std::vector<float> buf(15 * 15 * 3);
  const auto r = gpsa::lookup_rel_indices<float>(grid{5, 3}, buf);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.source, gpsa::rel_source::runtime);
  EXPECT_EQ(r.view.data(), buf.data());
  EXPECT_EQ(r.view.shape, (grid{5, 3}));
  EXPECT_EQ(r.view(0, 14, 0), 2.0f);  // (0,0) -> (4,2): dx = 2
  EXPECT_EQ(r.view(0, 14, 1), 4.0f);
  EXPECT_EQ(r.view(0, 14, 2), 20.0f);
  EXPECT_STREQ(gpsa::rel_source_name(r.source), "runtime");
  EXPECT_STREQ(gpsa::rel_source_name(gpsa::rel_source::baked), "baked");
}

}  // namespace

namespace {

// floor(sqrt(n)) behind square_grid_from_patches, around every square and at the top of size_t.
TEST(GridFromPatches, ExactAroundSquares) {
  const auto check = [](std::size_t k) {
    const std::size_t sq = k * k;
    EXPECT_EQ(gpsa::detail::isqrt(sq), k);
    if (k > 0) {
      EXPECT_EQ(gpsa::detail::isqrt(sq - 1), k - 1);
    }
    EXPECT_EQ(gpsa::detail::isqrt(sq + 1), k + (k == 0 ? 1 : 0));
  };
  for (std::size_t k = 0; k < 5000; ++k) check(k);
  for (std::size_t k = 4294967295u; k > 4294967295u - 5000; --k) check(k);
  for (std::size_t k = 3; k < 4294967295u / 7; k = k * 7 + 1) check(k);
  EXPECT_EQ(gpsa::detail::isqrt(kMax), 4294967295u);
  grid g{};
  EXPECT_EQ(gpsa::square_grid_from_patches(196, g), status::ok);
  EXPECT_EQ(g, (grid{14, 14}));
  EXPECT_EQ(gpsa::square_grid_from_patches(197, g), status::not_square);
  EXPECT_EQ(gpsa::square_grid_from_patches(0, g), status::empty_grid);
  EXPECT_EQ(gpsa::square_grid_from_patches(1, g), status::ok);
  EXPECT_EQ(g, (grid{1, 1}));
}

}  // namespace
