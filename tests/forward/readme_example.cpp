// The code examples of docs/layer.md, compiled and run on a golden case (keep in sync).
#include <gtest/gtest.h>

#include "forward_test_util.hpp"

// ---- README example 1: gpsa::layer ---------------------------------------------------------
#include <gpsa/gpsa.hpp>

#include <cstdio>
#include <vector>

std::vector<float> run_layer(const char* weights_path, const char* x_path) {
  // One GPSA layer of a timm ConViT checkpoint; fixing the grid folds the positional branch once.
  gpsa::layer layer = gpsa::layer::load(weights_path, "blocks.0.attn", gpsa::grid{14, 14});
  gpsa::io::tensor x = gpsa::io::read_npy(x_path);  // (B, 196, D) float32 or float64
  std::vector<float> attn, dist;                    // optional outputs: (B, H, N, N) and (H)
  std::vector<float> y = layer.forward(x.data, x.shape[0], &attn, &dist);
  std::printf("H = %zu, D = %zu, table: %s, dist[0] = %.4f\n", layer.heads(), layer.dim(),
              gpsa::to_string(layer.table_path()), dist[0]);
  return y;  // (B, 196, D)
}

// ---- README example 2: the no-heap core ----------------------------------------------------
// Firmware-style: weights as plain arrays, one caller-owned scratch buffer, status returns.
gpsa::status run_core(const gpsa::gpsa_weights& w, gpsa::grid g, const float* x, float* y,
                      float* scratch, std::size_t scratch_floats) {
  std::size_t need = 0;
  if (gpsa::status s = gpsa::forward_scratch_size(w, g, /*batch=*/1, /*with_pos=*/false, need);
      s != gpsa::status::ok)
    return s;
  if (need > scratch_floats) return gpsa::status::buffer_too_small;
  // pos = nullptr: the positional branch is folded (gpsa::fold_positional) into the scratch.
  return gpsa::gpsa_forward(w, g, 1, x, y, /*attn_out=*/nullptr, /*pos=*/nullptr, {scratch, need});
}
// ---- end of README examples ----------------------------------------------------------------

namespace {

using namespace gpsa_test;

TEST(ReadmeRuntime, ExamplesRunOnGoldenCase) {
  const fs::path d = golden_dir() / "s14_h4_c192_convit_tiny";
  const auto want = gpsa::io::read_npy(d / "y.npy");
  const std::vector<float> y =
      run_layer((d / "weights.safetensors").c_str(), (d / "x.npy").c_str());
  EXPECT_LE(max_abs_diff(y, want.data), 1e-4 * max_abs(want.data));

  const gpsa::layer l = gpsa::layer::load(d / "weights.safetensors");
  const auto x = gpsa::io::read_npy(d / "x.npy");
  std::vector<float> y2(x.data.size()), scratch(1 << 20);
  ASSERT_EQ(
      run_core(l.weights(), {14, 14}, x.data.data(), y2.data(), scratch.data(), scratch.size()),
      gpsa::status::ok);
  EXPECT_LE(max_abs_diff(y2, want.data), 1e-4 * max_abs(want.data));
}

}  // namespace
