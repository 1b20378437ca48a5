// SPDX-License-Identifier: MIT
// PNG encoding (8-bit RGB, in memory) through libpng: the writing half of gpsa::image's PNG codec.
#include <png.h>

#include <csetjmp>
#include <string>
#include <vector>

#include "gpsa/image.hpp"

namespace gpsa::image {
namespace {

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

std::string encode_png(const rgb8_image& img, const std::string& name) {
  if (img.width == 0 || img.height == 0) throw image_error(name + ": cannot encode an empty image");
  if (img.pixels.size() / 3 / img.width != img.height || img.pixels.size() % (3 * img.width) != 0)
    throw image_error(name + ": pixel buffer does not hold width x height RGB pixels");
  std::vector<png_bytep> rows(img.height);
  // libpng takes non-const row pointers but only reads them when writing.
  auto* base = const_cast<png_bytep>(img.pixels.data());
  for (std::size_t y = 0; y < img.height; ++y) rows[y] = base + y * img.width * 3;
  std::string out;
  png_sink sink{&out, nullptr};
  if (!encode_rows(sink, rows.data(), img.width, img.height))
    throw image_error(name + ": " + (sink.error ? sink.error : "libpng failed"));
  return out;
}

}  // namespace gpsa::image
