// SPDX-License-Identifier: MIT
// Helpers of the gpsa::image tests: fixture paths, an independent CRC-32 for crafted PNG chunks,
// and the ToTensor + Normalize formula applied to PIL's uint8 crops.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../support/tiny_npy.hpp"

namespace image_test {

namespace fs = std::filesystem;

inline const fs::path kGoldenImages = fs::path(GPSA_GOLDEN_DIR) / "images";
inline const fs::path kFixtures = GPSA_IMAGE_FIXTURES;

inline std::vector<std::uint8_t> bytes_of(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error(p.string() + ": cannot open (missing fixture?)");
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const fs::path& p, const std::vector<std::uint8_t>& b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

inline nlohmann::json json_of(const fs::path& p) {
  const auto b = bytes_of(p);
  return nlohmann::json::parse(b.begin(), b.end());
}

// A uint8 array (descr '|u1') with the expected shape.
inline std::vector<std::uint8_t> load_u8(const fs::path& p, const std::vector<std::size_t>& shape) {
  const tiny_npy::array a = tiny_npy::load(p.string());
  if (a.descr != "|u1" || a.fortran_order || a.shape != shape)
    throw std::runtime_error(p.string() + ": not a C-order uint8 array of the expected shape");
  return a.data;
}

inline std::vector<float> load_f32(const fs::path& p, std::vector<std::size_t>& shape) {
  const tiny_npy::array a = tiny_npy::load(p.string());
  if (a.descr != "<f4" || a.fortran_order) throw std::runtime_error(p.string() + ": not <f4");
  shape = a.shape;
  std::vector<float> v(a.data.size() / 4);
  std::memcpy(v.data(), a.data.data(), v.size() * 4);
  return v;
}

// torchvision's ToTensor then Normalize(mean, std) of an (S, S, 3) uint8 crop: (3, S, S) floats,
// each operation rounded to float32 as torch does.
inline std::vector<float> normalise(const std::vector<std::uint8_t>& crop, std::size_t count) {
  const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
  std::vector<float> out(3 * count);
  for (std::size_t c = 0; c < 3; ++c)
    for (std::size_t i = 0; i < count; ++i) {
      volatile float x = static_cast<float>(crop[3 * i + c]) / 255.0f;
      volatile float centred = x - mean[c];
      out[c * count + i] = centred / sd[c];
    }
  return out;
}

// The 8-bit level a normalised value came from (to compare tensors level by level).
inline int level_of(float v, std::size_t c) {
  const double mean[3] = {0.485, 0.456, 0.406}, sd[3] = {0.229, 0.224, 0.225};
  return static_cast<int>(std::lround((double(v) * sd[c] + mean[c]) * 255.0));
}

// CRC-32 (ISO-HDLC, as PNG uses), bit by bit.
inline std::uint32_t crc32(const std::uint8_t* p, std::size_t n) {
  std::uint32_t c = 0xffffffffu;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return c ^ 0xffffffffu;
}

inline void put_be32(std::vector<std::uint8_t>& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + std::size_t(i)] = std::uint8_t(v >> (24 - 8 * i));
}

// A PNG whose IHDR declares width x height (CRC recomputed, so only the size is wrong).
inline std::vector<std::uint8_t> png_declaring(std::vector<std::uint8_t> png, std::uint32_t width,
                                               std::uint32_t height) {
  // signature (8) | length (4) | "IHDR" (4) | width (4) | height (4) | ... 13 data bytes | CRC
  put_be32(png, 16, width);
  put_be32(png, 20, height);
  put_be32(png, 29, crc32(png.data() + 12, 17));
  return png;
}

// A JPEG whose first SOFn declares width x height (16 bits each in JPEG).
inline std::vector<std::uint8_t> jpeg_declaring(std::vector<std::uint8_t> jpg, std::uint16_t width,
                                                std::uint16_t height) {
  for (std::size_t i = 2; i + 9 < jpg.size();) {
    if (jpg[i] != 0xff) throw std::runtime_error("JPEG marker expected");
    const std::uint8_t m = jpg[i + 1];
    const std::size_t len = (std::size_t{jpg[i + 2]} << 8) | jpg[i + 3];
    if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
      jpg[i + 5] = std::uint8_t(height >> 8);
      jpg[i + 6] = std::uint8_t(height);
      jpg[i + 7] = std::uint8_t(width >> 8);
      jpg[i + 8] = std::uint8_t(width);
      return jpg;
    }
    i += 2 + len;
  }
  throw std::runtime_error("no SOF marker");
}

}  // namespace image_test
