// SPDX-License-Identifier: MIT
// timm's evaluation preprocessing of 8-bit RGB pixels: PIL's bicubic resize, centre crop,
// normalise.
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

#include "gpsa/core/types.hpp"

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
status bicubic_resize_scratch_size(image_size in, image_size out, pixel_window window,
                                   std::size_t& bytes) noexcept;

// `window` of the bicubic resize of `src` (in.width x in.height RGB pixels, rows of
// 3 * in.width bytes, no padding) to `out`, written to dst (window.width x window.height RGB,
// rows of 3 * window.width bytes). Exactly PIL's Image.resize(out, Image.BICUBIC) cropped to
// the window. The window must lie inside `out`; sides up to 2^31 - 1 (PIL's int limit).
status bicubic_resize_rgb8(image_size in, image_size out, pixel_window window,
                           std::span<const std::uint8_t> src, std::span<std::uint8_t> dst,
                           std::span<std::byte> scratch) noexcept;

// timm's evaluation transform: constants and the geometry of one image.
inline constexpr float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
inline constexpr float imagenet_std[3] = {0.229f, 0.224f, 0.225f};
inline constexpr std::size_t timm_default_size = 224;

struct timm_eval_plan {
  image_size input;               // the decoded image
  std::size_t size = 0;           // S: the output is (3, S, S)
  image_size resized;             // shorter side int(S / 0.875), the other int(s * long / short)
  pixel_window crop;              // S x S at (round((w - S) / 2), round((h - S) / 2)) of `resized`
  std::size_t scratch_bytes = 0;  // for timm_eval_rgb8 and timm_eval_preprocess
  std::size_t output_count = 0;   // 3 * S * S floats
};

// Fills `plan` for an input of this size and output side S (> 0). size_overflow when the resized
// image would have a side over 2^31 - 1 or a size does not fit std::size_t.
status plan_timm_eval(image_size input, std::size_t size, timm_eval_plan& plan) noexcept;

// The resized and cropped image, S x S RGB bytes (what ToTensor sees), into dst (3 * S * S).
status timm_eval_rgb8(const timm_eval_plan& plan, std::span<const std::uint8_t> rgb,
                      std::span<std::uint8_t> dst, std::span<std::byte> scratch) noexcept;

// ToTensor + Normalize of `count` interleaved RGB pixels: planar (3, count) floats,
// out[c * count + i] = (rgb[3 i + c] / 255 - mean[c]) / std[c], each step rounded to float.
status normalize_imagenet(std::size_t count, std::span<const std::uint8_t> rgb,
                          std::span<float> out) noexcept;

// The whole transform: `out` receives plan.output_count floats, layout (3, S, S).
status timm_eval_preprocess(const timm_eval_plan& plan, std::span<const std::uint8_t> rgb,
                            std::span<float> out, std::span<std::byte> scratch) noexcept;

}  // namespace gpsa
