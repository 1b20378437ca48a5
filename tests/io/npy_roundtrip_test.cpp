// SPDX-License-Identifier: MIT
// gpsa's .npy writer (npy_bytes) read back by gpsa's reader, and checked against files numpy
// itself wrote (the golden set): same bytes for the same array.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <numeric>

#include "io_test_util.hpp"

using namespace gpsa_test;
using gpsa::io::npy_dtype;

namespace {

gpsa::io::tensor reread(const std::string& s) {
  const bytes b(s.begin(), s.end());
  return gpsa::io::parse_npy(b, "rt.npy");
}

}  // namespace

TEST(NpyRoundTrip, Float32AllShapes) {
  const std::vector<std::vector<std::size_t>> shapes = {{},     {1},    {5},
                                                        {0, 3}, {2, 3}, {196, 196, 3}};
  for (const auto& shape : shapes) {
    const std::size_t n =
        std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>());
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) * 0.25f - 7.0f;
    const auto t = reread(gpsa::io::npy_bytes(shape, v));
    EXPECT_EQ(t.shape, shape);
    EXPECT_EQ(t.data, v);
  }
}

TEST(NpyRoundTrip, SpecialFloatsKeepTheirBits) {
  const std::vector<float> v = {-0.0f, std::numeric_limits<float>::denorm_min(),
                                std::numeric_limits<float>::infinity(),
                                std::numeric_limits<float>::quiet_NaN(), 3.4028235e38f};
  const std::vector<std::size_t> shape = {v.size()};
  const auto t = reread(gpsa::io::npy_bytes(shape, v));
  for (std::size_t i = 0; i < v.size(); ++i)
    EXPECT_EQ(std::bit_cast<std::uint32_t>(t.data[i]), std::bit_cast<std::uint32_t>(v[i])) << i;
}

TEST(NpyRoundTrip, Float64IsReadAsNearestFloat) {
  const std::vector<double> v = {0.1, -1.0 / 3.0, 1e300};
  const std::vector<std::size_t> shape = {3};
  const auto t = reread(gpsa::io::npy_bytes(npy_dtype::f64, shape, v.data()));
  EXPECT_EQ(t.data, (std::vector<float>{0.1f, static_cast<float>(-1.0 / 3.0),
                                        std::numeric_limits<float>::infinity()}));
}

TEST(NpyRoundTrip, IntegerTablesAreRefusedByTheFloatReader) {
  // gpsa writes int tables for firmware; reading one back as weights must say what it is.
  const std::int8_t i8[2] = {1, -1};
  const std::int16_t i16[2] = {1, -1};
  const std::int32_t i32[2] = {1, -1};
  const std::vector<std::size_t> shape = {2};
  expect_io_error([&] { reread(gpsa::io::npy_bytes(npy_dtype::i8, shape, i8)); }, "rt.npy",
                  {"'|i1'", "int8"});
  expect_io_error([&] { reread(gpsa::io::npy_bytes(npy_dtype::i16, shape, i16)); }, "rt.npy",
                  {"'<i2'", "int16"});
  expect_io_error([&] { reread(gpsa::io::npy_bytes(npy_dtype::i32, shape, i32)); }, "rt.npy",
                  {"'<i4'", "int32"});
}

TEST(NpyRoundTrip, WriterReproducesNumpysGoldenFilesByteForByte) {
  namespace fs = std::filesystem;
  const fs::path golden = GPSA_GOLDEN_DIR;
  for (const char* rel : {"rel_indices_s1.npy", "rel_indices_s14.npy", "s2_h4_c16/x.npy",
                          "s3_h9_c36_bias/attn.npy", "s14_h4_c192_convit_tiny/dist.npy"}) {
    SCOPED_TRACE(rel);
    std::ifstream in(golden / rel, std::ios::binary);
    ASSERT_TRUE(in.good()) << "missing golden file";
    const std::string file(std::istreambuf_iterator<char>(in), {});
    const auto t = gpsa::io::read_npy(golden / rel);
    EXPECT_EQ(gpsa::io::npy_bytes(t.shape, t.data), file);
  }
}
