// SPDX-License-Identifier: MIT
// The code examples of docs/layer.md, compiled and run on a golden case (keep in sync).
#include <gtest/gtest.h>

#include "forward_test_util.hpp"

// ---- docs/layer.md example 1: gpsa::layer -------------------------------------------------------
#include <gpsa/gpsa.hpp>
#include <gpsa/runtime/npy.hpp>

#include <cstdio>
#include <vector>

std::vector<float> run_layer(const char* weights_path, const char* x_path) {
  // One GPSA layer of a timm ConViT checkpoint; fixing the grid folds the positional branch once.
  gpsa::layer layer = gpsa::layer::load(weights_path, "blocks.0.attn", gpsa::grid{14, 14});
  gpsa::io::tensor x = gpsa::io::read_npy(x_path);  // (B, 196, D) float32 or float64
  std::vector<float> attn, dist;                    // optional outputs: (B, H, N, N) and (H)
  std::vector<float> y = layer.forward(x.data, x.shape[0], &attn, &dist);
  std::printf("H = %zu, D = %zu, dist[0] = %.4f\n", layer.heads(), layer.dim(), dist[0]);
  return y;  // (B, 196, D)
}

// ---- docs/layer.md example 2: the no-heap core --------------------------------------------------
// Firmware-style: weights as plain arrays, the positional branch folded once into caller-owned
// buffers, one caller-owned scratch buffer, status returns.
gpsa::status run_core(const gpsa::layer_weights& w, const gpsa::folded_view& pos,
                      std::span<const float> x, std::span<float> y, std::span<float> scratch) {
  std::size_t need = 0;
  if (gpsa::status s = gpsa::layer_scratch_size(gpsa::dims_of(w, pos, /*batch=*/1), 1, need);
      s != gpsa::status::ok)
    return s;
  if (need > scratch.size()) return gpsa::status::buffer_too_small;
  return gpsa::layer_forward(w, pos, 1, x, y, /*attn=*/{}, scratch.first(need));
}

// The fold of pos_proj / gating_param for a 14x14 grid (e.g. at start-up, or at compile time
// with gpsa::layer_fold): H*(14*14 + 14*14) + H floats.
gpsa::status fold_14x14(std::size_t heads, std::span<const float> pos_weight,
                        std::span<const float> pos_bias, std::span<const float> gating,
                        std::span<float> fx, std::span<float> gy, std::span<float> lambda,
                        gpsa::folded_view& out) {
  const gpsa::grid g{14, 14};
  if (gpsa::status s = gpsa::layer_fold(g, heads, pos_weight, pos_bias, gating, fx, gy, lambda);
      s != gpsa::status::ok)
    return s;
  out = gpsa::folded_view{heads, g, fx.data(), gy.data(), lambda.data()};
  return gpsa::status::ok;
}
// ---- end of docs/layer.md examples --------------------------------------------------------------

namespace {

using namespace gpsa_test;

TEST(ReadmeRuntime, ExamplesRunOnGoldenCase) {
  const fs::path d = golden_dir() / "s14_h4_c192_convit_tiny";
  const auto want = gpsa::io::read_npy(d / "y.npy");
  const std::vector<float> y =
      run_layer((d / "weights.safetensors").c_str(), (d / "x.npy").c_str());
  EXPECT_LE(max_abs_diff(y, want.data), 1e-4 * max_abs(want.data));

  const gpsa::layer l = gpsa::layer::load(d / "weights.safetensors");
  const gpsa::layer_params& p = l.params();
  const auto x = gpsa::io::read_npy(d / "x.npy");
  std::vector<float> fx(4 * 196), gy(4 * 196), lam(4);
  gpsa::folded_view pos{};
  ASSERT_EQ(fold_14x14(4, p.pos_proj_weight, p.pos_proj_bias, p.gating_param, fx, gy, lam, pos),
            gpsa::status::ok);
  std::vector<float> y2(x.data.size()), scratch(1 << 20);
  ASSERT_EQ(run_core(l.weights(), pos, x.data, y2, scratch), gpsa::status::ok);
  EXPECT_LE(max_abs_diff(y2, want.data), 1e-4 * max_abs(want.data));
}

}  // namespace
