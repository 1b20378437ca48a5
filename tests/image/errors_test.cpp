// SPDX-License-Identifier: MIT
// gpsa::image on bad input: every failure is an image_error whose message is one line naming
// the file and the problem; nothing crashes, hangs or allocates for a size it then refuses.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "gpsa/image.hpp"
#include "image_test_util.hpp"

namespace {

using namespace image_test;

// The message of the image_error `f` throws ("" when it throws nothing).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const gpsa::image::image_error& e) {
    return e.what();
  }
  return "";
}

void expect_one_line_with(const std::string& msg, std::initializer_list<std::string> parts) {
  ASSERT_FALSE(msg.empty()) << "no image_error thrown";
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_TRUE(std::none_of(msg.begin(), msg.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20;
  })) << msg;
  for (const auto& p : parts)
    EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  std::printf("[error] %s\n", msg.c_str());
}

std::vector<std::uint8_t> golden(const std::string& name) { return bytes_of(kGoldenImages / name); }

std::string decode_error(const std::vector<std::uint8_t>& b, const std::string& name = "x.img") {
  return error_of([&] { gpsa::image::decode(b, name); });
}

TEST(ImageErrors, TruncatedPng) {
  auto b = golden("scene_320x240.png");
  for (const std::size_t keep : {b.size() / 2, std::size_t{40}, std::size_t{8}, std::size_t{20}}) {
    SCOPED_TRACE(keep);
    expect_one_line_with(decode_error({b.begin(), b.begin() + std::ptrdiff_t(keep)}, "in.png"),
                         {"in.png: ", "truncated PNG"});
  }
}

TEST(ImageErrors, TruncatedJpeg) {
  auto b = golden("scene_320x240.jpg");
  // half the scan data; everything but the end marker; only the start of the headers
  for (const std::size_t keep : {b.size() / 2, b.size() - 2, std::size_t{100}}) {
    SCOPED_TRACE(keep);
    expect_one_line_with(decode_error({b.begin(), b.begin() + std::ptrdiff_t(keep)}, "in.jpg"),
                         {"in.jpg: ", "truncated JPEG"});
  }
}

TEST(ImageErrors, CorruptHeaders) {
  auto png = golden("scene_320x240.png");
  png[18] ^= 0x40;  // a width byte: the IHDR CRC no longer matches
  expect_one_line_with(decode_error(png, "a.png"), {"a.png: corrupt PNG", "CRC"});
  // a zero width with a correct CRC: refused by libpng's IHDR checks
  expect_one_line_with(decode_error(png_declaring(golden("scene_320x240.png"), 0, 240), "z.png"),
                       {"z.png: corrupt PNG: Invalid IHDR data"});
  // a frame header (SOF0) whose length field is too short for its content
  auto jpg = golden("scene_320x240.jpg");
  const std::string jtext(jpg.begin(), jpg.end());
  const std::size_t sof = jtext.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  jpg[sof + 2] = 0;
  jpg[sof + 3] = 2;
  expect_one_line_with(decode_error(jpg, "a.jpg"), {"a.jpg: corrupt JPEG", "length"});
  // not a JPEG after all: the start marker, then text
  const std::string fake = "\xff\xd8\xffhello";
  expect_one_line_with(decode_error({fake.begin(), fake.end()}, "f.jpg"), {"f.jpg: "});
  // corrupt compressed data: the zlib stream of the first IDAT
  auto idat = golden("gray_200x240.png");
  const std::string text(idat.begin(), idat.end());
  const std::size_t at = text.find("IDAT");
  ASSERT_NE(at, std::string::npos);
  for (std::size_t i = at + 4; i < at + 200; ++i) idat[i] = std::uint8_t(i * 37);
  expect_one_line_with(decode_error(idat, "d.png"), {"d.png: corrupt PNG"});
}

TEST(ImageErrors, HugeDeclaredSizesAreRefusedBeforeDecoding) {
  const std::string png =
      decode_error(png_declaring(golden("scene_320x240.png"), 100000, 100000), "big.png");
  expect_one_line_with(
      png, {"big.png: PNG declares 100000x100000 = 10000000000 pixels", "at most 67108864"});
  expect_one_line_with(
      decode_error(png_declaring(golden("scene_320x240.png"), 0x7fffffff, 1), "wide.png"),
      {"wide.png: PNG declares 2147483647x1"});
  expect_one_line_with(
      decode_error(jpeg_declaring(golden("scene_320x240.jpg"), 65500, 65500), "big.jpg"),
      {"big.jpg: JPEG declares 65500x65500 = 4290250000 pixels"});
  // just over the limit is refused, the limit itself is not (8192 x 8192)
  expect_one_line_with(
      decode_error(png_declaring(golden("gray_200x240.png"), 8193, 8192), "over.png"),
      {"8193x8192"});
}

TEST(ImageErrors, NotPngOrJpeg) {
  expect_one_line_with(decode_error({}, "e.png"), {"e.png: empty file"});
  const std::string text = "hello, world\n";
  expect_one_line_with(
      decode_error({text.begin(), text.end()}, "t.png"),
      {"t.png: not a PNG or JPEG file (it starts with bytes 68 65 6c 6c 6f 2c 20 77)"});
  const std::string gif = "GIF89a\x01\x00\x01\x00";
  expect_one_line_with(decode_error({gif.begin(), gif.end()}, "g.jpg"),
                       {"g.jpg: a GIF image; gpsa reads PNG and JPEG only"});
  const std::string npy = "\x93NUMPY\x01\x00";
  expect_one_line_with(decode_error({npy.begin(), npy.end()}, "x.jpg"), {"x.jpg: a NumPy .npy"});
}

TEST(ImageErrors, ContentDecidesNotTheName) {
  const auto jpg = gpsa::image::decode(golden("scene_320x240.jpg"), "photo.png");
  EXPECT_EQ(jpg.format, gpsa::image::file_format::jpeg);
  EXPECT_EQ(jpg.width, 320u);
}

TEST(ImageErrors, ControlCharactersInNamesAreEscaped) {
  const std::string msg = decode_error({}, "evil\n\x1b[31mred.png");
  expect_one_line_with(msg, {"evil\\x0a\\x1b[31mred.png: empty file"});
}

TEST(ImageErrors, Files) {
  const fs::path dir =
      fs::temp_directory_path() / ("gpsa_image_errors_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  expect_one_line_with(error_of([&] { gpsa::image::read(dir / "nope.png"); }),
                       {"nope.png: cannot open: No such file or directory"});
  expect_one_line_with(error_of([&] { gpsa::image::read(dir); }), {"is a folder"});
  expect_one_line_with(error_of([&] { gpsa::image::read(""); }), {"image path is empty"});
  const fs::path fifo = dir / "fifo.png";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Would block forever in open() without O_NONBLOCK (no writer).
  expect_one_line_with(error_of([&] { gpsa::image::read(fifo); }),
                       {"fifo.png: not a regular file"});
  expect_one_line_with(error_of([&] { gpsa::image::read("/dev/zero"); }),
                       {"/dev/zero: not a regular file"});
  write_bytes(dir / "empty.jpg", {});
  expect_one_line_with(error_of([&] { gpsa::image::read(dir / "empty.jpg"); }), {"empty file"});
  fs::remove_all(dir);
}

TEST(ImageErrors, PreprocessSizes) {
  const auto img = gpsa::image::decode(golden("gray_200x240.png"), "g.png");
  expect_one_line_with(error_of([&] { gpsa::image::preprocess(img, 0, "g.png"); }),
                       {"g.png: output size 0 is out of range (1 to 4096)"});
  expect_one_line_with(error_of([&] { gpsa::image::preprocess(img, 4097, "g.png"); }),
                       {"output size 4097"});
  EXPECT_EQ(gpsa::image::preprocess(img, 4096, "g.png").data.size(), 3u * 4096 * 4096);
  // An extreme aspect ratio: the long side would pass PIL's int limit.
  gpsa::image::rgb8_image line;
  line.width = 1;
  line.height = 1u << 23;
  line.pixels.assign(3u << 23, 0);
  expect_one_line_with(error_of([&] { gpsa::image::preprocess(line, 224, "line.png"); }),
                       {"line.png: 1x8388608 would be resized to 256 x 2147483648", "2^31 - 1"});
  gpsa::image::rgb8_image short_buffer;
  short_buffer.width = 4;
  short_buffer.height = 4;
  short_buffer.pixels.resize(47);
  expect_one_line_with(error_of([&] { gpsa::image::preprocess(short_buffer, 8, "s"); }),
                       {"s: the RGB buffer holds 47 bytes"});
}

}  // namespace
