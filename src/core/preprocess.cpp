// SPDX-License-Identifier: MIT
// timm's evaluation preprocessing (gpsa/preprocess.hpp): Pillow's bicubic resampling in fixed
// point, centre crop and ImageNet normalisation, on caller-owned memory.
#include "gpsa/preprocess.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "gpsa/detail/constexpr_math.hpp"
#include "gpsa/grid.hpp"

namespace gpsa {
namespace {

using detail::mul_overflows;

// PIL keeps image sides in a C int.
constexpr std::size_t max_side = 0x7fffffff;

GPSA_FP_STRICT_BEGIN

// Pillow's cubic convolution kernel (a = -0.5, support 2), in Pillow's operation order so the
// doubles (and the fixed-point weights rounded from them) are the same bits.
double cubic(double x) noexcept {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Pillow's bilinear (triangle) kernel, support 1.
double triangle(double x) noexcept {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

// The resampling geometry of one axis (Pillow's precompute_coeffs, box = the whole image).
struct axis {
  std::size_t in_size = 0;
  resample filter = resample::bicubic;
  double scale = 0;    // input samples per output sample
  double support = 0;  // kernel half-width in input samples: the filter's support * max(1, scale)
  double ss = 0;       // 1 / max(1, scale): input distance -> kernel argument
  std::size_t taps = 0;
};

double kernel(const axis& a, double x) noexcept {
  return a.filter == resample::bilinear ? triangle(x) : cubic(x);
}

status make_axis(std::size_t in_size, std::size_t out_size, resample filter, axis& a) noexcept {
  if (in_size == 0 || out_size == 0) return status::invalid_argument;
  if (filter != resample::bicubic && filter != resample::bilinear) return status::invalid_argument;
  if (in_size > max_side || out_size > max_side) return status::size_overflow;
  a.in_size = in_size;
  a.filter = filter;
  // PIL passes the box (0, 0, w, h) as C floats: in1 - in0 is a float subtraction.
  const float in1 = static_cast<float>(in_size), in0 = 0.0f;
  a.scale = static_cast<double>(in1 - in0) / static_cast<double>(out_size);
  const double filterscale = a.scale < 1.0 ? 1.0 : a.scale;
  a.support = (filter == resample::bilinear ? 1.0 : 2.0) * filterscale;
  a.ss = 1.0 / filterscale;
  const double half = std::ceil(a.support);
  if (half > static_cast<double>(max_side)) return status::size_overflow;
  a.taps = static_cast<std::size_t>(half) * 2 + 1;
  return status::ok;
}

double center_of(const axis& a, std::size_t out_index) noexcept {
  return 0.0 + (static_cast<double>(out_index) + 0.5) * a.scale;
}

// Inputs [first, first + count) that output `out_index` reads (Pillow rounds both ends with
// (int)(v + 0.5), a truncation toward zero, then clamps them to the image).
void bounds_of(const axis& a, std::size_t out_index, std::size_t& first,
               std::size_t& count) noexcept {
  const double center = center_of(a, out_index);
  const double lo = center - a.support + 0.5;
  const double hi = center + a.support + 0.5;
  first = lo <= 0.0 ? 0 : static_cast<std::size_t>(lo);
  const std::size_t last =
      hi >= static_cast<double>(a.in_size) ? a.in_size : static_cast<std::size_t>(hi);
  count = last - first;
}

// Fixed-point weights of one output sample into w[0, taps). The normalising sum is taken in a
// first pass and each weight recomputed in the second (the same doubles), so no double buffer.
void weights_of(const axis& a, std::size_t out_index, std::int32_t* w, std::size_t& first,
                std::size_t& count) noexcept {
  bounds_of(a, out_index, first, count);
  const double center = center_of(a, out_index);
  const auto raw = [&](std::size_t x) {
    return kernel(a, (static_cast<double>(x + first) - center + 0.5) * a.ss);
  };
  double ww = 0.0;
  for (std::size_t x = 0; x < count; ++x) ww += raw(x);
  constexpr double one = static_cast<double>(1 << bicubic_precision_bits);
  for (std::size_t x = 0; x < count; ++x) {
    double k = raw(x);
    if (ww != 0.0) k /= ww;
    w[x] = k < 0 ? static_cast<std::int32_t>(-0.5 + k * one)
                 : static_cast<std::int32_t>(0.5 + k * one);
  }
  for (std::size_t x = count; x < a.taps; ++x) w[x] = 0;
}

GPSA_FP_STRICT_END

// Rounds a 22-bit fixed-point sum (which started at 1/2) down and clips it to a byte.
// The sums fit int32: |weights| add up to at most ~1.25 (the cubic's negative lobes), so
// |sum| <= 255 * 1.25 * 2^22 + 2^21 < 2^31 (Pillow relies on the same bound).
inline std::uint8_t clip8(std::int32_t v) noexcept {
  const std::int32_t q = v >> bicubic_precision_bits;  // arithmetic shift: floor
  return static_cast<std::uint8_t>(q < 0 ? 0 : q > 255 ? 255 : q);
}

// Coefficients of the outputs [start, start + n) of one axis, as laid out in scratch.
struct coeffs {
  std::uint32_t* first = nullptr;
  std::uint32_t* count = nullptr;
  std::int32_t* w = nullptr;  // n x taps
  std::size_t taps = 0;
};

// Element counts of one axis' coefficient block (first, count, n x taps weights), in 4-byte units.
status coeff_words(const axis& a, std::size_t n, std::size_t& words) noexcept {
  std::size_t w = 0;
  if (mul_overflows(n, a.taps, w) || w > static_cast<std::size_t>(-1) / 4 - 2 * n)
    return status::size_overflow;
  words = w + 2 * n;
  return status::ok;
}

void fill_coeffs(const axis& a, std::size_t start, std::size_t n, const coeffs& c) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t first = 0, count = 0;
    weights_of(a, start + i, c.w + i * c.taps, first, count);
    c.first[i] = static_cast<std::uint32_t>(first);
    c.count[i] = static_cast<std::uint32_t>(count);
  }
}

// Everything resize_image8 needs to know before touching pixels.
struct resize_plan {
  std::size_t ch = 3;  // interleaved channels: 3 (RGB) or 1 (L)
  axis ax, ay;
  bool horizontal = false, vertical = false;  // Pillow skips a pass whose size is unchanged
  std::size_t row0 = 0, row1 = 0;             // source rows the window needs
  std::size_t x_words = 0, y_words = 0;       // coefficient blocks, 4-byte units
  std::size_t tmp_bytes = 0;                  // horizontal pass output
  std::size_t bytes = 0;                      // total scratch, alignment slack included
};

status make_resize_plan(image_size in, image_size out, pixel_window win, resample filter,
                        std::size_t ch, resize_plan& p) noexcept {
  if (win.width == 0 || win.height == 0 || (ch != 1 && ch != 3)) return status::invalid_argument;
  p.ch = ch;
  if (win.left > out.width || win.width > out.width - win.left || win.top > out.height ||
      win.height > out.height - win.top)
    return status::invalid_argument;
  if (status s = make_axis(in.width, out.width, filter, p.ax); s != status::ok) return s;
  if (status s = make_axis(in.height, out.height, filter, p.ay); s != status::ok) return s;
  p.horizontal = in.width != out.width;
  p.vertical = in.height != out.height;
  if (p.vertical) {
    std::size_t f0 = 0, c0 = 0, f1 = 0, c1 = 0;  // bounds are monotonic in the output index
    bounds_of(p.ay, win.top, f0, c0);
    bounds_of(p.ay, win.top + win.height - 1, f1, c1);
    p.row0 = f0;
    p.row1 = f1 + c1;
  } else {
    p.row0 = win.top;
    p.row1 = win.top + win.height;
  }
  if (status s = coeff_words(p.ax, p.horizontal ? win.width : 0, p.x_words); s != status::ok)
    return s;
  if (status s = coeff_words(p.ay, p.vertical ? win.height : 0, p.y_words); s != status::ok)
    return s;
  std::size_t row = 0, tmp = 0;
  if (p.horizontal && p.vertical) {
    if (mul_overflows(win.width, ch, row) || mul_overflows(row, p.row1 - p.row0, tmp))
      return status::size_overflow;
  }
  p.tmp_bytes = tmp;
  const std::size_t words = p.x_words + p.y_words;  // each < SIZE_MAX / 4
  if (words > static_cast<std::size_t>(-1) / 4 - alignof(std::int32_t) ||
      tmp > static_cast<std::size_t>(-1) - 4 * words - alignof(std::int32_t))
    return status::size_overflow;
  p.bytes = 4 * words + tmp + (alignof(std::int32_t) - 1);
  return status::ok;
}

// Carves the coefficient blocks and the intermediate image out of scratch.
std::byte* align4(std::byte* p) noexcept {
  const auto v = reinterpret_cast<std::uintptr_t>(p);
  return p + ((alignof(std::int32_t) - v % alignof(std::int32_t)) % alignof(std::int32_t));
}

coeffs carve(std::byte*& at, std::size_t n, std::size_t taps) noexcept {
  coeffs c;
  c.taps = taps;
  c.first = reinterpret_cast<std::uint32_t*>(at);
  c.count = c.first + n;
  c.w = reinterpret_cast<std::int32_t*>(c.count + n);
  at = reinterpret_cast<std::byte*>(c.w + n * taps);
  return c;
}

// out[r][j] = sum_t in[r][first_j + t] * w_j[t] for rows r of `rows`, `ch` channels (3 or 1).
void horizontal_pass(const std::uint8_t* in, std::size_t in_stride, std::size_t rows,
                     const coeffs& c, std::size_t n, std::size_t ch, std::uint8_t* out,
                     std::size_t out_stride) noexcept {
  for (std::size_t r = 0; r < rows; ++r) {
    const std::uint8_t* src = in + r * in_stride;
    std::uint8_t* dst = out + r * out_stride;
    for (std::size_t j = 0; j < n; ++j) {
      const std::int32_t* k = c.w + j * c.taps;
      for (std::size_t q = 0; q < ch; ++q) {
        const std::uint8_t* s = src + ch * static_cast<std::size_t>(c.first[j]) + q;
        std::int32_t acc = 1 << (bicubic_precision_bits - 1);
        for (std::size_t t = 0, m = c.count[j]; t < m; ++t, s += ch) acc += s[0] * k[t];
        dst[ch * j + q] = clip8(acc);
      }
    }
  }
}

// out[i][x] = sum_t in[first_i - row0 + t][x] * w_i[t], for `values` bytes per row.
void vertical_pass(const std::uint8_t* in, std::size_t in_stride, std::size_t row0, const coeffs& c,
                   std::size_t n, std::size_t values, std::uint8_t* out,
                   std::size_t out_stride) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    const std::int32_t* k = c.w + i * c.taps;
    const std::uint8_t* base = in + (c.first[i] - row0) * in_stride;
    const std::size_t m = c.count[i];
    std::uint8_t* dst = out + i * out_stride;
    for (std::size_t v = 0; v < values; ++v) {
      std::int32_t s = 1 << (bicubic_precision_bits - 1);
      for (std::size_t t = 0; t < m; ++t) s += base[t * in_stride + v] * k[t];
      dst[v] = clip8(s);
    }
  }
}

// Python's round(d / 2) for an integer d >= 0: halves go to the even neighbour.
std::size_t half_round_even(std::size_t d) noexcept {
  const std::size_t q = d / 2;
  return (d % 2 == 0) ? q : q + (q & 1);
}

}  // namespace

status bicubic_max_taps(std::size_t in_size, std::size_t out_size, std::size_t& taps) noexcept {
  axis a;
  if (status s = make_axis(in_size, out_size, resample::bicubic, a); s != status::ok) return s;
  taps = a.taps;
  return status::ok;
}

status bicubic_weights(std::size_t in_size, std::size_t out_size, std::size_t out_index,
                       std::span<std::int32_t> weights, std::size_t& first,
                       std::size_t& count) noexcept {
  axis a;
  if (status s = make_axis(in_size, out_size, resample::bicubic, a); s != status::ok) return s;
  if (out_index >= out_size) return status::invalid_argument;
  if (weights.data() == nullptr || weights.size() < a.taps) return status::buffer_too_small;
  weights_of(a, out_index, weights.data(), first, count);
  return status::ok;
}

status resize_scratch(image_size in, image_size out, pixel_window window, resample filter,
                      std::size_t channels, std::size_t& bytes) noexcept {
  resize_plan p;
  if (status s = make_resize_plan(in, out, window, filter, channels, p); s != status::ok) return s;
  bytes = p.bytes;
  return status::ok;
}

status resize_image8(std::span<const std::uint8_t> src, image_size in, image_size out,
                     pixel_window win, resample filter, std::size_t channels,
                     std::span<std::byte> scratch, std::span<std::uint8_t> dst) noexcept {
  resize_plan p;
  if (status s = make_resize_plan(in, out, win, filter, channels, p); s != status::ok) return s;
  const std::size_t ch = p.ch;
  std::size_t in_stride = 0, src_bytes = 0, out_stride = 0, dst_bytes = 0;
  if (mul_overflows(in.width, ch, in_stride) || mul_overflows(in_stride, in.height, src_bytes) ||
      mul_overflows(win.width, ch, out_stride) || mul_overflows(out_stride, win.height, dst_bytes))
    return status::size_overflow;
  if (src.data() == nullptr || dst.data() == nullptr) return status::invalid_argument;
  if (src.size() < src_bytes || dst.size() < dst_bytes) return status::buffer_too_small;
  if (scratch.size() < p.bytes || (p.bytes != 0 && scratch.data() == nullptr))
    return status::buffer_too_small;

  std::byte* at = align4(scratch.data());
  const coeffs cx = carve(at, p.horizontal ? win.width : 0, p.ax.taps);
  const coeffs cy = carve(at, p.vertical ? win.height : 0, p.ay.taps);
  auto* tmp = reinterpret_cast<std::uint8_t*>(at);
  if (p.horizontal) fill_coeffs(p.ax, win.left, win.width, cx);
  if (p.vertical) fill_coeffs(p.ay, win.top, win.height, cy);

  const std::uint8_t* rows = src.data() + p.row0 * in_stride;
  if (p.horizontal && p.vertical) {
    horizontal_pass(rows, in_stride, p.row1 - p.row0, cx, win.width, ch, tmp, out_stride);
    vertical_pass(tmp, out_stride, p.row0, cy, win.height, out_stride, dst.data(), out_stride);
  } else if (p.horizontal) {  // rows row0.. are exactly the window's rows
    horizontal_pass(rows, in_stride, win.height, cx, win.width, ch, dst.data(), out_stride);
  } else if (p.vertical) {
    vertical_pass(rows + ch * win.left, in_stride, p.row0, cy, win.height, out_stride, dst.data(),
                  out_stride);
  } else {
    for (std::size_t r = 0; r < win.height; ++r)
      std::memcpy(dst.data() + r * out_stride, rows + r * in_stride + ch * win.left, out_stride);
  }
  return status::ok;
}

status bicubic_resize_scratch(image_size in, image_size out, pixel_window window,
                              std::size_t& bytes) noexcept {
  return resize_scratch(in, out, window, resample::bicubic, 3, bytes);
}

status bicubic_resize_rgb8(std::span<const std::uint8_t> src, image_size in, image_size out,
                           pixel_window win, std::span<std::byte> scratch,
                           std::span<std::uint8_t> dst) noexcept {
  return resize_image8(src, in, out, win, resample::bicubic, 3, scratch, dst);
}

status validate(const timm_data_config& c) noexcept {
  if (c.channels != 1 && c.channels != 3) return status::invalid_argument;
  if (c.size == 0 || !(c.crop_pct > 0.0 && c.crop_pct <= 1.0)) return status::invalid_argument;
  if (c.interpolation != resample::bicubic && c.interpolation != resample::bilinear)
    return status::invalid_argument;
  for (std::size_t i = 0; i < c.channels; ++i)
    if (!(c.std[i] > 0.0f && c.std[i] <= 3.4028235e38f) ||
        !(c.mean[i] >= -3.4028235e38f && c.mean[i] <= 3.4028235e38f))
      return status::invalid_argument;
  return status::ok;
}

status plan_timm_eval(image_size input, const timm_data_config& config,
                      timm_eval_plan& plan) noexcept {
  if (status s = validate(config); s != status::ok) return s;
  const std::size_t size = config.size;
  if (input.width == 0 || input.height == 0) return status::invalid_argument;
  if (size > max_side || input.width > max_side || input.height > max_side)
    return status::size_overflow;
  // timm: floor(S / crop_pct) in double (Python's math.floor(img_size / crop_pct)). For the
  // default 0.875 it is floor(8 S / 7) exactly: the double quotient is exact when 7 divides S,
  // and otherwise >= 1/7 away from an integer.
  const double scale = std::floor(static_cast<double>(size) / config.crop_pct);
  if (!(scale <= static_cast<double>(max_side))) return status::size_overflow;
  const auto s = static_cast<std::uint64_t>(scale);
  const bool wide = input.width > input.height;
  const std::uint64_t shorter = wide ? input.height : input.width;
  const std::uint64_t longer = wide ? input.width : input.height;
  // torchvision: int(s * long / short). The double quotient truncates like the exact one here
  // (s * long < 2^53, so its rounding error is below the 1/short gap to the next integer).
  const std::uint64_t scaled = s * longer / shorter;  // s < 2^32 and long < 2^31: no overflow
  if (s > max_side || scaled > max_side) return status::size_overflow;
  timm_eval_plan p;
  p.input = input;
  p.size = size;
  p.config = config;
  p.resized = wide ? image_size{static_cast<std::size_t>(scaled), static_cast<std::size_t>(s)}
                   : image_size{static_cast<std::size_t>(s), static_cast<std::size_t>(scaled)};
  // crop_pct <= 1: s >= S and the other side >= s, so the crop always fits (no padding case).
  p.crop = pixel_window{half_round_even(p.resized.width - size),
                        half_round_even(p.resized.height - size), size, size};
  const std::size_t ch = config.channels;
  std::size_t resize_bytes = 0, pixels = 0, crop_bytes = 0, grey_bytes = 0, out_count = 0;
  if (status st = resize_scratch(input, p.resized, p.crop, config.interpolation, ch, resize_bytes);
      st != status::ok)
    return st;
  if (mul_overflows(size, size, pixels) || mul_overflows(pixels, ch, crop_bytes) ||
      mul_overflows(pixels, ch, out_count) ||
      (ch == 1 && mul_overflows(input.width, input.height, grey_bytes)) ||
      resize_bytes > static_cast<std::size_t>(-1) - crop_bytes ||
      resize_bytes + crop_bytes > static_cast<std::size_t>(-1) - grey_bytes)
    return status::size_overflow;
  p.scratch_bytes = resize_bytes + crop_bytes + grey_bytes;
  p.output_count = out_count;
  plan = p;
  return status::ok;
}

status plan_timm_eval(image_size input, std::size_t size, timm_eval_plan& plan) noexcept {
  if (size == 0) return status::invalid_argument;
  timm_data_config c;
  c.size = size;
  return plan_timm_eval(input, c, plan);
}

status timm_eval_rgb8(const timm_eval_plan& plan, std::span<const std::uint8_t> rgb,
                      std::span<std::byte> scratch, std::span<std::uint8_t> dst) noexcept {
  if (plan.config.channels != 3) return status::invalid_argument;
  return resize_image8(rgb, plan.input, plan.resized, plan.crop, plan.config.interpolation, 3,
                       scratch, dst);
}

GPSA_FP_STRICT_BEGIN

namespace {

// ToTensor + Normalize of `count` pixels of `ch` interleaved channels: planar (ch, count).
void normalize(const std::uint8_t* px, std::size_t count, std::size_t ch, const float* mean,
               const float* sd, float* out) noexcept {
  for (std::size_t c = 0; c < ch; ++c) {
    float* o = out + c * count;
    for (std::size_t i = 0; i < count; ++i)
      o[i] = (static_cast<float>(px[ch * i + c]) / 255.0f - mean[c]) / sd[c];
  }
}

}  // namespace

status normalize_imagenet(std::span<const std::uint8_t> rgb, std::size_t count,
                          std::span<float> out) noexcept {
  std::size_t values = 0;
  if (mul_overflows(count, 3, values)) return status::size_overflow;
  if ((values != 0 && (rgb.data() == nullptr || out.data() == nullptr)))
    return status::invalid_argument;
  if (rgb.size() < values || out.size() < values) return status::buffer_too_small;
  normalize(rgb.data(), count, 3, imagenet_mean, imagenet_std, out.data());
  return status::ok;
}

GPSA_FP_STRICT_END

status rgb8_to_l8(std::span<const std::uint8_t> rgb, std::size_t count,
                  std::span<std::uint8_t> grey) noexcept {
  std::size_t values = 0;
  if (mul_overflows(count, 3, values)) return status::size_overflow;
  if (values != 0 && (rgb.data() == nullptr || grey.data() == nullptr))
    return status::invalid_argument;
  if (rgb.size() < values || grey.size() < count) return status::buffer_too_small;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint32_t l = rgb[3 * i] * 19595u + rgb[3 * i + 1] * 38470u + rgb[3 * i + 2] * 7471u +
                            0x8000u;  // Pillow's L24
    grey[i] = static_cast<std::uint8_t>(l >> 16);
  }
  return status::ok;
}

status timm_eval_preprocess(const timm_eval_plan& plan, std::span<const std::uint8_t> rgb,
                            std::span<std::byte> scratch, std::span<float> out) noexcept {
  if (plan.size == 0 || plan.output_count == 0) return status::invalid_argument;
  if (scratch.size() < plan.scratch_bytes || scratch.data() == nullptr)
    return status::buffer_too_small;
  if (out.data() == nullptr) return status::invalid_argument;
  if (out.size() < plan.output_count) return status::buffer_too_small;
  const std::size_t ch = plan.config.channels;
  std::size_t pixels = 0, rgb_bytes = 0;
  if (mul_overflows(plan.input.width, plan.input.height, pixels) ||
      mul_overflows(pixels, 3, rgb_bytes))
    return status::size_overflow;
  if (rgb.data() == nullptr) return status::invalid_argument;
  if (rgb.size() < rgb_bytes) return status::buffer_too_small;
  // Scratch: [resize work | the 8-bit crop (ch * S * S) | the grey image (ch == 1: w * h)].
  const std::size_t crop_bytes = plan.output_count;
  const std::size_t grey_bytes = ch == 1 ? pixels : 0;
  const std::size_t resize_bytes = plan.scratch_bytes - crop_bytes - grey_bytes;
  auto* crop = reinterpret_cast<std::uint8_t*>(scratch.data() + resize_bytes);
  std::span<const std::uint8_t> src = rgb;
  if (ch == 1) {
    auto* grey = crop + crop_bytes;
    if (status s = rgb8_to_l8(rgb, pixels, {grey, grey_bytes}); s != status::ok) return s;
    src = {grey, grey_bytes};
  }
  if (status s = resize_image8(src, plan.input, plan.resized, plan.crop, plan.config.interpolation,
                               ch, scratch.first(resize_bytes), {crop, crop_bytes});
      s != status::ok)
    return s;
  normalize(crop, plan.size * plan.size, ch, plan.config.mean, plan.config.std, out.data());
  return status::ok;
}

}  // namespace gpsa
