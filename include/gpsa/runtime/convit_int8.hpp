// SPDX-License-Identifier: MIT
// gpsa::convit_int8: a timm ConViT quantised to int8 (docs/DESIGN.md §9) that owns its codes,
// scales and float parameters: per-output-channel weight codes, activation scales calibrated on
// a batch of images, the folded positional state. Part of gpsa::runtime (allocates, throws); the
// forward is the core's gpsa::convit_int8_forward (gpsa/core/convit_int8.hpp).
//
//   gpsa::convit_options keep;
//   keep.keep_plain_weights = true;  // quantising reads the plain (unpacked) weights
//   auto m = gpsa::convit::load("model.safetensors", keep);
//   auto q = gpsa::convit_int8::quantize(m, calibration, n);   // (n, C, S, S) images
//   std::vector<float> logits = q.forward(x, B);                // (B, classes)
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "gpsa/core/convit_int8.hpp"
#include "gpsa/runtime/convit.hpp"

namespace gpsa {

class convit_int8 {
 public:
  // Quantises every linear weight of m per output row, then calibrates the activations on
  // `batch` images (batch, C, S, S) (gpsa::convit_int8_calibrate). model_error, one line, when
  // batch is 0, the images' size does not match, m was loaded without
  // convit_options::keep_plain_weights, its config is not timm's default (global_pool avg, no
  // pos_embed), or a calibration value is NaN or infinite
  // (naming the quantisation point).
  static convit_int8 quantize(const convit& m, std::span<const float> images, std::size_t batch);

  convit_int8(convit_int8&&) noexcept = default;
  convit_int8& operator=(convit_int8&&) noexcept = default;
  convit_int8(const convit_int8&) = delete;
  convit_int8& operator=(const convit_int8&) = delete;
  ~convit_int8() = default;

  const convit_config& config() const noexcept { return weights_.config; }
  // The core descriptor (views into this object).
  const convit_int8_weights& weights() const noexcept { return weights_; }
  std::size_t code_bytes() const noexcept { return codes_.size(); }    // int8 weight codes
  std::size_t float_count() const noexcept { return floats_.size(); }  // every float held

  // logits (batch, classes) of images (batch, C, S, S); model_error when the size does not fit.
  std::vector<float> forward(std::span<const float> images, std::size_t batch) const;

  // The name of quantisation point p ("image", "blocks.0.norm1", ..., "norm").
  static std::string point_name(std::size_t p, const convit_config& c);

 private:
  convit_int8() = default;
  std::vector<std::int8_t> codes_;
  std::vector<float> floats_;
  std::vector<convit_int8_block> blocks_;
  convit_int8_weights weights_{};
};

}  // namespace gpsa
