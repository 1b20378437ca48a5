// SPDX-License-Identifier: MIT
// Every golden case of tests/golden/cases.json (PyTorch reference) through gpsa::layer and through
// the core kernels, within the tolerances of cases.json.
#include <gtest/gtest.h>

#include <cstdio>

#include "forward_test_util.hpp"
#include "gpsa/core/layer.hpp"
#include "gpsa/core/positional.hpp"
#include "gpsa/registry.hpp"
#include "gpsa/runtime/layer.hpp"
#include "gpsa/runtime/npy.hpp"

namespace {

using namespace gpsa_test;

struct golden_data {
  golden_case c;
  gpsa::io::tensor x, y, attn, dist;
};

golden_data load(const std::string& name) {
  golden_data g;
  g.c = find_case(name);
  const fs::path d = golden_dir() / name;
  g.x = gpsa::io::read_npy(d / "x.npy");
  g.y = gpsa::io::read_npy(d / "y.npy");
  g.attn = gpsa::io::read_npy(d / "attn.npy");
  g.dist = gpsa::io::read_npy(d / "dist.npy");
  const std::size_t B = g.c.batch, N = g.c.grid * g.c.grid, D = g.c.dim, H = g.c.heads;
  EXPECT_EQ(g.x.shape, (std::vector<std::size_t>{B, N, D}));
  EXPECT_EQ(g.y.shape, (std::vector<std::size_t>{B, N, D}));
  EXPECT_EQ(g.attn.shape, (std::vector<std::size_t>{B, H, N, N}));
  EXPECT_EQ(g.dist.shape, (std::vector<std::size_t>{H}));
  return g;
}

void expect_close(const golden_data& g, const std::vector<float>& y, const std::vector<float>& attn,
                  const std::vector<float>& dist, const char* path) {
  tolerances tol;
  load_cases(&tol);
  const double ymax = max_abs(g.y.data);
  const double ey = max_abs_diff(y, g.y.data), ea = max_abs_diff(attn, g.attn.data),
               ed = max_abs_diff(dist, g.dist.data);
  EXPECT_LE(ey, tol.y_rel_to_max * ymax) << g.c.name << " y";
  EXPECT_LE(ea, tol.attn_abs) << g.c.name << " attn";
  EXPECT_LE(ed, tol.dist_abs) << g.c.name << " dist";
  std::printf(
      "[golden] %-26s %-6s y max abs err %.2e (%.2e of max|y| %.3g)  attn %.2e  dist %.2e\n",
      g.c.name.c_str(), path, ey, ey / ymax, ymax, ea, ed);
  ::testing::Test::RecordProperty("y_err_rel_to_max", std::to_string(ey / ymax));
  ::testing::Test::RecordProperty("attn_err_abs", std::to_string(ea));
  ::testing::Test::RecordProperty("dist_err_abs", std::to_string(ed));
}

class Golden : public ::testing::TestWithParam<std::string> {};

// gpsa::layer from the checkpoint, grid inferred from N (square), cached positional branch.
TEST_P(Golden, LayerApi) {
  const golden_data g = load(GetParam());
  gpsa::layer l = gpsa::layer::load(golden_dir() / g.c.name / "weights.safetensors", g.c.prefix);
  EXPECT_EQ(l.heads(), g.c.heads);
  EXPECT_EQ(l.dim(), g.c.dim);
  EXPECT_EQ(l.has_qkv_bias(), g.c.qkv_bias);
  EXPECT_FALSE(l.patch_grid());
  EXPECT_EQ(l.folded().heads, 0u);

  // Without a fixed grid: square grid of N, positional branch computed per call.
  std::vector<float> attn0, dist0;
  const std::vector<float> y0 = l.forward(g.x.data, g.c.batch, &attn0, &dist0);
  expect_close(g, y0, attn0, dist0, "layer");

  // With the grid fixed: the positional branch is folded once (no table needed).
  l.set_grid({g.c.grid, g.c.grid});
  EXPECT_EQ(l.folded().heads, g.c.heads);
  EXPECT_EQ(l.folded().shape, (gpsa::grid{g.c.grid, g.c.grid}));
  std::vector<float> attn1, dist1;
  const std::vector<float> y1 = l.forward(g.x.data, g.c.batch, &attn1, &dist1);
  EXPECT_EQ(y1, y0);
  EXPECT_EQ(attn1, attn0);
  EXPECT_EQ(dist1, dist0);
  // attention() runs the qk GEMM per item (forward: the whole batch at once), so the GEMM's
  // blocking may round differently in the last bit.
  EXPECT_LE(max_abs_diff(l.attention(g.x.data, g.c.batch), attn0), 1e-7);
}

// The no-heap kernels directly, on a fold into caller-owned buffers (gpsa::layer_fold).
TEST_P(Golden, CoreKernels) {
  const golden_data g = load(GetParam());
  const gpsa::layer l =
      gpsa::layer::load(golden_dir() / g.c.name / "weights.safetensors", g.c.prefix);
  const gpsa::layer_weights w = l.weights();
  const gpsa::layer_params& p = l.params();
  const gpsa::grid grid{g.c.grid, g.c.grid};
  const std::size_t B = g.c.batch, N = grid.patches(), H = w.heads;
  gpsa::fold_counts n{};
  ASSERT_EQ(gpsa::layer_folded_size(grid, H, n), gpsa::status::ok);
  std::vector<float> fx(n.fx), gy(n.gy), lam(n.lambda);
  ASSERT_EQ(
      gpsa::layer_fold(grid, H, p.pos_proj_weight, p.pos_proj_bias, p.gating_param, fx, gy, lam),
      gpsa::status::ok);
  const gpsa::folded_view pos{H, grid, fx.data(), gy.data(), lam.data()};
  std::size_t need = 0;
  ASSERT_EQ(gpsa::layer_scratch_size(gpsa::dims_of(w, pos, B), 1, need), gpsa::status::ok);
  std::vector<float> scratch(need), y(g.x.data.size()), attn(B * H * N * N), dist(H);
  ASSERT_EQ(gpsa::layer_forward(w, pos, B, g.x.data, y, attn, scratch), gpsa::status::ok);
  ASSERT_EQ(gpsa::nonlocality(grid, H, B, attn, dist), gpsa::status::ok);
  expect_close(g, y, attn, dist, "core");
}

// Neither attn nor dist requested: the fused path (row blocks, separable position @ v, no row
// renormalisation), through the layer with and without a fixed grid and through the core kernels
// on the layer's fold. y must meet the golden tolerance, and stay close to the exact
// PyTorch-order path (which the renormalisation skip is argued against in attention.cpp).
TEST_P(Golden, FusedForwardWithoutAttention) {
  const golden_data g = load(GetParam());
  gpsa::layer l = gpsa::layer::load(golden_dir() / g.c.name / "weights.safetensors", g.c.prefix);
  const gpsa::io::tensor& x = g.x;
  tolerances tol{};
  load_cases(&tol);
  const double ymax = max_abs(g.y.data);
  std::vector<float> attn;
  const std::vector<float> exact = l.forward(x.data, g.c.batch, &attn, nullptr);
  const std::vector<float> y0 = l.forward(x.data, g.c.batch);
  l.set_grid({g.c.grid, g.c.grid});
  const std::vector<float> y1 = l.forward(x.data, g.c.batch);
  EXPECT_EQ(y1, y0);
  const double err = max_abs_diff(y1, g.y.data), drift = max_abs_diff(y1, exact);
  EXPECT_LE(err, tol.y_rel_to_max * ymax) << g.c.name;
  EXPECT_LE(drift, 1e-5 * ymax) << g.c.name << " fused vs exact path";
  std::printf("[golden] %-26s fused  y max abs err %.2e (%.2e of max|y|), vs exact path %.2e\n",
              g.c.name.c_str(), err, err / ymax, drift);

  const gpsa::layer_weights w = l.weights();
  std::size_t need = 0;
  ASSERT_EQ(gpsa::layer_scratch_size(gpsa::dims_of(w, l.folded(), g.c.batch), 1, need),
            gpsa::status::ok);
  std::vector<float> scratch(need), y2(x.data.size());
  ASSERT_EQ(gpsa::layer_forward(w, l.folded(), g.c.batch, x.data, y2, {}, scratch),
            gpsa::status::ok);
  EXPECT_LE(max_abs_diff(y2, g.y.data), tol.y_rel_to_max * ymax) << g.c.name << " core";
}

INSTANTIATE_TEST_SUITE_P(Cases, Golden, ::testing::ValuesIn(case_names()),
                         [](const auto& info) { return info.param; });

TEST(GoldenSet, EveryCaseHasItsFiles) {
  const auto cases = load_cases();
  EXPECT_GE(cases.size(), 5u);
  for (const auto& c : cases)
    for (const char* f : {"weights.safetensors", "x.npy", "y.npy", "attn.npy", "dist.npy"})
      EXPECT_TRUE(fs::is_regular_file(golden_dir() / c.name / f)) << c.name << "/" << f;
}

}  // namespace
