// SPDX-License-Identifier: MIT
// timm's evaluation preprocessing of 8-bit RGB pixels: PIL's bicubic or bilinear resize, centre
// crop, normalise; grey-scale for one-channel models.
//
// What timm does for ConViT at evaluation (transforms_imagenet_eval, crop_pct 0.875) is
//   Resize(int(S / 0.875), BICUBIC) -> CenterCrop(S) -> ToTensor -> Normalize(mean, std)
// on a PIL image. This header reproduces it bit for bit on 8-bit RGB pixels:
// - the shorter side becomes s = int(S / 0.875), the longer int(s * long / short) (torchvision);
// - the resize is Pillow's separable convolution: cubic kernel a = -0.5, support 2 widened by the
//   ratio when downscaling (antialiasing), weights normalised to sum 1 and rounded to 22-bit
//   fixed point, a horizontal pass then a vertical one, each rounded and clipped to 8 bits;
// - the crop starts at round((w - S) / 2), round((h - S) / 2) (Python's round: half to even);
// - value v becomes (v / 255 - mean[c]) / std[c] in float32, layout (3, S, S) planar.
// Only the cropped window of the resized image is computed (same bits, less work and memory).
//
// Part of gpsa::core: no heap, no exceptions; caller-owned scratch with a size query, status
// returns. Decoding PNG/JPEG files into such a buffer is gpsa::image (gpsa/image.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "gpsa/status.hpp"

namespace gpsa {

struct image_size {
  std::size_t width = 0;
  std::size_t height = 0;
};

// A window [left, left + width) x [top, top + height) of an image.
struct pixel_window {
  std::size_t left = 0;
  std::size_t top = 0;
  std::size_t width = 0;
  std::size_t height = 0;
};

// Fraction bits of the resampling weights (Pillow's PRECISION_BITS: 32 - 8 - 2).
inline constexpr int bicubic_precision_bits = 22;

// Largest number of input samples one output sample of an in_size -> out_size resize reads:
// 2 * ceil(2 * max(1, in_size / out_size)) + 1. invalid_argument for a zero size.
status bicubic_max_taps(std::size_t in_size, std::size_t out_size, std::size_t& taps) noexcept;

// The fixed-point weights of output sample `out_index`: it reads inputs
// [first, first + count), weight i being weights[i] / 2^22. `weights` needs bicubic_max_taps
// elements (buffer_too_small otherwise); entries from `count` on are set to zero.
status bicubic_weights(std::size_t in_size, std::size_t out_size, std::size_t out_index,
                       std::span<std::int32_t> weights, std::size_t& first,
                       std::size_t& count) noexcept;

// Bytes of scratch bicubic_resize_rgb8 needs for this resize and window.
status bicubic_resize_scratch(image_size in, image_size out, pixel_window window,
                              std::size_t& bytes) noexcept;

// `window` of the bicubic resize of `src` (in.width x in.height RGB pixels, rows of
// 3 * in.width bytes, no padding) to `out`, written to dst (window.width x window.height RGB,
// rows of 3 * window.width bytes). Exactly PIL's Image.resize(out, Image.BICUBIC) cropped to
// the window. The window must lie inside `out`; sides up to 2^31 - 1 (PIL's int limit).
status bicubic_resize_rgb8(std::span<const std::uint8_t> src, image_size in, image_size out,
                           pixel_window window, std::span<std::byte> scratch,
                           std::span<std::uint8_t> dst) noexcept;

// The resampling filters of Pillow's Image.resize that timm's data configurations use.
enum class resample : unsigned char {
  bicubic,   // Image.BICUBIC: cubic convolution a = -0.5, support 2
  bilinear,  // Image.BILINEAR: triangle, support 1
};

// Bytes of scratch resize_image8 needs; `channels` is 3 (RGB) or 1 (L, grey-scale).
status resize_scratch(image_size in, image_size out, pixel_window window, resample filter,
                      std::size_t channels, std::size_t& bytes) noexcept;

// bicubic_resize_rgb8 for either filter and 3 or 1 interleaved channels: exactly PIL's
// Image.resize(out, filter) of an RGB or L image, cropped to the window.
status resize_image8(std::span<const std::uint8_t> src, image_size in, image_size out,
                     pixel_window window, resample filter, std::size_t channels,
                     std::span<std::byte> scratch, std::span<std::uint8_t> dst) noexcept;

// PIL's convert("L") of `count` RGB pixels: L = (19595 R + 38470 G + 7471 B + 2^15) >> 16.
status rgb8_to_l8(std::span<const std::uint8_t> rgb, std::size_t count,
                  std::span<std::uint8_t> grey) noexcept;

// timm's evaluation transform: constants and the geometry of one image.
inline constexpr float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
inline constexpr float imagenet_std[3] = {0.229f, 0.224f, 0.225f};
inline constexpr std::size_t timm_default_size = 224;

// A model's data configuration as timm resolves it (resolve_data_config): input_size
// (channels, S, S), interpolation, crop_pct, mean, std. The evaluation transform is
//   [convert("L") if channels == 1] -> Resize(floor(S / crop_pct), interpolation) (shorter side)
//   -> CenterCrop(S) -> ToTensor -> Normalize(mean, std)
// The defaults are ConViT's ImageNet configuration.
struct timm_data_config {
  std::size_t channels = 3;                    // 3: RGB; 1: grey-scale (PIL's "L")
  std::size_t size = timm_default_size;        // S (square input_size)
  resample interpolation = resample::bicubic;  // Pillow's filter
  double crop_pct = 0.875;                     // in (0, 1]
  float mean[3] = {imagenet_mean[0], imagenet_mean[1], imagenet_mean[2]};  // channels used
  float std[3] = {imagenet_std[0], imagenet_std[1], imagenet_std[2]};      // each > 0
};

// invalid_argument unless channels is 1 or 3, S > 0, 0 < crop_pct <= 1, every used std is a
// finite value > 0 and every used mean finite.
status validate(const timm_data_config& c) noexcept;

struct timm_eval_plan {
  image_size input;               // the decoded image
  std::size_t size = 0;           // S: the output is (C, S, S)
  timm_data_config config;        // what the plan was made for
  image_size resized;             // shorter side floor(S / crop_pct), the other int(s long / short)
  pixel_window crop;              // S x S at (round((w - S) / 2), round((h - S) / 2)) of `resized`
  std::size_t scratch_bytes = 0;  // for timm_eval_rgb8 and timm_eval_preprocess
  std::size_t output_count = 0;   // C * S * S floats
};

// Fills `plan` for an input of this size and data configuration. validate(config) errors;
// size_overflow when the resized image would have a side over 2^31 - 1 or a size does not fit
// std::size_t.
status plan_timm_eval(image_size input, const timm_data_config& config,
                      timm_eval_plan& plan) noexcept;
// The same with ConViT's ImageNet configuration at output side S (> 0).
status plan_timm_eval(image_size input, std::size_t size, timm_eval_plan& plan) noexcept;

// The resized and cropped image, S x S RGB bytes (what ToTensor sees), into dst (3 * S * S);
// invalid_argument for a one-channel plan.
status timm_eval_rgb8(const timm_eval_plan& plan, std::span<const std::uint8_t> rgb,
                      std::span<std::byte> scratch, std::span<std::uint8_t> dst) noexcept;

// ToTensor + Normalize of `count` interleaved RGB pixels: planar (3, count) floats,
// out[c * count + i] = (rgb[3 i + c] / 255 - mean[c]) / std[c], each step rounded to float.
status normalize_imagenet(std::span<const std::uint8_t> rgb, std::size_t count,
                          std::span<float> out) noexcept;

// The whole transform of an RGB image (w * h * 3 bytes): `out` receives plan.output_count floats,
// layout (C, S, S); for C = 1 the image is converted to L first.
status timm_eval_preprocess(const timm_eval_plan& plan, std::span<const std::uint8_t> rgb,
                            std::span<std::byte> scratch, std::span<float> out) noexcept;

}  // namespace gpsa
