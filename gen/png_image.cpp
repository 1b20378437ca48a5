// SPDX-License-Identifier: MIT
// RGB canvas, bitmap font, heat colour map and libpng encoding for `gpsa demo`.
#include "png_image.hpp"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>

#include "commands.hpp"

namespace gpsa::cli {
namespace {

// 5x7 glyphs, one byte per row, bit 4 = leftmost column. Drawn for this tool.
struct glyph {
  char c;
  std::uint8_t rows[7];
};
constexpr glyph font[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'x', {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}},
    {'y', {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E}},
    {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}},
    {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {' ', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
};
constexpr glyph missing = {'?', {0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F}};

const glyph& find_glyph(char c) noexcept {
  for (const glyph& g : font)
    if (g.c == c) return g;
  return missing;
}

// libpng reports errors by longjmp; this state is all the setjmp frame holds, so no C++ object
// with a destructor is skipped by the jump.
struct png_sink {
  std::string* out;
  const char* error;
};

void write_cb(png_structp png, png_bytep data, png_size_t n) {
  auto* sink = static_cast<png_sink*>(png_get_io_ptr(png));
  sink->out->append(reinterpret_cast<const char*>(data), n);
}
void flush_cb(png_structp) {}
void error_cb(png_structp png, png_const_charp msg) {
  auto* sink = static_cast<png_sink*>(png_get_error_ptr(png));
  sink->error = msg;
  png_longjmp(png, 1);
}
void warning_cb(png_structp, png_const_charp) {}

// Returns false (sink.error set) on failure. Only trivially destructible locals here.
bool encode_rows(png_sink& sink, png_bytepp rows, std::size_t w, std::size_t h) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, error_cb, warning_cb);
  if (png == nullptr) {
    sink.error = "cannot create a libpng write struct";
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    sink.error = "cannot create a libpng info struct";
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, &sink, write_cb, flush_cb);
  png_set_IHDR(png, info, static_cast<png_uint_32>(w), static_cast<png_uint_32>(h), 8,
               PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

rgb_image::rgb_image(std::size_t width, std::size_t height, rgb background)
    : w_(width), h_(height), px_(width * height, background) {}

void rgb_image::fill_rect(std::size_t x, std::size_t y, std::size_t w, std::size_t h,
                          rgb c) noexcept {
  const std::size_t x1 = std::min(w_, x + w), y1 = std::min(h_, y + h);
  for (std::size_t j = y; j < y1; ++j)
    for (std::size_t i = x; i < x1; ++i) px_[j * w_ + i] = c;
}

void rgb_image::outline_rect(std::size_t x, std::size_t y, std::size_t w, std::size_t h,
                             rgb c) noexcept {
  if (w == 0 || h == 0) return;
  fill_rect(x, y, w, 1, c);
  fill_rect(x, y + h - 1, w, 1, c);
  fill_rect(x, y, 1, h, c);
  fill_rect(x + w - 1, y, 1, h, c);
}

void rgb_image::draw_text(std::size_t x, std::size_t y, std::string_view text, std::size_t scale,
                          rgb c) noexcept {
  for (const char ch : text) {
    const glyph& g = find_glyph(ch);
    for (std::size_t r = 0; r < glyph_height; ++r)
      for (std::size_t col = 0; col < 5; ++col)
        if (g.rows[r] & (0x10 >> col)) fill_rect(x + col * scale, y + r * scale, scale, scale, c);
    x += 6 * scale;
  }
}

std::size_t text_width(std::string_view text, std::size_t scale) noexcept {
  return text.empty() ? 0 : (6 * text.size() - 1) * scale;
}

bool has_glyph(char c) noexcept { return &find_glyph(c) != &missing; }

rgb heat_color(double t) noexcept {
  // control points sampled from matplotlib's "inferno" at 0, 1/4, 1/2, 3/4, 1
  static constexpr double stops[5][3] = {
      {0, 0, 4}, {87, 16, 110}, {188, 55, 84}, {249, 142, 9}, {252, 255, 164}};
  if (!(t > 0)) t = 0;  // also NaN
  if (t > 1) t = 1;
  const double s = t * 4;
  const std::size_t i = std::min<std::size_t>(3, static_cast<std::size_t>(s));
  const double f = s - static_cast<double>(i);
  const auto mix = [&](int k) {
    return static_cast<std::uint8_t>(
        std::lround(stops[i][k] + f * (stops[i + 1][k] - stops[i][k])));
  };
  return {mix(0), mix(1), mix(2)};
}

std::string encode_png(const rgb_image& img) {
  if (img.width() == 0 || img.height() == 0) throw cli_error("png: empty image");
  std::vector<png_byte> bytes(img.width() * img.height() * 3);
  for (std::size_t i = 0; i < img.pixels().size(); ++i) {
    bytes[3 * i] = img.pixels()[i].r;
    bytes[3 * i + 1] = img.pixels()[i].g;
    bytes[3 * i + 2] = img.pixels()[i].b;
  }
  std::vector<png_bytep> rows(img.height());
  for (std::size_t y = 0; y < img.height(); ++y) rows[y] = bytes.data() + y * img.width() * 3;
  std::string out;
  png_sink sink{&out, nullptr};
  if (!encode_rows(sink, rows.data(), img.width(), img.height()))
    throw cli_error(std::string("png: ") + (sink.error ? sink.error : "libpng failed"));
  return out;
}

}  // namespace gpsa::cli
