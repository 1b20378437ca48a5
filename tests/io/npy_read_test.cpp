// SPDX-License-Identifier: MIT
// .npy reader: accepted variants, float64 conversion, and the bad-input matrix
// (docs/reliability.md).
#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "io_test_util.hpp"

using namespace gpsa_test;
using gpsa::io::parse_npy;

namespace {

const std::string k_name = "x.npy";

gpsa::io::tensor parse(const bytes& b) { return parse_npy(b, k_name); }

std::string npy_error(const bytes& b, std::initializer_list<std::string> parts) {
  return expect_io_error([&] { parse(b); }, k_name, parts);
}

}  // namespace

// ---- accepted -------------------------------------------------------------------------------

TEST(NpyRead, Float32Matrix) {
  const auto t =
      parse(make_npy(npy_dict("<f4", "(2, 3)"), le_bytes<float>({1, 2, 3, 4, 5, -6.5f})));
  EXPECT_EQ(t.shape, (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(t.data, (std::vector<float>{1, 2, 3, 4, 5, -6.5f}));
}

TEST(NpyRead, Float64IsConvertedRoundingToNearest) {
  const double big = 1e300, just_over = 3.4028235e38 * (1 + 1e-9);  // rounds down to FLT_MAX
  const auto t = parse(make_npy(npy_dict("<f8", "(6,)"),
                                le_bytes<double>({0.1, -2.5, big, -big, just_over, 1e-50})));
  ASSERT_EQ(t.shape, (std::vector<std::size_t>{6}));
  EXPECT_EQ(t.data[0], 0.1f);  // the float nearest to 0.1, as numpy's astype(float32)
  EXPECT_EQ(t.data[1], -2.5f);
  EXPECT_EQ(t.data[2], std::numeric_limits<float>::infinity());
  EXPECT_EQ(t.data[3], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(t.data[4], std::numeric_limits<float>::max());
  EXPECT_EQ(t.data[5], 0.0f);
}

TEST(NpyRead, NanAndInfPassThrough) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const auto t = parse(make_npy(npy_dict("<f4", "(3,)"), le_bytes<float>({nan, inf, -inf})));
  EXPECT_TRUE(std::isnan(t.data[0]));
  EXPECT_EQ(t.data[1], inf);
  EXPECT_EQ(t.data[2], -inf);
  const auto d = parse(make_npy(npy_dict("<f8", "(1,)"),
                                le_bytes<double>({std::numeric_limits<double>::quiet_NaN()})));
  EXPECT_TRUE(std::isnan(d.data[0]));
}

TEST(NpyRead, ScalarEmptyAndOneDimensional) {
  const auto s = parse(make_npy(npy_dict("<f4", "()"), le_bytes<float>({7})));
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.data, std::vector<float>{7});
  const auto e = parse(make_npy(npy_dict("<f4", "(0, 3)"), {}));
  EXPECT_EQ(e.shape, (std::vector<std::size_t>{0, 3}));
  EXPECT_TRUE(e.data.empty());
  const auto v = parse(make_npy(npy_dict("<f4", "(1,)"), le_bytes<float>({3})));
  EXPECT_EQ(v.shape, std::vector<std::size_t>{1});
}

TEST(NpyRead, FormatVersions2And3) {
  for (int major : {2, 3}) {
    const auto t = parse(make_npy(npy_dict("<f4", "(2,)"), le_bytes<float>({1, 2}), major));
    EXPECT_EQ(t.data, (std::vector<float>{1, 2})) << "version " << major;
  }
}

TEST(NpyRead, HeaderVariantsNumpyWrites) {
  // Key order, double quotes, no trailing comma, Python 2 longs: all seen in real files.
  const auto a =
      parse(make_npy("{\"shape\": (2L, 1L), \"fortran_order\": False, \"descr\": \"<f4\"}",
                     le_bytes<float>({1, 2})));
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{2, 1}));
  // Fortran order with at most one dimension longer than 1 is the same memory layout.
  const auto f = parse(make_npy(npy_dict("<f4", "(1, 3)", true), le_bytes<float>({1, 2, 3})));
  EXPECT_EQ(f.data, (std::vector<float>{1, 2, 3}));
}

// ---- rejected: every case names the file and the problem ----------------------------------

TEST(NpyReadErrors, BadMagic) {
  npy_error({}, {"not a .npy file"});
  bytes b = make_npy(npy_dict("<f4", "(1,)"), le_bytes<float>({1}));
  b[1] = 'X';
  npy_error(b, {"not a .npy file", "magic"});
  bytes text;
  append(text, "1.0, 2.0\n");
  npy_error(text, {"not a .npy file"});
}

TEST(NpyReadErrors, UnsupportedVersion) {
  const bytes data = le_bytes<float>({1});
  npy_error(make_npy(npy_dict("<f4", "(1,)"), data, 4, 0),
            {"version 4.0", "supported: 1.0, 2.0, 3.0"});
  npy_error(make_npy(npy_dict("<f4", "(1,)"), data, 1, 1), {"version 1.1"});
  npy_error(make_npy(npy_dict("<f4", "(1,)"), data, 0, 0), {"version 0.0"});
}

TEST(NpyReadErrors, FortranOrder) {
  npy_error(make_npy(npy_dict("<f4", "(2, 2)", true), le_bytes<float>({1, 2, 3, 4})),
            {"Fortran-order", "np.ascontiguousarray"});
}

TEST(NpyReadErrors, BigEndianAndAmbiguousByteOrder) {
  npy_error(make_npy(npy_dict(">f4", "(1,)"), le_bytes<float>({1})),
            {"'>f4'", "big-endian", "a.astype('<f4')"});
  npy_error(make_npy(npy_dict(">f8", "(1,)"), le_bytes<double>({1})), {"'>f8'", "big-endian"});
  npy_error(make_npy(npy_dict("|f4", "(1,)"), le_bytes<float>({1})), {"'|f4'", "byte order"});
  npy_error(make_npy(npy_dict("=f4", "(1,)"), le_bytes<float>({1})), {"'=f4'", "byte order"});
}

TEST(NpyReadErrors, OtherDtypes) {
  const struct {
    const char* descr;
    const char* named;
    std::size_t size;
  } cases[] = {{"<f2", "float16", 2},       {"<i4", "int32", 4},    {"<i8", "int64", 8},
               {"|u1", "uint8", 1},         {"|b1", "bool", 1},     {"<c8", "complex64", 8},
               {"|O", "Python objects", 8}, {"<U3", "unicode", 12}, {"<f16", "float128", 16},
               {"f", "not understood", 4}};
  for (const auto& c : cases) {
    const bytes data(c.size, 0);
    const std::string msg =
        npy_error(make_npy(npy_dict(c.descr, "(1,)"), data),
                  {std::string("'") + c.descr + "'", c.named, "a.astype('<f4')"});
    SCOPED_TRACE(msg);
  }
  npy_error(
      make_npy("{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (1,), }",
               bytes(8, 0)),
      {"structured"});
}

TEST(NpyReadErrors, ShapeSizeMismatchAndTruncatedData) {
  const bytes three = le_bytes<float>({1, 2, 3});
  npy_error(make_npy(npy_dict("<f4", "(2, 2)"), three),
            {"12 bytes", "(2,2)", "needs 16", "truncated"});
  npy_error(make_npy(npy_dict("<f4", "(2,)"), three), {"12 bytes", "needs 8", "trailing"});
  npy_error(make_npy(npy_dict("<f8", "(2,)"), three), {"12 bytes", "needs 16"});
  // A shape whose element count overflows must not be multiplied blindly, nor allocated.
  npy_error(make_npy(npy_dict("<f4", "(4294967296, 4294967296)"), three), {"too large"});
  // 2^61 float32 = 2^63 bytes still fits 64 bits (refused by size); 2^62 * 4 does not.
  npy_error(make_npy(npy_dict("<f4", "(2305843009213693952,)"), three),
            {"needs 9223372036854775808", "truncated"});
  npy_error(make_npy(npy_dict("<f4", "(4611686018427387904,)"), three), {"too large"});
  npy_error(make_npy(npy_dict("<f8", "(2305843009213693952,)"), three), {"too large"});
  // A zero does not hide an overflow of the other dimensions: both orders are refused alike.
  npy_error(make_npy(npy_dict("<f4", "(0, 4294967296, 4294967296)"), {}), {"too large"});
  npy_error(make_npy(npy_dict("<f4", "(4294967296, 4294967296, 0)"), {}), {"too large"});
  npy_error(make_npy(npy_dict("<f4", "(99999999999999999999,)"), three),
            {"shape entry is too large"});
}

TEST(NpyReadErrors, MalformedHeader) {
  const bytes one = le_bytes<float>({1});
  const struct {
    std::string dict;
    std::string says;
  } cases[] = {
      {"", "start with '{'"},
      {"{'descr': '<f4', 'fortran_order': False}", "no 'shape'"},
      {"{'fortran_order': False, 'shape': (1,)}", "no 'descr'"},
      {"{'descr': '<f4', 'shape': (1,)}", "no 'fortran_order'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
       "unexpected key 'extra'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
       "'descr' appears twice"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", "True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1)}", "must be a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "non-negative integer"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", "tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "',' or '}'"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", "expected"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk", "only padding"},
      {"{'descr': 42, 'fortran_order': False, 'shape': (1,)}", "dtype string"},
  };
  for (const auto& c : cases) npy_error(make_npy(c.dict, one), {"malformed .npy header", c.says});
}

TEST(NpyReadErrors, HeaderLengthBeyondFile) {
  bytes b = make_npy(npy_dict("<f4", "(1,)"), le_bytes<float>({1}));
  b[8] = 0xff;
  b[9] = 0xff;  // 65535 > file size
  npy_error(b, {"truncated", "header says 65535 bytes"});
  bytes v2 = make_npy(npy_dict("<f4", "(1,)"), le_bytes<float>({1}), 2);
  v2[11] = 0xff;  // ~4 GB header length in a 2.0 file: over the header limit
  npy_error(v2, {"header length 4278190196 bytes", "over the 1.0 MiB limit"});
  v2[11] = 0;
  v2[10] = 0x01;  // 65652 bytes: under the limit, beyond the file
  npy_error(v2, {"truncated", "header says 65652 bytes"});
}

TEST(NpyReadErrors, TruncatedAtEveryByte) {
  // Every proper prefix of a valid file (magic, version, length, header, data) is refused.
  const bytes full = make_npy(npy_dict("<f8", "(2, 2)"), le_bytes<double>({1, 2, 3, 4}));
  ASSERT_NO_THROW(parse(full));
  for (std::size_t n = 0; n < full.size(); ++n) {
    SCOPED_TRACE("prefix of " + std::to_string(n) + " bytes");
    const bytes prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    if (n < 6)
      npy_error(prefix, {"not a .npy file"});
    else
      npy_error(prefix, {"truncated"});
  }
}

TEST(NpyReadErrors, FileErrorsNameThePath) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("gpsa_npy_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path missing = dir / "missing.npy";
  expect_io_error([&] { gpsa::io::read_npy(missing); }, missing.string(),
                  {"cannot open", "No such file"});
  expect_io_error([&] { gpsa::io::read_npy(dir); }, dir.string(), {"is a folder"});
  expect_io_error([&] { gpsa::io::read_file(dir); }, dir.string(), {"is a folder"});
  expect_io_error([&] { gpsa::io::read_npy("/dev/null"); }, "/dev/null", {"not a regular file"});
  const fs::path bad = dir / "bad.npy";
  { std::ofstream(bad, std::ios::binary) << "not numpy"; }
  expect_io_error([&] { gpsa::io::read_npy(bad); }, bad.string(), {"not a .npy file"});
  const fs::path good = dir / "good.npy";
  {
    const bytes b = make_npy(npy_dict("<f4", "(2,)"), le_bytes<float>({1.5f, 2}));
    std::ofstream(good, std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  EXPECT_EQ(gpsa::io::read_npy(good).data, (std::vector<float>{1.5f, 2}));
  fs::remove_all(dir);
}

TEST(NpyReadErrors, HostileDescrIsEscaped) {
  const std::string descr = std::string("<f4") + '\0';
  const std::string msg =
      npy_error(make_npy(npy_dict(descr, "(1,)"), le_bytes<float>({1})), {"dtype '<f4\\x00'"});
  npy_error(make_npy(npy_dict("<f4\x1b[2J", "(1,)"), le_bytes<float>({1})),
            {"dtype '<f4\\x1b[2J'"});
  EXPECT_EQ(msg.find('\0'), std::string::npos);
}

TEST(NpyReadErrors, RankAndHeaderLimits) {
  std::string shape = "(";
  for (int i = 0; i < 64; ++i) shape += "1, ";
  EXPECT_EQ(parse(make_npy(npy_dict("<f4", shape + ")"), le_bytes<float>({1}))).shape.size(), 64u);
  npy_error(make_npy(npy_dict("<f4", shape + "1, )"), le_bytes<float>({1})),
            {"more than 64 dimensions"});
  gpsa::io::read_limits small;
  small.rank = 2;
  expect_io_error(
      [&] {
        gpsa::io::parse_npy(make_npy(npy_dict("<f4", "(1, 1, 1)"), le_bytes<float>({1})), "x.npy",
                            small);
      },
      "x.npy", {"more than 2 dimensions"});
  small = {};
  small.npy_header_bytes = 32;
  expect_io_error(
      [&] {
        gpsa::io::parse_npy(make_npy(npy_dict("<f4", "(1,)"), le_bytes<float>({1})), "x.npy",
                            small);
      },
      "x.npy", {"header length", "bytes is over the 32 bytes limit"});
}
