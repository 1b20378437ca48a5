// SPDX-License-Identifier: MIT
// The whole ConViT in int8 (docs/DESIGN.md §9) in the no-heap, no-exception core: a quantised
// model descriptor (views, e.g. into flash), caller-owned scratch, status codes.
//
// Every linear layer (patch embedding, qk / v / qkv, proj, fc1, fc2, head) multiplies int8
// activation codes by per-output-channel int8 weight codes in int32 (gpsa/core/int8.hpp);
// LayerNorm, the attention (with the folded positional factors of gpsa::convit_fold), GELU and the
// residual stream stay float32. Each float step is one IEEE operation in the order §9 specifies, so
// a host and a Cortex-M4 give the same logits, bit for bit, and tools/int8_reference.py gives them
// too.
//
// Activations have one static scale per quantisation point, from its amax (largest magnitude on
// calibration data): point 0 is the image patches; block i has points 1 + 4i (norm1 output),
// 2 + 4i (attention output, heads concatenated), 3 + 4i (norm2 output), 4 + 4i (GELU output);
// the last, 4 depth + 1, is the final norm's class-token row (the head's input).
//
//   gpsa::convit_int8_weights w = ...;      // e.g. the arrays of a `gpsa export --int8` header
//   std::size_t n = 0;
//   gpsa::convit_int8_scratch_size(w.config, n);
//   gpsa::convit_int8_forward(w, batch, images, logits, scratch);   // span of n floats
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "gpsa/core/convit.hpp"
#include "gpsa/gpsa.h"
#include "gpsa/status.hpp"

namespace gpsa {

// One quantised nn.Linear (weight codes (out, in), one scale per output row: amax of the row /
// 127 as gpsa::int8_quantize_weights makes it, float bias or null) and one block's parameters
// (GPSA blocks use qk and v, MHSA blocks qkv): the C API's types, gpsa/gpsa.h, so that a C
// descriptor's blocks are the C++ one's.
using convit_int8_linear = ::gpsa_int8_linear;
using convit_int8_block = ::gpsa_convit_int8_block;

// Quantisation points of a configuration: 4 depth + 2.
constexpr std::size_t convit_int8_points(const convit_config& c) noexcept {
  return 4 * c.depth + 2;
}

// The quantised model. Nothing is copied: every array may live in flash.
struct convit_int8_weights {
  convit_config config{};
  convit_int8_linear patch{};                 // (D, C p p): the conv kernels flattened (c, ky, kx)
  const float* pos_embed = nullptr;           // (1, N, D)
  const float* cls_token = nullptr;           // (1, 1, D), unused when local_up_to_layer == depth
  std::span<const convit_int8_block> blocks;  // config.depth blocks
  const float* norm_weight = nullptr;         // (D)
  const float* norm_bias = nullptr;           // (D)
  convit_int8_linear head{};                  // (classes, D)
  std::span<const float> activation_amax;     // convit_int8_points(config) values, each >= 0
  std::span<const float> folded;              // convit_fold's state for the float weights
};

// validate(config); blocks.size() == depth, activation_amax.size() == convit_int8_points and
// folded.size() == convit_folded_size (shape_mismatch); every required pointer set, every amax
// finite and >= 0 (invalid_argument).
status validate(const convit_int8_weights& w) noexcept;

// Scratch floats of convit_int8_forward (any batch: one image at a time). For the digits model
// of docs/int8.md (T = 65, D = 64, M = 128): 10,068 floats, 39.3 KB.
status convit_int8_scratch_size(const convit_config& c, std::size_t& floats) noexcept;

// logits (B, classes) of `batch` images (B, C, S, S), one image at a time, on the calling
// thread. Errors: validate(w); invalid_argument (null images or logits with batch > 0);
// buffer_too_small (scratch); size_overflow. batch 0 is a no-op. A NaN image value quantises
// to code 0 (DESIGN.md §9).
status convit_int8_forward(const convit_int8_weights& w, std::size_t batch, const float* images,
                           float* logits, std::span<float> scratch) noexcept;

// Calibration: every point's amax over a batch of images, measured on the int8 model itself in
// forward order (each point sees the earlier points already quantised; DESIGN.md §9). w's
// activation_amax is not read (it may be empty). Scratch: convit_int8_calibration_scratch_size
// floats for this batch (all images' token streams at once). Errors as convit_int8_forward, and
// shape_mismatch unless amax has convit_int8_points values; invalid_argument for batch 0 and when
// an amax is not finite (a NaN or Inf image value or weight product) -- amax is then partly
// written.
status convit_int8_calibration_scratch_size(const convit_config& c, std::size_t batch,
                                            std::size_t& floats) noexcept;
status convit_int8_calibrate(const convit_int8_weights& w, std::size_t batch, const float* images,
                             std::span<float> amax, std::span<float> scratch) noexcept;

}  // namespace gpsa
