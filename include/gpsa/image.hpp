// SPDX-License-Identifier: MIT
// PNG and JPEG files to 8-bit RGB like PIL's convert("RGB"), and timm's preprocessing of them.
//
// Library gpsa::image (libpng, libjpeg-turbo; allocates, throws gpsa::image::image_error); the
// resampling itself is the no-heap core in gpsa/preprocess.hpp. Conversions follow PIL 9.4:
// grey replicated to R = G = B (1/2/4-bit grey scaled to 0..255 like PIL's "1"/"L;2"/"L;4"),
// alpha dropped without compositing (RGBA, grey + alpha), palette looked up (an index past the
// palette gives grey (i, i, i), as PIL), 16-bit colour reduced to its high byte, 16-bit grey
// clipped to 255 (PIL opens it as mode "I" and convert("RGB") clips), CMYK JPEG inverted (Adobe)
// then PIL's cmyk2rgb. No gamma, colour profile or EXIF orientation is applied (PIL and timm
// apply none). The file type comes from its first bytes, not its name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gpsa/io.hpp"
#include "gpsa/preprocess.hpp"

namespace gpsa::image {

// Every failure; what() is one line naming the file, e.g.
// "cat.png: truncated PNG: the file ends after 75371 bytes".
struct image_error : io::io_error {
  using io::io_error::io_error;
};

// Limits, checked before anything is allocated for the pixels:
// - width x height <= max_pixels (8192 x 8192); decoding then holds the file, the RGB result
//   (3 bytes/pixel, <= 192 MiB) and at most one more image-sized buffer (interlaced PNG: the
//   raw samples, <= 8 bytes/pixel; progressive JPEG: libjpeg's coefficients, capped at
//   max_jpeg_memory);
// - files up to max_file_bytes;
// - output side S of preprocess up to max_size ((3, 4096, 4096) floats = 192 MiB).
inline constexpr std::uint64_t max_pixels = std::uint64_t{1} << 26;
inline constexpr std::uint64_t max_file_bytes = std::uint64_t{1} << 30;
inline constexpr long max_jpeg_memory = 640L << 20;
inline constexpr std::size_t max_size = 4096;

enum class file_format { png, jpeg };

struct rgb8_image {
  std::size_t width = 0;
  std::size_t height = 0;
  std::vector<std::uint8_t> pixels;  // R, G, B per pixel, rows of 3 * width bytes, top first
  file_format format = file_format::png;
  std::string source;  // what was decoded, for messages: "8-bit RGBA", "4-bit palette", "CMYK"
};

// Decodes a PNG or JPEG held in memory; `name` stands for the file in messages.
rgb8_image decode(std::span<const std::uint8_t> bytes, const std::string& name);

// Reads and decodes a file. Refuses folders, FIFOs, devices and sockets without blocking on them.
rgb8_image read(const std::filesystem::path& path);

// timm's evaluation preprocessing (gpsa/preprocess.hpp) of a decoded image: a (1, 3, S, S)
// float32 tensor. Throws image_error for S = 0 or S > max_size, naming `name`.
io::tensor preprocess(const rgb8_image& image, std::size_t size = timm_default_size,
                      const std::string& name = "image");
// The same for any timm data configuration: a (1, C, S, S) tensor (C = config.channels; 1:
// PIL's convert("L") first). image_error for an invalid configuration or S > max_size.
io::tensor preprocess(const rgb8_image& image, const timm_data_config& config,
                      const std::string& name = "image");

// read() then preprocess().
io::tensor preprocess_file(const std::filesystem::path& path, std::size_t size = timm_default_size);

// A name or library message made safe for a one-line message: gpsa's one escaping function,
// io::printable (control characters and backslashes become \xNN, see gpsa/io.hpp).
using io::printable;

}  // namespace gpsa::image
