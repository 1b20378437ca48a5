// SPDX-License-Identifier: MIT
// gpsa/core/preprocess.hpp on its own: the bicubic weights and resize against a float64 evaluation
// of the kernel formula written here, timm's geometry against its formulas, the normalisation, and
// the status codes. No files, no PIL (the PIL comparisons are in golden_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gpsa/core/preprocess.hpp"

namespace {

// Keys' cubic convolution kernel, a = -0.5, in its textbook polynomial form (not Pillow's nesting).
double keys(double x) {
  const double a = -0.5, t = std::fabs(x);
  if (t < 1) return (a + 2) * t * t * t - (a + 3) * t * t + 1;
  if (t < 2) return a * t * t * t - 5 * a * t * t + 8 * a * t - 4 * a;
  return 0;
}

// The float64 weights of output i of an n_in -> n_out resize over every input j: the kernel,
// widened by the ratio when downscaling, centred on the output's centre in input coordinates,
// normalised to sum 1 over the inputs inside the image.
std::vector<double> reference_weights(std::size_t n_in, std::size_t n_out, std::size_t i) {
  const double ratio = double(n_in) / double(n_out), widen = std::max(1.0, ratio);
  const double center = (double(i) + 0.5) * ratio;
  std::vector<double> w(n_in);
  double sum = 0;
  for (std::size_t j = 0; j < n_in; ++j) sum += w[j] = keys((double(j) + 0.5 - center) / widen);
  for (double& v : w) v /= sum;
  return w;
}

struct resize_case {
  std::size_t n_in, n_out;
};

const std::vector<resize_case> kRatios = {
    {320, 341}, {240, 256}, {7, 36},   {1, 5},    {5, 1},     {100, 100}, {100, 50},
    {100, 33},  {341, 256}, {640, 73}, {1000, 3}, {37, 53},   {2, 3},     {3, 2},
    {255, 256}, {257, 256}, {13, 400}, {400, 13}, {4096, 73}, {73, 4681}, {9, 9}};

TEST(BicubicWeights, MatchTheKernelFormulaInFloat64) {
  constexpr double one = double(1 << gpsa::bicubic_precision_bits);
  for (const auto [n_in, n_out] : kRatios) {
    SCOPED_TRACE(std::to_string(n_in) + " -> " + std::to_string(n_out));
    std::size_t taps = 0;
    ASSERT_EQ(gpsa::bicubic_max_taps(n_in, n_out, taps), gpsa::status::ok);
    const double widen = std::max(1.0, double(n_in) / double(n_out));
    EXPECT_EQ(taps, 2 * std::size_t(std::ceil(2 * widen)) + 1);
    std::vector<std::int32_t> w(taps);
    for (std::size_t i = 0; i < n_out; ++i) {
      std::size_t first = 99, count = 99;
      ASSERT_EQ(gpsa::bicubic_weights(n_in, n_out, i, w, first, count), gpsa::status::ok);
      ASSERT_LE(first + count, n_in);
      ASSERT_LE(count, taps);
      const std::vector<double> ref = reference_weights(n_in, n_out, i);
      std::int64_t sum = 0;
      for (std::size_t j = 0; j < n_in; ++j) {
        const bool inside = j >= first && j < first + count;
        const double got = inside ? w[j - first] : 0.0;
        // Rounded to 22 bits from a double that may differ in the last bits from ours: 1 unit.
        ASSERT_LE(std::fabs(got - ref[j] * one), 1.0) << "i " << i << " j " << j;
        sum += inside ? w[j - first] : 0;
      }
      for (std::size_t t = count; t < taps; ++t) EXPECT_EQ(w[t], 0);
      // Normalised: the weights add up to 1 within the rounding of each.
      EXPECT_LE(std::llabs(sum - std::int64_t(one)), std::int64_t(count));
    }
  }
}

TEST(BicubicWeights, KnownValues) {
  // Upscaling by 2: output centres fall a quarter pixel off the inputs, where the kernel takes
  // the dyadic values -0.0703125, 0.8671875, 0.2265625, -0.0234375 (exact in 22 bits).
  std::vector<std::int32_t> w(5);
  std::size_t first = 0, count = 0;
  ASSERT_EQ(gpsa::bicubic_weights(8, 16, 5, w, first, count), gpsa::status::ok);
  // output 5: centre 2.75 in input coordinates, inputs 1..4 at distances 1.25, 0.25, 0.75, 1.75
  ASSERT_EQ(first, 1u);
  ASSERT_EQ(count, 4u);
  const double expect[4] = {keys(1.25), keys(0.25), keys(0.75), keys(1.75)};
  EXPECT_DOUBLE_EQ(expect[0] + expect[1] + expect[2] + expect[3], 1.0);
  for (int t = 0; t < 4; ++t) EXPECT_EQ(w[t], std::lround(expect[t] * (1 << 22))) << t;
  // Same size: the identity (weight exactly 1 on the input itself).
  ASSERT_EQ(gpsa::bicubic_weights(9, 9, 4, w, first, count), gpsa::status::ok);
  for (std::size_t t = 0; t < count; ++t) EXPECT_EQ(w[t], first + t == 4 ? (1 << 22) : 0) << t;
}

// The separable resize in float64 with the reference weights, each pass rounded half up and
// clipped to 8 bits (what Pillow's fixed point computes up to the last bit of the weights).
std::vector<std::uint8_t> reference_resize(const std::vector<std::uint8_t>& src, std::size_t w,
                                           std::size_t h, std::size_t ow, std::size_t oh) {
  const auto to8 = [](double v) {
    return std::uint8_t(std::clamp(std::floor(v + 0.5), 0.0, 255.0));
  };
  std::vector<std::uint8_t> tmp(ow * h * 3), out(ow * oh * 3);
  if (ow == w) {
    tmp = src;
  } else {
    for (std::size_t x = 0; x < ow; ++x) {
      const auto k = reference_weights(w, ow, x);
      for (std::size_t y = 0; y < h; ++y)
        for (std::size_t c = 0; c < 3; ++c) {
          double s = 0;
          for (std::size_t j = 0; j < w; ++j) s += k[j] * src[(y * w + j) * 3 + c];
          tmp[(y * ow + x) * 3 + c] = to8(s);
        }
    }
  }
  if (oh == h) return tmp;
  for (std::size_t y = 0; y < oh; ++y) {
    const auto k = reference_weights(h, oh, y);
    for (std::size_t x = 0; x < ow; ++x)
      for (std::size_t c = 0; c < 3; ++c) {
        double s = 0;
        for (std::size_t j = 0; j < h; ++j) s += k[j] * tmp[(j * ow + x) * 3 + c];
        out[(y * ow + x) * 3 + c] = to8(s);
      }
  }
  return out;
}

std::vector<std::uint8_t> random_image(std::size_t w, std::size_t h, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(w * h * 3);
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x)
      for (std::size_t c = 0; c < 3; ++c) {  // smooth ramps, hard edges (overshoot) and noise
        const double base = (x * 7 + y * 3 + c * 50) % 256;
        const bool edge = ((x / 4 + y / 3 + c) % 5) == 0;
        v[(y * w + x) * 3 + c] = std::uint8_t(
            edge ? (c % 2 ? 0 : 255) : std::clamp(base + double(rng() % 31) - 15, 0.0, 255.0));
      }
  return v;
}

std::vector<std::uint8_t> resize(const std::vector<std::uint8_t>& src, gpsa::image_size in,
                                 gpsa::image_size out, gpsa::pixel_window win) {
  std::size_t bytes = 0;
  EXPECT_EQ(gpsa::bicubic_resize_scratch_size(in, out, win, bytes), gpsa::status::ok);
  std::vector<std::byte> scratch(bytes);
  std::vector<std::uint8_t> dst(win.width * win.height * 3);
  EXPECT_EQ(gpsa::bicubic_resize_rgb8(in, out, win, src, dst, scratch), gpsa::status::ok);
  return dst;
}

TEST(BicubicResize, MatchesTheFloat64SeparableResize) {
  const std::vector<std::array<std::size_t, 4>> cases = {
      {40, 30, 45, 34}, {30, 40, 21, 28}, {64, 48, 17, 13}, {9, 7, 36, 28},   {1, 1, 5, 4},
      {50, 3, 50, 12},  {3, 50, 12, 50},  {33, 33, 33, 33}, {120, 90, 73, 54}};
  for (const auto& [w, h, ow, oh] : cases) {
    SCOPED_TRACE(std::to_string(w) + "x" + std::to_string(h) + " -> " + std::to_string(ow) + "x" +
                 std::to_string(oh));
    const auto src = random_image(w, h, unsigned(w * 31 + h));
    const auto ref = reference_resize(src, w, h, ow, oh);
    const auto got = resize(src, {w, h}, {ow, oh}, {0, 0, ow, oh});
    ASSERT_EQ(got.size(), ref.size());
    std::size_t off_by_one = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      const int d = std::abs(int(got[i]) - int(ref[i]));
      ASSERT_LE(d, 1) << "value " << i;
      off_by_one += d != 0;
    }
    // The fixed point differs from float64 only where a pass lands within ~2^-22 of a half.
    EXPECT_LE(off_by_one, got.size() / 100 + 1) << off_by_one << " of " << got.size();
    std::printf("[bicubic] %zux%zu -> %zux%zu: %zu of %zu values differ by 1 from float64\n", w, h,
                ow, oh, off_by_one, got.size());
  }
}

TEST(BicubicResize, ConstantStaysConstantAndSameSizeIsACopy) {
  for (const std::uint8_t v : {0, 1, 77, 254, 255}) {
    std::vector<std::uint8_t> src(23 * 17 * 3, v);
    const auto got = resize(src, {23, 17}, {64, 5}, {0, 0, 64, 5});
    EXPECT_TRUE(std::all_of(got.begin(), got.end(), [&](std::uint8_t x) { return x == v; }));
  }
  const auto src = random_image(19, 11, 3);
  EXPECT_EQ(resize(src, {19, 11}, {19, 11}, {0, 0, 19, 11}), src);
}

TEST(BicubicResize, AWindowIsThatPartOfTheFullResize) {
  const auto src = random_image(97, 61, 5);
  for (const auto& [ow, oh] : std::vector<std::pair<std::size_t, std::size_t>>{
           {40, 25}, {97, 30}, {40, 61}, {150, 99}, {97, 61}}) {
    const auto full = resize(src, {97, 61}, {ow, oh}, {0, 0, ow, oh});
    for (const gpsa::pixel_window win :
         {gpsa::pixel_window{0, 0, 1, 1}, gpsa::pixel_window{ow / 3, oh / 4, ow / 2, oh / 2},
          gpsa::pixel_window{ow - 1, oh - 1, 1, 1}, gpsa::pixel_window{0, oh / 2, ow, 1}}) {
      const auto part = resize(src, {97, 61}, {ow, oh}, win);
      for (std::size_t y = 0; y < win.height; ++y)
        for (std::size_t x = 0; x < win.width * 3; ++x)
          ASSERT_EQ(part[y * win.width * 3 + x], full[((win.top + y) * ow + win.left) * 3 + x])
              << ow << "x" << oh << " window at " << win.left << "," << win.top;
    }
  }
}

TEST(BicubicResize, RefusesBadArguments) {
  std::vector<std::uint8_t> src(4 * 4 * 3), dst(4 * 4 * 3);
  std::vector<std::byte> scratch(1 << 16);
  std::size_t bytes = 0;
  using gpsa::status;
  EXPECT_EQ(gpsa::bicubic_resize_scratch_size({0, 4}, {4, 4}, {0, 0, 4, 4}, bytes),
            status::invalid_argument);
  EXPECT_EQ(gpsa::bicubic_resize_scratch_size({4, 4}, {4, 4}, {0, 0, 0, 4}, bytes),
            status::invalid_argument);
  EXPECT_EQ(gpsa::bicubic_resize_scratch_size({4, 4}, {4, 4}, {1, 0, 4, 4}, bytes),
            status::invalid_argument);  // window beyond the image
  EXPECT_EQ(
      gpsa::bicubic_resize_scratch_size({4, 4}, {std::size_t{1} << 31, 4}, {0, 0, 4, 4}, bytes),
      status::size_overflow);  // PIL's int sides
  EXPECT_EQ(gpsa::bicubic_resize_rgb8({4, 4}, {8, 8}, {0, 0, 4, 4}, std::span(src).first(47), dst,
                                      scratch),
            status::buffer_too_small);
  EXPECT_EQ(gpsa::bicubic_resize_rgb8({4, 4}, {8, 8}, {0, 0, 4, 5}, src, dst, scratch),
            status::buffer_too_small);  // dst holds 4x4
  EXPECT_EQ(gpsa::bicubic_resize_rgb8({4, 4}, {8, 8}, {0, 0, 4, 4}, src, dst, {}),
            status::buffer_too_small);
  std::vector<std::int32_t> w(3);
  std::size_t first = 0, count = 0;
  EXPECT_EQ(gpsa::bicubic_weights(10, 5, 0, w, first, count), status::buffer_too_small);
  std::vector<std::int32_t> w9(9);
  EXPECT_EQ(gpsa::bicubic_weights(10, 5, 5, w9, first, count), status::invalid_argument);
}

// torchvision's Resize(int) and CenterCrop, written from their documented formulas: shorter
// side s = int(S / 0.875), longer int(s * long / short), crop offsets round((side - S) / 2)
// with Python's round (ties to even; std::nearbyint under the default rounding mode).
TEST(TimmEvalPlan, GeometryFollowsTorchvision) {
  ASSERT_EQ(std::fegetround(), FE_TONEAREST);
  for (const auto& [w, h] : std::vector<std::pair<std::size_t, std::size_t>>{{320, 240},
                                                                             {240, 320},
                                                                             {200, 240},
                                                                             {1, 1},
                                                                             {13, 400},
                                                                             {4000, 3000},
                                                                             {256, 256},
                                                                             {257, 256},
                                                                             {1000, 7},
                                                                             {299, 299}}) {
    for (const std::size_t S : {1, 7, 32, 64, 224, 384, 4096}) {
      gpsa::timm_eval_plan p;
      ASSERT_EQ(gpsa::plan_timm_eval({w, h}, S, p), gpsa::status::ok) << w << "x" << h;
      const auto s = std::size_t(double(S) / 0.875);
      const std::size_t shorter = std::min(w, h), longer = std::max(w, h);
      const auto l = std::size_t(double(s) * double(longer) / double(shorter));
      const std::size_t ew = w <= h ? s : l, eh = w <= h ? l : s;
      EXPECT_EQ(p.resized.width, ew) << w << "x" << h << " S " << S;
      EXPECT_EQ(p.resized.height, eh) << w << "x" << h << " S " << S;
      EXPECT_EQ(p.crop.left, std::size_t(std::nearbyint(double(ew - S) / 2.0)));
      EXPECT_EQ(p.crop.top, std::size_t(std::nearbyint(double(eh - S) / 2.0)));
      EXPECT_EQ(p.crop.width, S);
      EXPECT_EQ(p.crop.height, S);
      EXPECT_EQ(p.output_count, 3 * S * S);
    }
  }
  gpsa::timm_eval_plan p;
  ASSERT_EQ(gpsa::plan_timm_eval({320, 240}, 224, p), gpsa::status::ok);
  EXPECT_EQ(p.resized.width, 341u);  // 256 * 320 / 240 = 341.33
  EXPECT_EQ(p.crop.left, 58u);       // round(58.5) = 58: ties go to even
  ASSERT_EQ(gpsa::plan_timm_eval({200, 241}, 224, p), gpsa::status::ok);
  EXPECT_EQ(p.resized.height, 308u);  // 256 * 241 / 200 = 308.48
  EXPECT_EQ(p.crop.top, 42u);         // round(42.0)
  ASSERT_EQ(gpsa::plan_timm_eval({200, 240}, 224, p), gpsa::status::ok);
  EXPECT_EQ(p.resized.height, 307u);  // 256 * 1.2 = 307.2
  EXPECT_EQ(p.crop.top, 42u);         // round(41.5) = 42
  EXPECT_EQ(gpsa::plan_timm_eval({0, 5}, 224, p), gpsa::status::invalid_argument);
  EXPECT_EQ(gpsa::plan_timm_eval({5, 5}, 0, p), gpsa::status::invalid_argument);
  EXPECT_EQ(gpsa::plan_timm_eval({1, 1u << 26}, 224, p), gpsa::status::size_overflow);
}

TEST(Normalize, IsToTensorThenNormalizeInFloat32) {
  std::vector<std::uint8_t> rgb(256 * 3);
  for (std::size_t i = 0; i < 256; ++i)
    for (std::size_t c = 0; c < 3; ++c) rgb[3 * i + c] = std::uint8_t((i + 85 * c) % 256);
  std::vector<float> out(3 * 256);
  ASSERT_EQ(gpsa::normalize_imagenet(256, rgb, out), gpsa::status::ok);
  const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
  for (std::size_t c = 0; c < 3; ++c)
    for (std::size_t i = 0; i < 256; ++i) {
      volatile float x = float(rgb[3 * i + c]) / 255.0f;              // torch: img.float().div(255)
      volatile float centred = x - mean[c];                           // .sub_(mean)
      EXPECT_EQ(out[c * 256 + i], centred / sd[c]) << c << " " << i;  // .div_(std)
    }
  EXPECT_EQ(gpsa::normalize_imagenet(257, rgb, out), gpsa::status::buffer_too_small);
}

TEST(TimmEvalPreprocess, IsTheCropNormalised) {
  const auto src = random_image(61, 45, 9);
  gpsa::timm_eval_plan p;
  ASSERT_EQ(gpsa::plan_timm_eval({61, 45}, 32, p), gpsa::status::ok);
  std::vector<std::byte> scratch(p.scratch_bytes);
  std::vector<std::uint8_t> crop(3 * 32 * 32);
  ASSERT_EQ(gpsa::timm_eval_rgb8(p, src, crop, scratch), gpsa::status::ok);
  EXPECT_EQ(crop, resize(src, p.input, p.resized, p.crop));
  std::vector<float> x(p.output_count), expect(p.output_count);
  ASSERT_EQ(gpsa::timm_eval_preprocess(p, src, x, scratch), gpsa::status::ok);
  ASSERT_EQ(gpsa::normalize_imagenet(32 * 32, crop, expect), gpsa::status::ok);
  EXPECT_EQ(x, expect);
  EXPECT_EQ(gpsa::timm_eval_preprocess(p, src, x, std::span(scratch).first(p.scratch_bytes - 1)),
            gpsa::status::buffer_too_small);
  EXPECT_EQ(gpsa::timm_eval_preprocess(p, src, std::span(x).first(x.size() - 1), scratch),
            gpsa::status::buffer_too_small);
}

}  // namespace
