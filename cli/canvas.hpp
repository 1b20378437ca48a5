// SPDX-License-Identifier: MIT
// A small RGB canvas for `gpsa demo`: rectangles, lines, discs, a heat colour map and a built-in
// 5x7 bitmap font (digits, letters, a few symbols); encoded as PNG by gpsa::image::encode_png.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gpsa::cli {

struct rgb {
  std::uint8_t r = 0, g = 0, b = 0;
  friend bool operator==(const rgb&, const rgb&) = default;
};

class rgb_image {
 public:
  rgb_image(std::size_t width, std::size_t height, rgb background);

  std::size_t width() const noexcept { return w_; }
  std::size_t height() const noexcept { return h_; }
  rgb at(std::size_t x, std::size_t y) const noexcept { return px_[y * w_ + x]; }
  void set(std::size_t x, std::size_t y, rgb c) noexcept {
    if (x < w_ && y < h_) px_[y * w_ + x] = c;
  }
  // Clipped to the image.
  void fill_rect(std::size_t x, std::size_t y, std::size_t w, std::size_t h, rgb c) noexcept;
  // A one-pixel rectangle outline.
  void outline_rect(std::size_t x, std::size_t y, std::size_t w, std::size_t h, rgb c) noexcept;
  // A one-pixel line from (x0, y0) to (x1, y1), both included; clipped to the image.
  void draw_line(long x0, long y0, long x1, long y1, rgb c) noexcept;
  // A filled disc / a two-pixel ring of radius r around (cx, cy); clipped.
  void fill_disc(long cx, long cy, long r, rgb c) noexcept;
  void draw_ring(long cx, long cy, long r, rgb c) noexcept;
  // Copies `src` with its top-left corner at (x, y); clipped.
  void blit(const rgb_image& src, std::size_t x, std::size_t y) noexcept;
  // Text in the built-in 5x7 font, each font pixel drawn as scale x scale, one column of space
  // between glyphs. Characters without a glyph are drawn as a box (so a gap is visible).
  void draw_text(std::size_t x, std::size_t y, std::string_view text, std::size_t scale,
                 rgb c) noexcept;
  const std::vector<rgb>& pixels() const noexcept { return px_; }

 private:
  std::size_t w_, h_;
  std::vector<rgb> px_;
};

// Width in pixels of `text` drawn at `scale` (6 columns per glyph including the gap, minus one).
std::size_t text_width(std::string_view text, std::size_t scale) noexcept;
constexpr std::size_t glyph_height = 7;

// True when the font has a glyph for c: digits, letters, space and = . , - ( ) : _ / + [ ] < > *
// % | '.
bool has_glyph(char c) noexcept;

// Heat colour map (black - purple - red - orange - pale yellow, like matplotlib's "inferno"):
// t in [0, 1], clamped.
rgb heat_color(double t) noexcept;

// An 8-bit RGB PNG of the image, in memory (gpsa::image::encode_png; image_error when libpng
// fails).
std::string encode_png(const rgb_image& img);

}  // namespace gpsa::cli
