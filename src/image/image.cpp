// SPDX-License-Identifier: MIT
// gpsa::image: reads image files, decodes PNG/JPEG through codec.h, converts to RGB the way PIL
// does, and runs timm's evaluation preprocessing from gpsa::core on the result.
#include "gpsa/image.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "codec.h"
#include "gpsa/grid.hpp"

namespace gpsa::image {

namespace {

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw image_error(printable(name) + ": " + what);
}

template <class T>
void resize_or_fail(std::vector<T>& v, std::size_t n, const std::string& name, const char* what) {
  try {
    v.resize(n);
  } catch (const std::bad_alloc&) {
    fail(name, std::string("not enough memory for ") + what + " (" + std::to_string(n * sizeof(T)) +
                   " bytes)");
  } catch (const std::length_error&) {
    fail(name, std::string("not enough memory for ") + what);
  }
}

bool starts_with(std::span<const std::uint8_t> b, std::string_view magic, std::size_t at = 0) {
  return b.size() >= at + magic.size() &&
         std::equal(magic.begin(), magic.end(), b.begin() + static_cast<std::ptrdiff_t>(at),
                    [](char m, std::uint8_t x) { return static_cast<std::uint8_t>(m) == x; });
}

// What a file that is neither PNG nor JPEG looks like, for the message.
[[noreturn]] void refuse_format(std::span<const std::uint8_t> b, const std::string& name) {
  const char* other = nullptr;
  if (starts_with(b, "GIF8"))
    other = "a GIF image";
  else if (starts_with(b, "BM"))
    other = "a BMP image";
  else if (starts_with(b, "RIFF") && starts_with(b, "WEBP", 8))
    other = "a WebP image";
  else if (starts_with(b, std::string_view("II*\0", 4)) ||
           starts_with(b, std::string_view("MM\0*", 4)))
    other = "a TIFF image";
  else if (starts_with(b, "\x93NUMPY"))
    other = "a NumPy .npy file";
  if (other != nullptr)
    fail(name, std::string(other) + "; gpsa reads PNG and JPEG only (convert it first)");
  static constexpr char hex[] = "0123456789abcdef";
  std::string head;
  for (std::size_t i = 0; i < std::min<std::size_t>(b.size(), 8); ++i) {
    head += i == 0 ? "" : " ";
    head += hex[b[i] >> 4];
    head += hex[b[i] & 15];
  }
  fail(name, "not a PNG or JPEG file (it starts with bytes " + head + ")");
}

bool is_png(std::span<const std::uint8_t> b) { return starts_with(b, "\x89PNG\r\n\x1a\n"); }
bool is_jpeg(std::span<const std::uint8_t> b) { return starts_with(b, "\xff\xd8\xff"); }

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
  const std::string name = path.string();
  if (name.empty()) throw image_error("image path is empty");
  // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int err = errno;
    fail(name, std::string("cannot open: ") + std::strerror(err));
  }
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } guard{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    fail(name, std::string("cannot stat: ") + std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) fail(name, "is a folder, expected a PNG or JPEG file");
  if (!S_ISREG(st.st_mode))
    fail(name, "not a regular file (FIFO, device or socket); gpsa reads images from files only");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_file_bytes)
    fail(name, "file is " + std::to_string(size) + " bytes; gpsa reads image files up to " +
                   std::to_string(max_file_bytes) + " bytes");
  if (size == 0) fail(name, "empty file, expected a PNG or JPEG image");
  // The first bytes say what the file is: anything but PNG or JPEG is refused before the rest
  // is read (a 1 GB file of something else costs 16 bytes, not 1 GB).
  const auto read_into = [&](std::uint8_t* dst, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = ::read(fd, dst + got, n - got);
      if (r < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        fail(name, std::string("read failed: ") + std::strerror(err));
      }
      if (r == 0) break;  // shrank while we read: decode what is there, the decoder complains
      got += static_cast<std::size_t>(r);
    }
    return got;
  };
  std::vector<std::uint8_t> head(static_cast<std::size_t>(std::min<std::uint64_t>(size, 16)));
  head.resize(read_into(head.data(), head.size()));
  if (!is_png(head) && !is_jpeg(head)) refuse_format(head, name);
  std::vector<std::uint8_t> bytes;
  resize_or_fail(bytes, static_cast<std::size_t>(size), name, "the file");
  std::copy(head.begin(), head.end(), bytes.begin());
  bytes.resize(head.size() + read_into(bytes.data() + head.size(), bytes.size() - head.size()));
  return bytes;
}

void check_pixels(const std::string& name, const char* format, std::uint64_t w, std::uint64_t h) {
  if (w == 0 || h == 0)
    fail(name, std::string(format) + " declares an empty image (" + std::to_string(w) + "x" +
                   std::to_string(h) + ")");
  if (w * h > max_pixels)  // w, h < 2^32: no overflow
    fail(name, std::string(format) + " declares " + std::to_string(w) + "x" + std::to_string(h) +
                   " = " + std::to_string(w * h) + " pixels; gpsa decodes at most " +
                   std::to_string(max_pixels) + " (8192x8192): downscale the image first");
}

[[noreturn]] void codec_failure(const std::string& name, const char* format, int code,
                                const char* message) {
  const std::string text = printable(message);
  switch (code) {
    case gpsa_codec_truncated:
      fail(name, std::string("truncated ") + format + ": " + text);
    case gpsa_codec_no_memory:
      fail(name, std::string("not enough memory to decode the ") + format + ": " + text);
    case gpsa_codec_unsupported:
      fail(name, std::string("unsupported ") + format + ": " + text);
    case gpsa_codec_limit:
      fail(name, std::string(format) + " over gpsa's limits: " + text);
    default:
      fail(name, std::string("corrupt ") + format + ": " + text);
  }
}

// "W x H" of timm's resize for `config` (the shorter side to floor(S / crop_pct)), for the
// message of an image whose resize exceeds PIL's limits.
std::string resized_text(image_size in, const timm_data_config& config) {
  const auto s =
      static_cast<std::uint64_t>(std::floor(static_cast<double>(config.size) / config.crop_pct));
  const std::uint64_t shorter = std::min(in.width, in.height),
                      longer = std::max(in.width, in.height);
  const std::uint64_t l = s * longer / shorter;
  return in.width >= in.height ? std::to_string(l) + " x " + std::to_string(s)
                               : std::to_string(s) + " x " + std::to_string(l);
}

// The plan of preprocess(image of `in`, size), or the one-line refusal naming the file.
timm_eval_plan plan_or_fail(image_size in, const timm_data_config& config,
                            const std::string& name) {
  const std::size_t size = config.size;
  if (size == 0 || size > max_size)
    fail(name, "output size " + std::to_string(size) + " is out of range (1 to " +
                   std::to_string(max_size) + ")");
  if (validate(config) != status::ok)
    fail(name, "invalid data configuration (channels 1 or 3, 0 < crop_pct <= 1, std > 0)");
  timm_eval_plan plan;
  if (const status s = plan_timm_eval(in, config, plan); s != status::ok) {
    if (s == status::size_overflow)
      fail(name, std::to_string(in.width) + "x" + std::to_string(in.height) +
                     " would be resized to " + resized_text(in, config) + " for size " +
                     std::to_string(size) + ", over PIL's limit of 2^31 - 1 per side");
    fail(name, std::string("cannot preprocess: ") + status_message(s));
  }
  return plan;
}

// ---- PNG ----

struct png_closer {
  void operator()(gpsa_png* p) const noexcept { gpsa_png_close(p); }
};

std::string png_source(const gpsa_png_info& info) {
  std::string kind;
  switch (info.color_type) {
    case gpsa_png_gray:
      kind = "grey";
      break;
    case gpsa_png_gray_alpha:
      kind = "grey+alpha";
      break;
    case gpsa_png_rgb:
      kind = "RGB";
      break;
    case gpsa_png_rgba:
      kind = "RGBA";
      break;
    case gpsa_png_palette:
      kind = "palette";
      break;
    default:
      kind = "colour type " + std::to_string(info.color_type);
  }
  return std::to_string(info.bit_depth) + "-bit " + kind + (info.interlaced ? ", interlaced" : "");
}

// One decoded PNG row (as codec.h hands it out) to RGB, with PIL's conversion for its mode.
void png_row_to_rgb(const gpsa_png_info& info, const std::uint8_t* s, std::size_t width,
                    std::uint8_t* d) {
  const bool wide = info.sample_bytes == 2;  // 16-bit grey; other 16-bit samples are cut to 8
  const auto put = [&](std::size_t i, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
    d[3 * i] = r;
    d[3 * i + 1] = g;
    d[3 * i + 2] = b;
  };
  switch (info.color_type) {
    case gpsa_png_gray: {
      // PIL: 1-bit is mode "1" (0 or 255), 2/4-bit unpack scaled ("L;2" x85, "L;4" x17),
      // 16-bit is mode "I" whose convert("RGB") clips at 255.
      const int scale = info.bit_depth == 1   ? 255
                        : info.bit_depth == 2 ? 85
                        : info.bit_depth == 4 ? 17
                                              : 1;
      for (std::size_t i = 0; i < width; ++i) {
        std::uint8_t g;
        if (wide) {
          const unsigned v = (unsigned{s[2 * i]} << 8) | s[2 * i + 1];
          g = static_cast<std::uint8_t>(std::min(v, 255u));
        } else {
          g = static_cast<std::uint8_t>(s[i] * scale);
        }
        put(i, g, g, g);
      }
      break;
    }
    case gpsa_png_gray_alpha: {  // alpha dropped; 16-bit: high byte ("LA;16B")
      const std::size_t step = wide ? 4 : 2;
      for (std::size_t i = 0; i < width; ++i) put(i, s[step * i], s[step * i], s[step * i]);
      break;
    }
    case gpsa_png_rgb:
    case gpsa_png_rgba: {  // alpha dropped; 16-bit: high bytes ("RGB;16B", "RGBA;16B")
      const std::size_t bytes = static_cast<std::size_t>(info.channels) * (wide ? 2 : 1);
      const std::size_t sample = wide ? 2 : 1;
      for (std::size_t i = 0; i < width; ++i) {
        const std::uint8_t* p = s + bytes * i;
        put(i, p[0], p[sample], p[2 * sample]);
      }
      break;
    }
    case gpsa_png_palette: {  // PIL's palette is padded with the grey ramp (i, i, i)
      for (std::size_t i = 0; i < width; ++i) {
        const int k = s[i];
        if (k < info.palette_size)
          put(i, info.palette[3 * k], info.palette[3 * k + 1], info.palette[3 * k + 2]);
        else
          put(i, s[i], s[i], s[i]);
      }
      break;
    }
    default:
      break;  // libpng refuses other colour types in png_read_info
  }
}

rgb8_image decode_png(std::span<const std::uint8_t> bytes, const std::string& name,
                      const timm_data_config* preprocess) {
  gpsa_png_info info{};
  gpsa_png* raw = nullptr;
  char message[GPSA_CODEC_MESSAGE] = {};
  if (const int rc = gpsa_png_open(bytes.data(), bytes.size(), &raw, &info, message))
    codec_failure(name, "PNG", rc, message);
  const std::unique_ptr<gpsa_png, png_closer> png(raw);
  check_pixels(name, "PNG", info.width, info.height);
  if (preprocess != nullptr) (void)plan_or_fail({info.width, info.height}, *preprocess, name);

  rgb8_image img;
  img.width = info.width;
  img.height = info.height;
  img.format = file_format::png;
  img.source = png_source(info);
  const std::size_t row_bytes = img.width * static_cast<std::size_t>(info.channels) *
                                static_cast<std::size_t>(info.sample_bytes);
  resize_or_fail(img.pixels, img.width * img.height * 3, name, "the decoded image");
  if (info.interlaced) {  // Adam7 passes revisit every row: keep the raw image
    std::vector<std::uint8_t> samples;
    resize_or_fail(samples, row_bytes * img.height, name, "the interlaced PNG's samples");
    std::vector<std::uint8_t*> rows(img.height);
    for (std::size_t y = 0; y < img.height; ++y) rows[y] = samples.data() + y * row_bytes;
    if (const int rc = gpsa_png_read_image(png.get(), rows.data(), message))
      codec_failure(name, "PNG", rc, message);
    for (std::size_t y = 0; y < img.height; ++y)
      png_row_to_rgb(info, rows[y], img.width, img.pixels.data() + 3 * img.width * y);
  } else {
    std::vector<std::uint8_t> row;
    resize_or_fail(row, row_bytes, name, "a PNG row");
    std::uint8_t* rp = row.data();
    for (std::size_t y = 0; y < img.height; ++y) {
      if (const int rc = gpsa_png_read_rows(png.get(), &rp, 1, message))
        codec_failure(name, "PNG", rc, message);
      png_row_to_rgb(info, rp, img.width, img.pixels.data() + 3 * img.width * y);
    }
  }
  return img;
}

// ---- JPEG ----

struct jpeg_closer {
  void operator()(gpsa_jpeg* j) const noexcept { gpsa_jpeg_close(j); }
};

// PIL's cmyk2rgb: r = (255 - k) - (c * (255 - k)) / 255, the division rounded PIL's way.
std::uint8_t cmyk_channel(unsigned c, unsigned nk) {
  const unsigned t = c * nk + 128;
  const unsigned q = ((t >> 8) + t) >> 8;
  return static_cast<std::uint8_t>(nk > q ? nk - q : 0);
}

rgb8_image decode_jpeg(std::span<const std::uint8_t> bytes, const std::string& name,
                       const timm_data_config* preprocess) {
  gpsa_jpeg_info info{};
  gpsa_jpeg* raw = nullptr;
  char message[GPSA_CODEC_MESSAGE] = {};
  if (const int rc = gpsa_jpeg_open(bytes.data(), bytes.size(), max_jpeg_memory,
                                    static_cast<int>(max_jpeg_scans), &raw, &info, message))
    codec_failure(name, "JPEG", rc, message);
  const std::unique_ptr<gpsa_jpeg, jpeg_closer> jpeg(raw);
  check_pixels(name, "JPEG", info.width, info.height);
  if (preprocess != nullptr) (void)plan_or_fail({info.width, info.height}, *preprocess, name);

  rgb8_image img;
  img.width = info.width;
  img.height = info.height;
  img.format = file_format::jpeg;
  img.source = info.components == 1 ? "grey" : info.components == 3 ? "colour" : "CMYK";
  const std::size_t comps = static_cast<std::size_t>(info.components);
  // A progressive file's scans are all read by gpsa_jpeg_start (and refused there past
  // max_jpeg_scans): the RGB result is allocated only after that.
  if (const int rc = gpsa_jpeg_start(jpeg.get(), message)) codec_failure(name, "JPEG", rc, message);
  resize_or_fail(img.pixels, img.width * img.height * 3, name, "the decoded image");
  std::vector<std::uint8_t> row;
  if (comps != 3) resize_or_fail(row, img.width * comps, name, "a JPEG row");
  for (std::size_t y = 0; y < img.height; ++y) {
    std::uint8_t* d = img.pixels.data() + 3 * img.width * y;
    if (const int rc = gpsa_jpeg_read_row(jpeg.get(), comps == 3 ? d : row.data(), message))
      codec_failure(name, "JPEG", rc, message);
    if (comps == 1) {
      for (std::size_t i = 0; i < img.width; ++i) d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = row[i];
    } else if (comps == 4) {
      // PIL reads 4-component JPEGs as inverted (Adobe) CMYK ("CMYK;I"), then cmyk2rgb.
      for (std::size_t i = 0; i < img.width; ++i) {
        const std::uint8_t* p = row.data() + 4 * i;
        const unsigned nk = p[3];  // 255 - k with k = 255 - p[3]
        for (std::size_t c = 0; c < 3; ++c) d[3 * i + c] = cmyk_channel(255u - p[c], nk);
      }
    }
  }
  if (const int rc = gpsa_jpeg_finish(jpeg.get(), message))
    codec_failure(name, "JPEG", rc, message);
  return img;
}

}  // namespace

rgb8_image decode(std::span<const std::uint8_t> bytes, const std::string& name,
                  const timm_data_config& preprocess) {
  if (bytes.empty()) fail(name, "empty file, expected a PNG or JPEG image");
  const timm_data_config* pre = preprocess.size != 0 ? &preprocess : nullptr;
  if (is_png(bytes)) return decode_png(bytes, name, pre);
  if (is_jpeg(bytes)) return decode_jpeg(bytes, name, pre);
  refuse_format(bytes, name);
}

rgb8_image decode(std::span<const std::uint8_t> bytes, const std::string& name,
                  std::size_t preprocess_size) {
  timm_data_config c;
  c.size = preprocess_size;
  return decode(bytes, name, c);
}

rgb8_image read(const std::filesystem::path& path, const timm_data_config& preprocess) {
  const std::vector<std::uint8_t> bytes = read_bytes(path);
  return decode(bytes, path.string(), preprocess);
}

rgb8_image read(const std::filesystem::path& path, std::size_t preprocess_size) {
  timm_data_config c;
  c.size = preprocess_size;
  return read(path, c);
}

io::tensor preprocess(const rgb8_image& image, const timm_data_config& config,
                      const std::string& name) {
  const std::size_t size = config.size;
  const image_size in{image.width, image.height};
  std::size_t need = 0;
  if (in.width == 0 || in.height == 0 || !detail::checked_mul(in.width * 3, in.height, need) ||
      image.pixels.size() < need)
    fail(name, "the RGB buffer holds " + std::to_string(image.pixels.size()) +
                   " bytes, fewer than " + std::to_string(image.width) + "x" +
                   std::to_string(image.height) + " pixels need");
  const timm_eval_plan plan = plan_or_fail(in, config, name);
  std::vector<std::byte> scratch;
  resize_or_fail(scratch, plan.scratch_bytes, name, "the resize");
  io::tensor t;
  t.shape = {1, config.channels, size, size};
  resize_or_fail(t.data, plan.output_count, name, "the output tensor");
  if (const status s = timm_eval_preprocess(plan, image.pixels, t.data, scratch); s != status::ok)
    fail(name, std::string("cannot preprocess: ") + status_message(s));
  return t;
}

io::tensor preprocess(const rgb8_image& image, std::size_t size, const std::string& name) {
  timm_data_config c;
  c.size = size;
  return preprocess(image, c, name);
}

io::tensor preprocess_file(const std::filesystem::path& path, std::size_t size) {
  if (size == 0 || size > max_size)
    fail(path.string(), "output size " + std::to_string(size) + " is out of range (1 to " +
                            std::to_string(max_size) + ")");
  return preprocess(read(path, size), size, path.string());
}

}  // namespace gpsa::image
