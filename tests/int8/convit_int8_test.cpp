// SPDX-License-Identifier: MIT
// The whole int8 ConViT (gpsa/core/convit_int8.hpp, gpsa/runtime/convit_int8.hpp) against the NumPy
// reference (tools/int8_reference.py model: tests/golden/int8/digits_model.safetensors): the
// calibrated activation amax and the logits of the 360 digits test images, bit for bit; accuracy
// and agreement with timm's float logits; errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "gpsa/core/convit_int8.hpp"
#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/convit_int8.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/npy.hpp"
#include "gpsa/runtime/safetensors.hpp"

#if defined(__SSE__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

namespace {

using gpsa::status;

std::string golden(const std::string& name) { return std::string(GPSA_GOLDEN_DIR) + "/" + name; }
const std::string kDigits = "digits/convit_digits/";

// The int8 model quantises the checkpoint's plain weights, which a model keeps only when asked.
gpsa::convit_options keep_plain() {
  gpsa::convit_options o;
  o.keep_plain_weights = true;
  return o;
}

std::size_t mismatches(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size()) return a.size() + b.size();
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    n += std::bit_cast<std::uint32_t>(a[i]) == std::bit_cast<std::uint32_t>(b[i]) ? 0 : 1;
  return n;
}

std::size_t argmax(const float* v, std::size_t n) {
  return static_cast<std::size_t>(std::max_element(v, v + n) - v);
}

struct digits {
  gpsa::convit model = gpsa::convit::load(golden(kDigits + "model.safetensors"), keep_plain());
  gpsa::io::tensor calib = gpsa::io::read_npy(golden(kDigits + "x_calib.npy"));
  gpsa::io::tensor x = gpsa::io::read_npy(golden(kDigits + "x_test.npy"));
  gpsa::io::safetensors_file ref =
      gpsa::io::read_safetensors(golden("int8/digits_model.safetensors"));
};

// y_test.npy: int64 labels ('<i8', which gpsa::io::read_npy does not take): the file's last
// 8 n bytes, after a header that must name that dtype and shape.
std::vector<std::int64_t> labels(std::size_t n) {
  const std::vector<std::uint8_t> bytes = gpsa::io::read_file(golden(kDigits + "y_test.npy"));
  const std::string head(bytes.begin(), bytes.begin() + std::min<std::size_t>(bytes.size(), 128));
  EXPECT_NE(head.find("'<i8'"), std::string::npos);
  char shape[32];
  std::snprintf(shape, sizeof shape, "(%zu,)", n);
  EXPECT_NE(head.find(shape), std::string::npos);
  std::vector<std::int64_t> y(n);
  if (bytes.size() >= 8 * n) std::memcpy(y.data(), bytes.data() + bytes.size() - 8 * n, 8 * n);
  return y;
}

const digits& data() {
  static const digits d;
  return d;
}

const gpsa::convit_int8& quantised() {
  static const gpsa::convit_int8 q =
      gpsa::convit_int8::quantize(data().model, data().calib.data, data().calib.shape[0]);
  return q;
}

TEST(ConvitInt8, CalibrationGivesTheReferenceAmaxBitForBit) {
  const auto& amax = quantised().weights().activation_amax;
  const auto& want = data().ref.at("amax").data;
  ASSERT_EQ(amax.size(), 18u);  // 4 depth + 2
  EXPECT_EQ(mismatches(amax, want), 0u);
  for (std::size_t p = 0; p < amax.size(); ++p)
    EXPECT_EQ(amax[p], want[p]) << gpsa::convit_int8::point_name(p, quantised().config());
}

TEST(ConvitInt8, DigitsLogitsEqualTheReferenceBitForBit) {
  const auto& x = data().x;
  const std::size_t B = x.shape[0];
  ASSERT_EQ(B, 360u);
  const std::vector<float> logits = quantised().forward(x.data, B);
  const auto& want = data().ref.at("logits").data;
  ASSERT_EQ(logits.size(), want.size());
  EXPECT_EQ(mismatches(logits, want), 0u) << "of " << logits.size() << " logits";

  // Accuracy on the labels, and against timm's float32 logits (the bars: accuracy at
  // least float's minus one point, top-1 equal on >= 98 % of the images).
  const std::vector<std::int64_t> y_test = labels(B);
  const auto timm = gpsa::io::read_npy(golden(kDigits + "logits.npy"));
  std::size_t correct = 0, timm_correct = 0, same_top1 = 0;
  double worst = 0.0;
  for (std::size_t b = 0; b < B; ++b) {
    const std::size_t q = argmax(&logits[b * 10], 10), f = argmax(&timm.data[b * 10], 10);
    const auto y = static_cast<std::size_t>(y_test[b]);
    correct += q == y;
    timm_correct += f == y;
    same_top1 += q == f;
    for (std::size_t c = 0; c < 10; ++c)
      worst = std::max(worst, std::fabs(static_cast<double>(logits[b * 10 + c]) -
                                        static_cast<double>(timm.data[b * 10 + c])));
  }
  std::printf(
      "int8 digits: accuracy %zu/360, timm float %zu/360, top-1 equal to float %zu/360, worst "
      "|logit - timm| %.4f\n",
      correct, timm_correct, same_top1, worst);
  EXPECT_EQ(timm_correct, 351u);
  EXPECT_GE(correct * 100, timm_correct * 100 - 360);  // >= float accuracy - 1 point
  EXPECT_GE(same_top1 * 100, 98u * 360u);
  EXPECT_LT(worst, 0.25);
}

TEST(ConvitInt8, CoreForwardMatchesTheOwnerAndIgnoresTheCallersFloatMode) {
  const auto& w = quantised().weights();
  const auto& x = data().x;
  const std::size_t B = 4, image = 256;
  const std::vector<float> want(data().ref.at("logits").data.begin(),
                                data().ref.at("logits").data.begin() + B * 10);
  std::size_t n = 0;
  ASSERT_EQ(gpsa::convit_int8_scratch_size(w.config, n), status::ok);
  std::vector<float> scratch(n), logits(B * 10);
#if defined(__SSE__) || defined(_M_X64)
  const unsigned saved = _mm_getcsr();
  _mm_setcsr(saved | 0x8040u | 0x4000u);  // FTZ + DAZ, round toward +inf
#endif
  const status s = gpsa::convit_int8_forward(w, B, x.data.data(), logits.data(), scratch);
#if defined(__SSE__) || defined(_M_X64)
  EXPECT_EQ(_mm_getcsr(), saved | 0x8040u | 0x4000u) << "the caller's mode is restored";
  _mm_setcsr(saved);
#endif
  ASSERT_EQ(s, status::ok);
  EXPECT_EQ(mismatches(logits, want), 0u);
  (void)image;

  // One float short: buffer_too_small, nothing computed.
  EXPECT_EQ(gpsa::convit_int8_forward(w, B, x.data.data(), logits.data(),
                                      std::span<float>(scratch).first(n - 1)),
            status::buffer_too_small);
  EXPECT_EQ(gpsa::convit_int8_forward(w, 0, nullptr, nullptr, {}), status::ok);
  EXPECT_EQ(gpsa::convit_int8_forward(w, 1, nullptr, logits.data(), scratch),
            status::invalid_argument);
}

TEST(ConvitInt8, DescriptorErrors) {
  const gpsa::convit_int8_weights& good = quantised().weights();
  EXPECT_EQ(gpsa::validate(good), status::ok);
  std::vector<float> scratch(1 << 16), logits(10);
  const float* img = data().x.data.data();
  auto fails_with = [&](const gpsa::convit_int8_weights& w, status want) {
    EXPECT_EQ(gpsa::validate(w), want);
    EXPECT_EQ(gpsa::convit_int8_forward(w, 1, img, logits.data(), scratch), want);
  };
  gpsa::convit_int8_weights w = good;
  w.activation_amax = w.activation_amax.first(17);
  fails_with(w, status::shape_mismatch);
  w = good;
  w.blocks = w.blocks.first(3);
  fails_with(w, status::shape_mismatch);
  w = good;
  w.folded = w.folded.first(w.folded.size() - 1);
  fails_with(w, status::shape_mismatch);
  w = good;
  w.head.scale = nullptr;
  fails_with(w, status::invalid_argument);
  std::vector<gpsa::convit_int8_block> blocks(good.blocks.begin(), good.blocks.end());
  blocks[0].qk.weight = nullptr;  // a GPSA block needs qk (its qkv is unused)
  w = good;
  w.blocks = blocks;
  fails_with(w, status::invalid_argument);
  std::vector<float> amax(good.activation_amax.begin(), good.activation_amax.end());
  amax[5] = std::nanf("");
  w = good;
  w.activation_amax = amax;
  fails_with(w, status::invalid_argument);
  amax[5] = -1.0f;
  fails_with(w, status::invalid_argument);
  // timm's default ConViT only (the C descriptor has no pool or use_pos_embed).
  w = good;
  w.config.pool = gpsa::convit_pool::avg;
  fails_with(w, status::invalid_argument);
  w = good;
  w.config.use_pos_embed = false;
  fails_with(w, status::invalid_argument);
}

// Quantising reads the plain weights, which a model loaded with the default options drops.
TEST(ConvitInt8, QuantiseNeedsThePlainWeights) {
  const gpsa::convit packed_only =
      gpsa::convit::load(golden(kDigits + "model.safetensors"));  // default: packed only
  try {
    (void)gpsa::convit_int8::quantize(packed_only, data().calib.data, data().calib.shape[0]);
    ADD_FAILURE() << "a model without its plain weights was quantised";
  } catch (const gpsa::model_error& e) {
    EXPECT_NE(std::string(e.what()).find("keep_plain_weights"), std::string::npos) << e.what();
  }
}

TEST(ConvitInt8, CalibrationErrors) {
  const gpsa::convit& m = data().model;
  std::vector<float> x(data().calib.data.begin(), data().calib.data.begin() + 2 * 256);
  EXPECT_THROW((void)gpsa::convit_int8::quantize(m, {}, 0), gpsa::model_error);
  EXPECT_THROW((void)gpsa::convit_int8::quantize(m, x, 3), gpsa::model_error);
  x[300] = std::nanf("");
  try {
    (void)gpsa::convit_int8::quantize(m, x, 2);
    ADD_FAILURE() << "a NaN calibration value was accepted";
  } catch (const gpsa::model_error& e) {
    EXPECT_NE(std::string(e.what()).find("quantisation point image"), std::string::npos)
        << e.what();
  }
  // The core: batch 0, a short amax, short scratch.
  const auto& w = quantised().weights();
  std::vector<float> amax(18), scratch;
  std::size_t n = 0;
  ASSERT_EQ(gpsa::convit_int8_calibration_scratch_size(w.config, 2, n), status::ok);
  scratch.resize(n);
  EXPECT_EQ(gpsa::convit_int8_calibrate(w, 0, x.data(), amax, scratch), status::invalid_argument);
  EXPECT_EQ(gpsa::convit_int8_calibrate(w, 2, data().calib.data.data(),
                                        std::span<float>(amax).first(17), scratch),
            status::shape_mismatch);
  EXPECT_EQ(gpsa::convit_int8_calibrate(w, 2, data().calib.data.data(), amax,
                                        std::span<float>(scratch).first(n - 1)),
            status::buffer_too_small);
  ASSERT_EQ(gpsa::convit_int8_calibrate(w, 2, data().calib.data.data(), amax, scratch), status::ok);
  for (const float a : amax) EXPECT_GT(a, 0.0f);
}

}  // namespace

namespace {

// The C API: the same logits through gpsa_convit_int8_forward; the scratch macro equals the
// size query for several shapes.
TEST(ConvitInt8CApi, ForwardAndScratchMacro) {
  const gpsa::convit_int8_weights& w = quantised().weights();
  gpsa_convit_int8_weights c{};
  c.config = {
      w.config.image_size, w.config.patch_size, w.config.channels,          w.config.dim,
      w.config.heads,      w.config.depth,      w.config.local_up_to_layer, w.config.mlp_hidden,
      w.config.classes,    w.config.eps};
  c.patch = w.patch;
  c.pos_embed = w.pos_embed;
  c.cls_token = w.cls_token;
  c.blocks = w.blocks.data();
  c.block_count = w.blocks.size();
  c.norm_weight = w.norm_weight;
  c.norm_bias = w.norm_bias;
  c.head = w.head;
  c.activation_amax = w.activation_amax.data();
  c.activation_count = w.activation_amax.size();
  c.folded = w.folded.data();
  c.folded_len = w.folded.size();
  std::size_t n = 0;
  ASSERT_EQ(gpsa_convit_int8_scratch_size(&c.config, &n), GPSA_OK);
  EXPECT_EQ(n, GPSA_CONVIT_INT8_SCRATCH_LEN(16, 2, 1, 64, 4, 4, 3, 128, 10));
  const std::size_t B = 3;
  std::vector<float> scratch(n), logits(B * 10);
  const auto& x = data().x.data;
  ASSERT_EQ(gpsa_convit_int8_forward(&c, B, x.data(), B * 256, logits.data(), logits.size(),
                                     scratch.data(), scratch.size()),
            GPSA_OK);
  const std::vector<float> want(data().ref.at("logits").data.begin(),
                                data().ref.at("logits").data.begin() + B * 10);
  EXPECT_EQ(mismatches(logits, want), 0u);
  EXPECT_EQ(gpsa_convit_int8_forward(&c, B, x.data(), B * 256 - 1, logits.data(), logits.size(),
                                     scratch.data(), scratch.size()),
            GPSA_SHAPE_MISMATCH);
  EXPECT_EQ(gpsa_convit_int8_forward(&c, B, x.data(), B * 256, logits.data(), logits.size(),
                                     scratch.data(), n - 1),
            GPSA_BUFFER_TOO_SMALL);
  c.activation_count = 17;
  EXPECT_EQ(gpsa_convit_int8_forward(&c, B, x.data(), B * 256, logits.data(), logits.size(),
                                     scratch.data(), scratch.size()),
            GPSA_SHAPE_MISMATCH);
  EXPECT_EQ(gpsa_convit_int8_forward(nullptr, 0, nullptr, 0, nullptr, 0, nullptr, 0),
            GPSA_INVALID_ARGUMENT);

  // The macro against the query: ConViT-Ti, an odd configuration (no class token, C = 3,
  // p = 3), a tiny one (T < 8), many classes.
  struct shape {
    gpsa_convit_config c;
    std::size_t macro;
  };
  const shape shapes[] = {
      {{224, 16, 3, 192, 4, 12, 10, 768, 1000, 1e-6f},
       GPSA_CONVIT_INT8_SCRATCH_LEN(224, 16, 3, 192, 4, 12, 10, 768, 1000)},
      {{15, 3, 3, 36, 3, 2, 2, 50, 7, 1e-6f},
       GPSA_CONVIT_INT8_SCRATCH_LEN(15, 3, 3, 36, 3, 2, 2, 50, 7)},
      {{4, 2, 1, 8, 2, 2, 1, 16, 5, 1e-6f},
       GPSA_CONVIT_INT8_SCRATCH_LEN(4, 2, 1, 8, 2, 2, 1, 16, 5)},
      {{32, 8, 3, 16, 2, 1, 0, 32, 5000, 1e-6f},
       GPSA_CONVIT_INT8_SCRATCH_LEN(32, 8, 3, 16, 2, 1, 0, 32, 5000)},
  };
  for (const shape& s : shapes) {
    ASSERT_EQ(gpsa_convit_int8_scratch_size(&s.c, &n), GPSA_OK);
    EXPECT_EQ(n, s.macro) << s.c.image_size << " " << s.c.dim;
  }
}

}  // namespace

namespace {

// Other configurations: the two golden timm ConViTs of tests/golden/convit (64 px, D = 96,
// H = 2, 3 GPSA + 1 MHSA; 112 px, D = 192, H = 4, 2 GPSA + 1 MHSA, qkv bias, 100 classes),
// calibrated on their own x.npy: amax and logits equal the NumPy reference's
// (tests/golden/int8/<model>.safetensors) bit for bit, top-1 equals timm's float32 one, and the
// worst logit difference from timm's logits stays below 0.15 (measured: 0.075 and 0.093).
TEST(ConvitInt8, GoldenConfigurationsQuantise) {
  for (const std::string name : {"convit_micro_4x4", "convit_7x7_bias"}) {
    SCOPED_TRACE(name);
    const std::string dir = golden("convit/" + name + "/");
    const gpsa::convit m = gpsa::convit::load(dir + "model.safetensors", keep_plain());
    const gpsa::io::tensor x = gpsa::io::read_npy(dir + "x.npy");
    const gpsa::io::tensor timm = gpsa::io::read_npy(dir + "logits.npy");
    const auto ref = gpsa::io::read_safetensors(golden("int8/" + name + ".safetensors"));
    const std::size_t B = x.shape[0], K = m.config().classes;
    const gpsa::convit_int8 q = gpsa::convit_int8::quantize(m, x.data, B);
    EXPECT_EQ(mismatches(q.weights().activation_amax, ref.at("amax").data), 0u);
    const std::vector<float> logits = q.forward(x.data, B);
    EXPECT_EQ(mismatches(logits, ref.at("logits").data), 0u) << "of " << logits.size();
    double worst = 0.0;
    for (std::size_t b = 0; b < B; ++b) {
      EXPECT_EQ(argmax(&logits[b * K], K), argmax(&timm.data[b * K], K)) << "image " << b;
      for (std::size_t k = 0; k < K; ++k)
        worst = std::max(worst, std::fabs(static_cast<double>(logits[b * K + k]) -
                                          static_cast<double>(timm.data[b * K + k])));
    }
    std::printf("int8 %s: %zu image(s), worst |logit - timm| %.4f\n", name.c_str(), B, worst);
    EXPECT_LT(worst, 0.15);
  }
}

}  // namespace
