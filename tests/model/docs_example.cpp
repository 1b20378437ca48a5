// SPDX-License-Identifier: MIT
// The code examples of docs/convit.md, compiled and run on a golden model (keep in sync).
#include <gtest/gtest.h>

#include "model_test_util.hpp"

// ---- docs example 1: gpsa::convit ------------------------------------------------------------
#include <gpsa/gpsa.hpp>
#include <gpsa/runtime/npy.hpp>

#include <algorithm>
#include <cstdio>
#include <vector>

// Top-1 class of image 0 of preprocessed images x.npy (B, 3, S, S) under a timm checkpoint.
std::size_t classify(const char* weights_path, const char* x_path) {
  const gpsa::convit model = gpsa::convit::load(weights_path);  // config from keys and shapes
  const gpsa::io::tensor x = gpsa::io::read_npy(x_path);        // float32 or float64
  const std::size_t B = model.batch_of(x.shape, x_path);        // checks (B, 3, S, S)
  std::vector<float> features;                                  // optional: (B, N+1, D)
  const std::vector<float> logits = model.forward(x.data, B, &features);  // (B, classes)
  const gpsa::convit_config& c = model.config();
  const auto top = std::max_element(logits.begin(), logits.begin() + c.classes) - logits.begin();
  std::printf("%zux%zu images, D = %zu, H = %zu, depth %zu (GPSA %zu): image 0 -> class %td\n",
              c.image_size, c.image_size, c.dim, c.heads, c.depth, c.local_up_to_layer, top);
  return static_cast<std::size_t>(top);
}

// ---- docs example 2: the no-heap core --------------------------------------------------------
// Firmware-style: weights as views (e.g. into flash), caller-owned blocks, folded state, scratch.
gpsa::status classify_core(gpsa::convit_weights w, std::span<gpsa::convit_block_weights> blocks,
                           std::span<const float> image, std::span<float> logits,
                           std::span<float> folded, std::span<float> scratch) {
  std::size_t nf = 0, ns = 0;
  if (gpsa::status s = gpsa::convit_folded_size(w.config, nf); s != gpsa::status::ok) return s;
  if (gpsa::status s = gpsa::convit_scratch_size(w.config, 1, /*workers=*/1, ns);
      s != gpsa::status::ok)
    return s;
  if (nf > folded.size() || ns > scratch.size()) return gpsa::status::buffer_too_small;
  // Once per model (the positional branch does not depend on the input): each GPSA block's
  // `folded` view then points into `folded`.
  if (gpsa::status s = gpsa::convit_fold(w.config, blocks, folded); s != gpsa::status::ok) return s;
  w.blocks = blocks;
  return gpsa::convit_forward(w, 1, image, logits, /*features=*/{}, scratch);
}
// ---- end of docs examples --------------------------------------------------------------------

namespace {

using namespace model_test;

TEST(ConvitDocs, ExamplesRunOnGoldenModel) {
  const fs::path d = golden_dir() / "convit_micro_4x4";
  const auto want = read_f32(d / "logits.npy");
  const auto top =
      static_cast<std::size_t>(std::max_element(want.begin(), want.begin() + 10) - want.begin());
  EXPECT_EQ(classify((d / "model.safetensors").c_str(), (d / "x.npy").c_str()), top);

  const auto m = gpsa::convit::load(d / "model.safetensors");
  const auto x = read_f32(d / "x.npy");
  std::vector<float> logits(10), folded(1 << 12), scratch(1 << 16);
  std::vector<gpsa::convit_block_weights> blocks(m.weights().blocks.begin(),
                                                 m.weights().blocks.end());
  const std::span<const float> image = std::span(x).first(3 * 64 * 64);
  ASSERT_EQ(classify_core(m.weights(), blocks, image, logits, folded, scratch), gpsa::status::ok);
  EXPECT_LE(rel_error(logits, std::vector<float>(want.begin(), want.begin() + 10)), 1e-4);
  EXPECT_EQ(
      classify_core(m.weights(), blocks, image, logits, folded, std::span(scratch).first(100)),
      gpsa::status::buffer_too_small);
}

}  // namespace
