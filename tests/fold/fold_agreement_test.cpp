// SPDX-License-Identifier: MIT
// One folded state, four producers: the compile-time fold (gpsa::layer_fold), the run-time fold
// (gpsa::layer_fold), the C API (gpsa_fold) and the runtime (gpsa::folded_state,
// gpsa::layer::set_grid) give the same bits for lambda and for every factor. lambda is computed
// once, by the fold's constexpr sigmoid; the kernels read it from the view.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <span>
#include <vector>

#include "gpsa/core/fold.hpp"
#include "gpsa/gpsa.h"
#include "gpsa/runtime/folded_state.hpp"
#include "gpsa/runtime/layer.hpp"

namespace {

using gpsa::grid;
using gpsa::status;

// 5 heads on a 4 x 6 grid: local_init-like, sharp, flat, and gates from -100 to 100.
constexpr std::size_t H = 5, R = 4, C = 6;
constexpr std::array<float, 3 * H> kWeight = {-1.0f,  -1.0f, -1.0f,  2.0f, 0.5f,
                                              -3.25f, 0.0f,  0.0f,   0.0f, 0.75f,
                                              -1.5f,  -0.1f, -40.0f, 7.0f, -12.0f};
constexpr std::array<float, H> kGating = {1.0f, -100.0f, 100.0f, 0.3f, -2.5f};
constexpr std::array<float, H> kBias = {0.5f, -1.0f, 3.0f, 0.0f, 9.0f};  // cancels in the fold
constexpr auto kBaked = gpsa::layer_fold<H, R, C>(kWeight, kGating);
static_assert(kBaked.state == status::ok);

bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void expect_same(const gpsa::folded_view& v, const char* who) {
  ASSERT_EQ(v.heads, H) << who;
  ASSERT_EQ(v.shape, (grid{R, C})) << who;
  EXPECT_TRUE(same_bits({v.fx, H * C * C}, kBaked.fx)) << who << ": fx";
  EXPECT_TRUE(same_bits({v.gy, H * R * R}, kBaked.gy)) << who << ": gy";
  EXPECT_TRUE(same_bits({v.lambda, H}, kBaked.lambda)) << who << ": lambda";
}

TEST(FoldAgreement, ConstexprRuntimeCApiFoldedStateAndLayer) {
  // run time, through opaque copies so the compiler cannot fold the call
  std::vector<float> w(kWeight.begin(), kWeight.end()), g(kGating.begin(), kGating.end()),
      b(kBias.begin(), kBias.end());
  volatile float keep = w[0];
  w[0] = keep;
  std::vector<float> fx(H * C * C), gy(H * R * R), lam(H);
  ASSERT_EQ(gpsa::layer_fold({R, C}, H, w, b, g, fx, gy, lam), status::ok);
  expect_same({H, {R, C}, fx.data(), gy.data(), lam.data()}, "layer_fold");

  // the C API, and its gpsa_folded_view is the same view
  std::vector<float> cfx(fx.size()), cgy(gy.size()), clam(H);
  ASSERT_EQ(gpsa_layer_fold(R, C, H, w.data(), b.data(), g.data(), cfx.data(), cfx.size(),
                            cgy.data(), cgy.size(), clam.data(), clam.size()),
            GPSA_OK);
  expect_same({H, {R, C}, cfx.data(), cgy.data(), clam.data()}, "gpsa_fold");
  const gpsa_folded_view cview = {H, R, C, cfx.data(), cgy.data(), clam.data()};
  std::vector<float> e1(R * C * R * C), e2(e1.size());
  ASSERT_EQ(gpsa_positional_expand(&cview, 3, e1.data(), e1.size()), GPSA_OK);
  ASSERT_EQ(gpsa::positional_expand(kBaked.view(), 3, e2), status::ok);
  EXPECT_TRUE(same_bits(e1, e2));

  // the runtime's owning type and the layer
  const gpsa::folded_state state({R, C}, H, w, b, g);
  expect_same(state.view(), "folded_state");
  gpsa::layer_params p;
  p.heads = H;
  p.dim = 2 * H;
  p.qk_weight.assign(2 * p.dim * p.dim, 0.0f);
  p.v_weight.assign(p.dim * p.dim, 0.0f);
  p.proj_weight.assign(p.dim * p.dim, 0.0f);
  p.proj_bias.assign(p.dim, 0.0f);
  p.pos_proj_weight = w;
  p.pos_proj_bias = b;
  p.gating_param = g;
  const gpsa::layer l(p, grid{R, C});
  expect_same(l.folded(), "gpsa::layer");
}

// The blend reads the fold's lambda: with zero qk weights the content attention is uniform
// (1/N), so attn = ((1 - lambda) / N + lambda * position) / row sum -- recomputed here in float64
// from the baked lambda and factors.
TEST(FoldAgreement, LayerAttentionUsesTheFoldsLambda) {
  gpsa::layer_params p;
  p.heads = H;
  p.dim = 2 * H;
  p.qk_weight.assign(2 * p.dim * p.dim, 0.0f);
  p.v_weight.assign(p.dim * p.dim, 0.0f);
  p.proj_weight.assign(p.dim * p.dim, 0.0f);
  p.proj_bias.assign(p.dim, 0.0f);
  p.pos_proj_weight.assign(kWeight.begin(), kWeight.end());
  p.pos_proj_bias.assign(H, 0.0f);
  p.gating_param.assign(kGating.begin(), kGating.end());
  const gpsa::layer l(p, grid{R, C});
  const std::size_t N = R * C;
  const std::vector<float> x(N * p.dim, 0.25f);
  const std::vector<float> attn = l.attention(x, 1);
  double worst = 0;
  for (std::size_t h = 0; h < H; ++h) {
    const double lam = kBaked.lambda[h];
    for (std::size_t q = 0; q < N; ++q) {
      double row[R * C], sum = 0;
      for (std::size_t k = 0; k < N; ++k)
        sum += row[k] = (1.0 - lam) / N + lam * kBaked.view().position(h, q, k);
      for (std::size_t k = 0; k < N; ++k)
        worst = std::max(worst, std::fabs(attn[(h * N + q) * N + k] - row[k] / sum));
    }
  }
  EXPECT_LE(worst, 1e-6);
}

}  // namespace
