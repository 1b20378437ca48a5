// SPDX-License-Identifier: MIT
// The streaming .npy writer: the same bytes as npy_bytes (itself checked against numpy's golden
// files), written through an output_set without a whole-file copy; count and type checks.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>

#include "io_test_util.hpp"

namespace fs = std::filesystem;
using gpsa::io::npy_dtype;
using gpsa_test::expect_io_error;

namespace {

struct temp_dir {
  fs::path path = fs::temp_directory_path() / ("gpsa_npys_" + std::to_string(::getpid()));
  temp_dir() { fs::create_directories(path); }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(NpyWriter, StreamedInPiecesEqualsNpyBytes) {
  temp_dir d;
  const std::vector<std::size_t> shape{3, 5, 7};
  std::vector<float> v(105);
  std::iota(v.begin(), v.end(), -50.0f);
  {
    gpsa::io::output_set s;
    gpsa::io::npy_writer w(s.add(d.path / "t.npy"), npy_dtype::f32, shape);
    for (std::size_t i = 0; i < v.size(); i += 10)
      w.append(std::span<const float>(v).subspan(i, std::min<std::size_t>(10, v.size() - i)));
    EXPECT_EQ(w.remaining(), 0u);
    w.finish();
    s.commit();
  }
  EXPECT_EQ(slurp(d.path / "t.npy"), gpsa::io::npy_bytes(shape, v));
  EXPECT_EQ(gpsa::io::read_npy(d.path / "t.npy").data, v);
}

TEST(NpyWriter, EveryDtype) {
  temp_dir d;
  const std::vector<std::size_t> shape{2};
  const double f64[] = {0.5, -2};
  const std::int8_t i8[] = {1, -1};
  const std::int16_t i16[] = {300, -300};
  const std::int32_t i32[] = {70000, -70000};
  gpsa::io::output_set s;
  gpsa::io::npy_writer(s.add(d.path / "d.npy"), npy_dtype::f64, shape).append(std::span(f64));
  gpsa::io::npy_writer(s.add(d.path / "b.npy"), npy_dtype::i8, shape).append(std::span(i8));
  gpsa::io::npy_writer(s.add(d.path / "h.npy"), npy_dtype::i16, shape).append(std::span(i16));
  gpsa::io::npy_writer(s.add(d.path / "i.npy"), npy_dtype::i32, shape).append(std::span(i32));
  s.commit();
  EXPECT_EQ(slurp(d.path / "d.npy"), gpsa::io::npy_bytes(npy_dtype::f64, shape, f64));
  EXPECT_EQ(slurp(d.path / "b.npy"), gpsa::io::npy_bytes(npy_dtype::i8, shape, i8));
  EXPECT_EQ(slurp(d.path / "h.npy"), gpsa::io::npy_bytes(npy_dtype::i16, shape, i16));
  EXPECT_EQ(slurp(d.path / "i.npy"), gpsa::io::npy_bytes(npy_dtype::i32, shape, i32));
}

TEST(NpyWriter, WrongCountOrTypeIsAnError) {
  temp_dir d;
  const std::vector<std::size_t> shape{2, 2};
  const std::vector<float> three(3), five(5);
  const std::vector<double> dbl(4);
  gpsa::io::output_set s;
  gpsa::io::output_file& o = s.add(d.path / "x.npy");
  const std::string name = (d.path / "x.npy").string();
  {
    gpsa::io::npy_writer w(o, npy_dtype::f32, shape);
    w.append(three);
    expect_io_error([&] { w.finish(); }, name, {"1 values missing"});
    expect_io_error([&] { w.append(std::span<const float>(five).first(2)); }, name,
                    {"2 more values than the shape holds (1 left)"});
    expect_io_error([&] { w.append(dbl); }, name, {"appending double values to a '<f4' array"});
  }
  gpsa::io::output_file& o2 = s.add(d.path / "y.npy");
  expect_io_error([&] { gpsa::io::write_npy(o2, shape, five); }, (d.path / "y.npy").string(),
                  {"shape (2, 2) holds 4 values but 5 were given"});
  EXPECT_EQ(o2.size(), 0u);  // checked before the header was written
}

TEST(NpyWriter, WholeArrayHelpers) {
  temp_dir d;
  const std::vector<std::size_t> shape{2, 3};
  const std::vector<float> f{1, 2, 3, 4, 5, 6};
  const std::vector<double> g{1, 2, 3, 4, 5, 6};
  gpsa::io::output_set s;
  gpsa::io::write_npy(s.add(d.path / "f.npy"), shape, f);
  gpsa::io::write_npy(s.add(d.path / "g.npy"), shape, g);
  s.commit();
  EXPECT_EQ(slurp(d.path / "f.npy"), gpsa::io::npy_bytes(shape, f));
  EXPECT_EQ(slurp(d.path / "g.npy"), gpsa::io::npy_bytes(npy_dtype::f64, shape, g.data()));
  const std::string whole = gpsa::io::npy_bytes(shape, f);
  EXPECT_EQ(gpsa::io::npy_header(npy_dtype::f32, shape), whole.substr(0, whole.size() - 24));
}
