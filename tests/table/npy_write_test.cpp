// SPDX-License-Identifier: MIT
// gpsa::io::npy_bytes: the same bytes NumPy writes (the golden files are numpy.save output),
// 64-byte aligned headers, every dtype and the shape spellings "()", "(n,)", "(a, b, c)".
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../support/tiny_npy.hpp"
#include "gpsa/rel_indices.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/npy.hpp"

namespace {

using gpsa::io::npy_dtype;

tiny_npy::array reparse(const std::string& bytes) {
  return tiny_npy::parse(std::vector<std::uint8_t>(bytes.begin(), bytes.end()), "npy_bytes");
}

std::string header_text(const std::string& bytes) {
  const std::size_t hl =
      static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  return bytes.substr(10, hl);
}

TEST(NpyWrite, TablesAreByteIdenticalToNumpysFiles) {
  for (const std::size_t s : {1u, 2u, 3u, 4u, 7u, 14u}) {
    const std::vector<std::uint8_t> golden = tiny_npy::read_bytes(
        std::string(GPSA_GOLDEN_DIR) + "/rel_indices_s" + std::to_string(s) + ".npy");
    const std::size_t n = s * s;
    std::vector<float> t(n * n * 3);
    ASSERT_EQ(gpsa::fill_rel_indices<float>(gpsa::grid{s, s}, t), gpsa::status::ok);
    const std::size_t shape[] = {n, n, 3};
    const std::string bytes = gpsa::io::npy_bytes(shape, t);
    ASSERT_EQ(bytes.size(), golden.size()) << "S = " << s;
    EXPECT_EQ(std::memcmp(bytes.data(), golden.data(), golden.size()), 0) << "S = " << s;
  }
}

TEST(NpyWrite, EveryDtype) {
  const std::size_t shape[] = {2, 3};
  const float f[6] = {0, 1, -2, 3.5f, 4, -5};
  const double d[6] = {0, 1, -2, 3.5, 4, -5};
  const std::int8_t i8[6] = {0, 1, -2, 3, 127, -128};
  const std::int16_t i16[6] = {0, 1, -2, 3, 32767, -32768};
  const std::int32_t i32[6] = {0, 1, -2, 3, 2147483647, -2147483647 - 1};
  struct row {
    npy_dtype dt;
    const void* data;
    const char* descr;
    std::size_t bytes;
  };
  for (const row& r :
       {row{npy_dtype::f32, f, "<f4", sizeof f}, row{npy_dtype::f64, d, "<f8", sizeof d},
        row{npy_dtype::i8, i8, "|i1", sizeof i8}, row{npy_dtype::i16, i16, "<i2", sizeof i16},
        row{npy_dtype::i32, i32, "<i4", sizeof i32}}) {
    const std::string bytes = gpsa::io::npy_bytes(r.dt, shape, r.data);
    const tiny_npy::array a = reparse(bytes);
    EXPECT_EQ(a.descr, r.descr);
    EXPECT_FALSE(a.fortran_order);
    EXPECT_EQ(a.shape, (std::vector<std::size_t>{2, 3}));
    EXPECT_EQ(a.data_offset % 64, 0u) << r.descr;
    ASSERT_EQ(a.data.size(), r.bytes) << r.descr;
    EXPECT_EQ(std::memcmp(a.data.data(), r.data, r.bytes), 0) << r.descr;  // little-endian host
    EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
    EXPECT_EQ(bytes[a.data_offset - 1], '\n');
  }
}

TEST(NpyWrite, ShapeSpellingsAndAlignment) {
  const float v[1] = {42};
  const std::size_t one[] = {1};
  EXPECT_NE(header_text(gpsa::io::npy_bytes(npy_dtype::f32, one, v)).find("'shape': (1,), }"),
            std::string::npos);
  EXPECT_NE(header_text(gpsa::io::npy_bytes(npy_dtype::f32, {}, v)).find("'shape': (), }"),
            std::string::npos);
  const std::size_t empty[] = {0, 4};
  const std::string e = gpsa::io::npy_bytes(npy_dtype::f32, empty, nullptr);  // no data needed
  EXPECT_NE(header_text(e).find("'shape': (0, 4), }"), std::string::npos);
  EXPECT_EQ(e.size() % 64, 0u);
  // Header lengths across a range of shapes: the data always starts at a multiple of 64, the
  // header is the dict, spaces and one '\n'.
  std::vector<double> big(1);
  for (std::size_t d = 1; d < 100000000000; d = d * 10 + 3) {
    const std::size_t shape[] = {d, 0};
    const std::string b = gpsa::io::npy_bytes(npy_dtype::f32, shape, nullptr);
    const std::string h = header_text(b);
    EXPECT_EQ(b.size() % 64, 0u) << d;
    EXPECT_EQ(h.back(), '\n');
    const std::size_t close = h.find('}');
    ASSERT_NE(close, std::string::npos);
    EXPECT_EQ(h.find_first_not_of(' ', close + 1), h.size() - 1) << d;
    EXPECT_NE(h.find(std::string("'shape': (").append(std::to_string(d)).append(", 0), }")),
              std::string::npos)
        << d;
  }
  for (std::size_t rank = 0; rank <= 20; ++rank) {
    const std::vector<std::size_t> shape(rank, 1);
    const std::string b = gpsa::io::npy_bytes(npy_dtype::f64, shape, big.data());
    const tiny_npy::array a = reparse(b);
    EXPECT_EQ(a.data_offset % 64, 0u) << rank;
    EXPECT_EQ(a.shape, shape);
    EXPECT_EQ(b.size(), a.data_offset + 8);
  }
}

TEST(NpyWrite, RejectsShapesThatOverflow) {
  const float v[1] = {};
  const std::size_t huge[] = {std::size_t{1} << 40, std::size_t{1} << 40};
  EXPECT_THROW((void)gpsa::io::npy_bytes(npy_dtype::f32, huge, v), gpsa::io::io_error);
  const std::size_t bytes_overflow[] = {std::size_t{1} << 62};
  EXPECT_THROW((void)gpsa::io::npy_bytes(npy_dtype::f64, bytes_overflow, v), gpsa::io::io_error);
  const std::size_t some[] = {3};
  EXPECT_THROW((void)gpsa::io::npy_bytes(npy_dtype::f32, some, nullptr), gpsa::io::io_error);
}

}  // namespace
