// SPDX-License-Identifier: MIT
// The full ConViT-Ti shape end to end (224x224 images, 16-pixel patches, D = 192, H = 4, depth 12,
// local_up_to_layer 10, MLP 768, 1000 classes) with weights generated here, written as a
// safetensors checkpoint, loaded by gpsa::convit, and checked against the tests' own float64
// evaluation of the same math (convit_reference.hpp).
#include <gtest/gtest.h>

#include <cstdio>

#include "gpsa/runtime/convit.hpp"
#include "model_test_util.hpp"

namespace {

using namespace model_test;

TEST(ConvitTinyShape, WholeModelMatchesFloat64Reference) {
  convit_ref::config c;
  c.image = 224, c.patch = 16, c.channels = 3, c.dim = 192, c.heads = 4, c.depth = 12;
  c.local = 10, c.hidden = 768, c.classes = 1000;
  const st_map weights = random_model(c, false, 2024);
  const auto m = gpsa::convit(parse(weights, "convit_tiny_random.safetensors"));

  const auto& k = m.config();
  EXPECT_EQ(k.image_size, 224u);
  EXPECT_EQ(k.patch_size, 16u);
  EXPECT_EQ(k.dim, 192u);
  EXPECT_EQ(k.heads, 4u);
  EXPECT_EQ(k.depth, 12u);
  EXPECT_EQ(k.local_up_to_layer, 10u);
  EXPECT_EQ(k.mlp_hidden, 768u);
  EXPECT_EQ(k.classes, 1000u);
  EXPECT_FALSE(m.qkv_bias());
  // timm's convit_tiny has 5.7 M parameters: patch embedding 147648 + pos_embed 37632 +
  // cls_token 192 + 10 GPSA blocks x 444308 + 2 MHSA blocks x 444288 + norm 384 + head 193000.
  EXPECT_EQ(m.parameter_count(), 5710512u);

  const std::size_t B = 1;
  const auto x = random_images(c, B, 7);
  std::vector<float> features;
  const auto logits = m.forward(x, B, &features);
  ASSERT_EQ(features.size(), B * 197 * 192);
  const convit_ref::result r = convit_ref::forward(c, reference_values(weights), x, B);
  const double el = rel_error(logits, r.logits), ef = rel_error(features, r.features);
  double lmax = 0;
  for (const double v : r.logits) lmax = std::max(lmax, std::abs(v));
  std::printf(
      "[ tiny     ] ConViT-Ti shape vs float64: logits %.3g, features %.3g (max|logit| %.3g)\n", el,
      ef, lmax);
  EXPECT_LE(el, 1e-4);
  EXPECT_LE(ef, 1e-4);
  // The weights make a non-degenerate model: logits spread well beyond rounding noise.
  EXPECT_GT(lmax, 1.0);
}

}  // namespace
