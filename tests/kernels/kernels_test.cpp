// SPDX-License-Identifier: MIT
// Core GPSA kernels (gpsa/core/layer.hpp) against an independent float64 computation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "gpsa/core/fold.hpp"
#include "gpsa/core/layer.hpp"
#include "gpsa/core/positional.hpp"
#include "gpsa/rel_indices.hpp"
#include "reference.hpp"

namespace {

using gpsa::grid;
using gpsa::status;
using namespace gpsa_test;

const grid kGrids[] = {{1, 1}, {1, 5}, {4, 1}, {2, 2}, {3, 5}, {7, 7}, {14, 14}};

// The separable factors through the library's one implementation (gpsa/core/fold.hpp); the gating
// (and so lambda) does not matter for the factors.
status fold_factors(grid g, std::size_t H, const fvec& w, fvec& fx, fvec& gy) {
  const fvec gating(H, 0.0f);
  fvec lam(H);
  return gpsa::layer_fold(g, H, w, {}, gating, fx, gy, lam);
}

// (H, N, N) = gy[h] (x) fx[h] for every head, through gpsa::positional_expand.
status expand_factors(grid g, std::size_t H, const fvec& fx, const fvec& gy, fvec& out) {
  const fvec lam(H, 0.0f);
  const gpsa::folded_view f{H, g, fx.data(), gy.data(), lam.data()};
  const std::size_t nn = g.patches() * g.patches();
  if (out.size() < H * nn) return status::buffer_too_small;
  for (std::size_t h = 0; h < H; ++h)
    if (const status s = gpsa::positional_expand(f, h, std::span<float>(out).subspan(h * nn, nn));
        s != status::ok)
      return s;
  return status::ok;
}

std::size_t count_nonfinite(const fvec& v) {
  std::size_t n = 0;
  for (float f : v) n += std::isfinite(f) ? 0 : 1;
  return n;
}

// ---- positional branch --------------------------------------------------------------------

TEST(Positional, LogitsMatchFormula) {
  std::mt19937 rng(1);
  for (grid g : kGrids) {
    const std::size_t H = 3, N = g.patches();
    const fvec w = uniform(rng, 3 * H, -3, 3), b = uniform(rng, H, -1, 1);
    fvec out(H * N * N);
    ASSERT_EQ(gpsa::pos_logits(g, H, w, b, out), status::ok);
    const dvec ref = gpsa_test::pos_logits(g.rows, g.cols, H, w, b);
    for (std::size_t i = 0; i < out.size(); ++i)
      ASSERT_NEAR(out[i], ref[i], 1e-6 * std::max(1.0, std::abs(ref[i])))
          << g.rows << "x" << g.cols << " i=" << i;
  }
}

TEST(Positional, LogitsFromTableAreBitIdenticalToOffsetPath) {
  std::mt19937 rng(2);
  const std::size_t H = 5;
  const fvec w = uniform(rng, 3 * H, -3, 3), b = uniform(rng, H, -1, 1);
  // baked table
  {
    const grid g{7, 7};
    fvec a(H * 49 * 49), t(H * 49 * 49);
    ASSERT_EQ(gpsa::pos_logits(g, H, w, b, a), status::ok);
    ASSERT_EQ(gpsa::pos_logits_from_table(gpsa::rel_indices_v<7>.view(), H, w, b, t), status::ok);
    EXPECT_EQ(std::memcmp(a.data(), t.data(), a.size() * sizeof(float)), 0);
  }
  // runtime-filled rectangular table
  {
    const grid g{3, 5};
    const std::size_t N = 15;
    fvec table(N * N * 3), a(H * N * N), t(H * N * N);
    ASSERT_EQ(gpsa::fill_rel_indices(g, std::span<float>(table)), status::ok);
    ASSERT_EQ(gpsa::pos_logits(g, H, w, {}, a), status::ok);
    ASSERT_EQ(gpsa::pos_logits_from_table({table.data(), g}, H, w, {}, t), status::ok);
    EXPECT_EQ(std::memcmp(a.data(), t.data(), a.size() * sizeof(float)), 0);
  }
}

TEST(Positional, AttentionDenseAndFactoredMatchFloat64) {
  std::mt19937 rng(3);
  for (grid g : kGrids) {
    const std::size_t H = 4, N = g.patches();
    const fvec w = uniform(rng, 3 * H, -3, 3), b = uniform(rng, H, -1, 1);
    const dvec ref = gpsa_test::pos_attention(g.rows, g.cols, H, w, b);
    fvec dense(H * N * N), table(N * N * 3), from_table(H * N * N);
    ASSERT_EQ(gpsa::pos_attention(g, H, w, b, dense), status::ok);
    ASSERT_EQ(gpsa::fill_rel_indices(g, std::span<float>(table)), status::ok);
    ASSERT_EQ(gpsa::pos_attention_from_table({table.data(), g}, H, w, b, from_table), status::ok);
    gpsa::fold_counts counts{};
    ASSERT_EQ(gpsa::layer_folded_size(g, H, counts), status::ok);
    const std::size_t nfx = counts.fx, ngy = counts.gy;
    EXPECT_EQ(nfx, H * g.cols * g.cols);
    EXPECT_EQ(ngy, H * g.rows * g.rows);
    fvec fx(nfx), gy(ngy), expanded(H * N * N);
    ASSERT_EQ(fold_factors(g, H, w, fx, gy), status::ok);
    ASSERT_EQ(expand_factors(g, H, fx, gy, expanded), status::ok);
    // The dense path rounds logits of magnitude up to ~1e3 to float (error ~3e-5 absolute), so
    // against the exact softmax it is held to the golden attention tolerance, and to 1e-6
    // against the exact softmax of those float-rounded logits (LogitsMatchFormula checks them).
    dvec rounded = gpsa_test::pos_logits(g.rows, g.cols, H, w, b);
    for (auto& v : rounded) v = static_cast<float>(v);
    gpsa_test::softmax_rows(rounded, H * N, N);
    EXPECT_LE(max_abs_diff(dense, rounded), 1e-6) << g.rows << "x" << g.cols;
    EXPECT_LE(max_abs_diff(from_table, rounded), 1e-6) << g.rows << "x" << g.cols;
    EXPECT_LE(max_abs_diff(dense, ref), 1e-5) << g.rows << "x" << g.cols;
    // The factors' logits are small (one axis each), so they match the exact softmax tightly.
    EXPECT_LE(max_abs_diff(expanded, ref), 1e-6) << g.rows << "x" << g.cols;
  }
}

// alpha = 40: every head is essentially one-hot on its offset; logits reach -40*(13^2+13^2).
TEST(Stability, SharpLocalityAlpha40) {
  const grid g{14, 14};
  const std::size_t H = 9, N = 196;
  fvec w(3 * H, 0.0f), b(H, 0.0f);
  ASSERT_EQ(gpsa::local_init(H, 40.0f, w), status::ok);
  const dvec ref = gpsa_test::pos_attention(14, 14, H, w, b);
  fvec dense(H * N * N), fx(H * 14 * 14), gy(H * 14 * 14), expanded(H * N * N);
  ASSERT_EQ(gpsa::pos_attention(g, H, w, b, dense), status::ok);
  ASSERT_EQ(fold_factors(g, H, w, fx, gy), status::ok);
  ASSERT_EQ(expand_factors(g, H, fx, gy, expanded), status::ok);
  EXPECT_EQ(count_nonfinite(dense), 0u);
  EXPECT_EQ(count_nonfinite(expanded), 0u);
  EXPECT_LE(max_abs_diff(dense, ref), 1e-6);
  EXPECT_LE(max_abs_diff(expanded, ref), 1e-6);
  // head h = h1 + 3*h2 attends to offset (dx, dy) = (h2-1, h1-1): check at interior query (7,7)
  const std::size_t p = 7 * 14 + 7;
  for (std::size_t h1 = 0; h1 < 3; ++h1)
    for (std::size_t h2 = 0; h2 < 3; ++h2) {
      const std::size_t h = h1 + 3 * h2;
      const std::size_t q = (7 + h1 - 1) * 14 + (7 + h2 - 1);
      EXPECT_GT(dense[(h * N + p) * N + q], 0.999f) << "head " << h;
    }
}

TEST(Stability, HugePositionalLogits) {
  const grid g{7, 7};
  const std::size_t H = 2, N = 49;
  const fvec w{1e3f, -1e3f, -1e3f, -250.0f, 500.0f, -300.0f}, b{1e4f, -1e4f};
  const dvec ref = gpsa_test::pos_attention(7, 7, H, w, b);
  fvec dense(H * N * N);
  ASSERT_EQ(gpsa::pos_attention(g, H, w, b, dense), status::ok);
  EXPECT_EQ(count_nonfinite(dense), 0u);
  EXPECT_LE(max_abs_diff(dense, ref), 1e-6);
}

// ---- content scores -----------------------------------------------------------------------

TEST(Stability, ContentLogitsPlusMinus1e4) {
  // d = 2, scale 1: logits q.k of +-1e4 and neighbours (10000, 9999.5, 9999, -10000, ...),
  // every product and sum exact in float, so only the softmax itself is under test.
  const fvec q{100.0f, 1.0f, -100.0f, 0.0f, 0.0f, 100.0f};                 // 3 x 2
  const fvec k{100.0f, 0.0f, 100.0f, -0.5f, 99.0f, 99.0f, -100.0f, 0.0f};  // 4 x 2
  fvec out(3 * 4);
  ASSERT_EQ(gpsa::content_attention(3, 4, 2, 1.0f, q.data(), 2, k.data(), 2, out.data(), 4),
            status::ok);
  EXPECT_EQ(count_nonfinite(out), 0u);
  dvec ref(12);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 4; ++j)
      ref[i * 4 + j] = double(q[2 * i]) * k[2 * j] + double(q[2 * i + 1]) * k[2 * j + 1];
  gpsa_test::softmax_rows(ref, 3, 4);
  EXPECT_LE(max_abs_diff(out, ref), 1e-6);
}

TEST(Content, ScaledScoresMatchFloat64) {
  std::mt19937 rng(4);
  const std::size_t nq = 9, nk = 7, d = 5, ld = 8;
  const fvec q = uniform(rng, nq * ld, -2, 2), k = uniform(rng, nk * ld, -2, 2);
  const float scale = gpsa::head_scale(d);
  EXPECT_FLOAT_EQ(scale, static_cast<float>(1.0 / std::sqrt(5.0)));
  fvec out(nq * 10, -7.0f);
  ASSERT_EQ(gpsa::content_attention(nq, nk, d, scale, q.data(), ld, k.data(), ld, out.data(), 10),
            status::ok);
  dvec ref(nq * nk);
  for (std::size_t i = 0; i < nq; ++i)
    for (std::size_t j = 0; j < nk; ++j) {
      double s = 0;
      for (std::size_t t = 0; t < d; ++t) s += double(q[i * ld + t]) * k[j * ld + t];
      ref[i * nk + j] = s / std::sqrt(5.0);
    }
  gpsa_test::softmax_rows(ref, nq, nk);
  for (std::size_t i = 0; i < nq; ++i) {
    for (std::size_t j = 0; j < nk; ++j) EXPECT_NEAR(out[i * 10 + j], ref[i * nk + j], 1e-6);
    for (std::size_t j = nk; j < 10; ++j) EXPECT_EQ(out[i * 10 + j], -7.0f) << "wrote past a row";
  }
}

// ---- gate ---------------------------------------------------------------------------------

// lambda is the fold's (gpsa::layer_fold, constexpr sigmoid): accurate against float64 for
// gates in [-100, 100]; with nonfinite_policy::propagate, +-Inf give exactly 1 / 0 and NaN NaN.
TEST(Gate, FoldLambdaIsStable) {
  const float inf = std::numeric_limits<float>::infinity();
  const fvec gates = {
      -100.0f, -30.0f, -3.0f, -1e-3f, 0.0f, 1e-3f, 1.0f,
      2.0f,    9.0f,   30.0f, 100.0f, inf,  -inf,  std::numeric_limits<float>::quiet_NaN()};
  const std::size_t H = gates.size();
  const grid g{1, 2};
  const fvec w(3 * H, 0.0f);
  fvec fx(H * 4), gy(H), lam(H);
  ASSERT_EQ(gpsa::layer_fold(g, H, w, {}, gates, fx, gy, lam), status::invalid_argument)
      << "reject is the default";
  ASSERT_EQ(gpsa::layer_fold(g, H, w, {}, gates, fx, gy, lam, gpsa::nonfinite_policy::propagate),
            status::ok);
  for (std::size_t h = 0; h + 3 < H; ++h) {
    const double ref = 1.0 / (1.0 + std::exp(-double(gates[h])));
    EXPECT_TRUE(std::isfinite(lam[h])) << gates[h];
    // relative accuracy, down to float's subnormal spacing
    EXPECT_NEAR(lam[h], ref, std::max(ref * 1e-7, 1.5e-45)) << gates[h];
  }
  EXPECT_EQ(lam[H - 3], 1.0f);
  EXPECT_EQ(lam[H - 4], 1.0f);  // sigmoid(100) rounds to 1 in float
  EXPECT_EQ(lam[H - 2], 0.0f);
  EXPECT_TRUE(std::isnan(lam[H - 1]));
  EXPECT_EQ(count_nonfinite(fx) + count_nonfinite(gy), 0u) << "finite weights, finite factors";
}

// gated_blend_rows: (1-l) c + l p, each row divided by its sum, with l the fold's lambda, for
// gates +-100 and in between; p from the fold's factors, the blend recomputed in float64.
TEST(Gate, BlendPlusMinus100) {
  std::mt19937 rng(5);
  const grid g{2, 3};
  const std::size_t N = 6, rows = 4, p0 = 1;
  const fvec w = uniform(rng, 3, -2, 2);
  const fvec c = uniform(rng, rows * N, 0.0f, 1.0f);
  for (float gate : {-100.0f, -3.0f, 0.0f, 2.0f, 100.0f}) {
    const fvec gating{gate};
    fvec fx(9), gy(4), lam(1), pos(N * N);
    ASSERT_EQ(gpsa::layer_fold(g, 1, w, {}, gating, fx, gy, lam), status::ok);
    const gpsa::folded_view view{1, g, fx.data(), gy.data(), lam.data()};
    ASSERT_EQ(gpsa::positional_expand(view, 0, pos), status::ok);
    fvec a = c;
    ASSERT_EQ(gpsa::gated_blend_rows(view, 0, p0, rows, a.data(), N, a.data(), N), status::ok);
    const double l = lam[0];
    for (std::size_t i = 0; i < rows; ++i) {
      double s = 0;
      dvec r(N);
      for (std::size_t j = 0; j < N; ++j)
        s += (r[j] = (1 - l) * c[i * N + j] + l * pos[(p0 + i) * N + j]);
      for (std::size_t j = 0; j < N; ++j) ASSERT_NEAR(a[i * N + j], r[j] / s, 1e-6) << "g=" << gate;
    }
  }
}

// ---- local_init ---------------------------------------------------------------------------

// timm's GPSA.local_init, transcribed: kernel_size = int(H ** .5), center = (kernel_size-1)/2;
// for h1, h2 in range(kernel_size): position = h1 + kernel_size*h2, weight[position, 2] = -1,
// weight[position, 1] = 2*(h1-center), weight[position, 0] = 2*(h2-center); then
// pos_proj.weight.data *= locality_strength -- the WHOLE float32 weight, heads >= K^2 included.
fvec timm_local_init(std::size_t H, float alpha, fvec weight) {
  const auto K = static_cast<std::size_t>(std::sqrt(static_cast<double>(H)));
  const double center = (static_cast<double>(K) - 1.0) / 2.0;
  for (std::size_t h1 = 0; h1 < K; ++h1)
    for (std::size_t h2 = 0; h2 < K; ++h2) {
      const std::size_t position = h1 + K * h2;
      weight[3 * position + 2] = -1.0f;
      weight[3 * position + 1] = static_cast<float>(2.0 * (static_cast<double>(h1) - center));
      weight[3 * position + 0] = static_cast<float>(2.0 * (static_cast<double>(h2) - center));
    }
  for (float& v : weight) v *= alpha;  // a float32 tensor times a Python float: float32 product
  return weight;
}

TEST(LocalInit, MatchesTimmIncludingHeadsPastKSquared) {
  std::mt19937 rng(21);
  for (std::size_t H : {1u, 2u, 4u, 5u, 9u, 10u, 12u, 16u, 17u}) {
    for (float alpha : {1.0f, 2.0f, 0.5f, 40.0f}) {
      const fvec before = uniform(rng, 3 * H, -1.0f, 1.0f);  // nn.Linear's random init
      fvec w = before;
      ASSERT_EQ(gpsa::local_init(H, alpha, w), status::ok);
      const fvec want = timm_local_init(H, alpha, before);
      for (std::size_t i = 0; i < 3 * H; ++i)
        EXPECT_EQ(w[i], want[i]) << "H=" << H << " alpha=" << alpha << " i=" << i;
    }
  }
}

// The two cases the issue names, spelled out: H = 5 (K = 2, head 4 past K^2) and H = 12
// (K = 3, heads 9..11 past K^2), alpha = 2.
TEST(LocalInit, ExtraHeadsAreScaledByAlpha) {
  for (std::size_t H : {5u, 12u}) {
    const std::size_t K = H == 5 ? 2 : 3;
    fvec w(3 * H);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.125f * static_cast<float>(i + 1);
    const fvec before = w;
    ASSERT_EQ(gpsa::local_init(H, 2.0f, w), status::ok);
    for (std::size_t h = K * K; h < H; ++h)
      for (std::size_t j = 0; j < 3; ++j)
        EXPECT_EQ(w[3 * h + j], 2.0f * before[3 * h + j]) << "H=" << H << " h=" << h;
    // head 0 = (h1, h2) = (0, 0): 2 * (2(0-c), 2(0-c), -1) with c = (K-1)/2
    const float off = 2.0f * -(static_cast<float>(K) - 1.0f);
    EXPECT_EQ(w[0], off);
    EXPECT_EQ(w[1], off);
    EXPECT_EQ(w[2], -2.0f);
  }
}

TEST(LocalInit, IdentityValueAndErrors) {
  fvec v(16, 5.0f), w(12, 0.0f);
  ASSERT_EQ(gpsa::local_init(4, 1.0f, 4, w, v), status::ok);
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 4; ++j) EXPECT_EQ(v[i * 4 + j], i == j ? 1.0f : 0.0f);
  fvec small_v(15, 5.0f), w2(12, 9.0f);
  EXPECT_EQ(gpsa::local_init(4, 1.0f, 4, w2, small_v), status::buffer_too_small);
  for (float f : w2) EXPECT_EQ(f, 9.0f) << "failed call must not write";
  EXPECT_EQ(gpsa::local_init(5, 1.0f, w), status::buffer_too_small);
  EXPECT_EQ(gpsa::local_init(0, 1.0f, w), status::invalid_argument);
  EXPECT_EQ(gpsa::identity_init(0, v), status::invalid_argument);
}

// ---- nonlocality --------------------------------------------------------------------------

TEST(Nonlocality, SinglePatchIsZero) {
  fvec attn{1.0f, 1.0f, 1.0f}, dist(3, -1.0f);
  ASSERT_EQ(gpsa::nonlocality({1, 1}, 3, 1, attn, dist), status::ok);
  for (float d : dist) EXPECT_EQ(d, 0.0f);
}

TEST(Nonlocality, MatchesFloat64) {
  std::mt19937 rng(7);
  const std::size_t R = 3, C = 5, N = 15, H = 4, B = 2;
  const fvec attn = uniform(rng, B * H * N * N, 0.0f, 1.0f);
  fvec dist(H);
  ASSERT_EQ(gpsa::nonlocality({R, C}, H, B, attn, dist), status::ok);
  const dvec ref = gpsa_test::dist(R, C, H, B, attn);
  EXPECT_LE(max_abs_diff(dist, ref), 1e-6);
  EXPECT_EQ(gpsa::nonlocality({R, C}, H, 0, attn, dist), status::invalid_argument);
  fvec short_dist(H - 1);
  EXPECT_EQ(gpsa::nonlocality({R, C}, H, B, attn, short_dist), status::buffer_too_small);
  EXPECT_EQ(gpsa::nonlocality({R, C}, H, 1, attn, dist), status::shape_mismatch);
}

// ---- full layer ---------------------------------------------------------------------------

struct fwd_case {
  grid g;
  std::size_t H, D, B;
  bool bias;
};

// Runs layer_forward on the layer's fold with a scratch of exactly the queried size followed by
// guard values.
fvec run_forward(const rand_layer& l, grid g, std::size_t B, const fvec& x, fvec* attn) {
  const gpsa::layer_weights w = l.view();
  const std::size_t N = g.patches(), H = l.H;
  const folded_buffers f(l, g);
  EXPECT_EQ(f.code, status::ok);
  std::size_t need = 0;
  EXPECT_EQ(gpsa::layer_scratch_size(gpsa::dims_of(w, f.view(), B), 1, need), status::ok);
  const float guard = 1234.5f;
  fvec scratch(need + 64, guard);
  fvec y(B * N * l.D, std::numeric_limits<float>::quiet_NaN());
  if (attn != nullptr) attn->assign(B * H * N * N, std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(
      gpsa::layer_forward(w, f.view(), B, x, y, attn ? std::span<float>(*attn) : std::span<float>(),
                          std::span<float>(scratch.data(), need)),
      status::ok);
  for (std::size_t i = need; i < scratch.size(); ++i)
    EXPECT_EQ(scratch[i], guard) << "scratch overrun at " << i;
  return y;
}

class Forward : public ::testing::TestWithParam<fwd_case> {};

TEST_P(Forward, MatchesFloat64Reference) {
  const fwd_case c = GetParam();
  const rand_layer l = make_layer(c.H, c.D, c.bias, 100 + static_cast<unsigned>(c.D));
  std::mt19937 rng(8);
  const fvec x = uniform(rng, c.B * c.g.patches() * c.D, -2.0f, 2.0f);
  dvec ref_attn;
  const dvec ref_y = gpsa_test::forward(l, c.g.rows, c.g.cols, x, c.B, &ref_attn);
  const double ymax = max_abs(ref_y);
  fvec attn;
  const fvec y = run_forward(l, c.g, c.B, x, &attn);
  EXPECT_LE(max_abs_diff(attn, ref_attn), 1e-6);
  EXPECT_LE(max_abs_diff(y, ref_y), 1e-5 * ymax);
  // Without attn the fused path runs (separable position @ v, no renormalisation): a different
  // rounding, held to the same float64 bound as the exact path.
  const fvec y_no_attn = run_forward(l, c.g, c.B, x, nullptr);
  EXPECT_LE(max_abs_diff(y_no_attn, ref_y), 1e-5 * ymax) << "fused";
  // layer_attention agrees with the forward's attention bit for bit
  const gpsa::layer_weights w = l.view();
  const folded_buffers f(l, c.g);
  std::size_t need = 0;
  ASSERT_EQ(gpsa::layer_scratch_size(gpsa::dims_of(w, f.view(), c.B), 1, need), status::ok);
  fvec scratch(need), attn2(c.B * c.H * c.g.patches() * c.g.patches());
  ASSERT_EQ(gpsa::layer_attention(w, f.view(), c.B, x, attn2, scratch), status::ok);
  EXPECT_EQ(attn2, attn);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Forward,
    ::testing::Values(fwd_case{{1, 1}, 1, 8, 1, false}, fwd_case{{2, 2}, 4, 16, 2, false},
                      fwd_case{{3, 5}, 3, 12, 3, true}, fwd_case{{4, 4}, 9, 36, 2, true},
                      fwd_case{{5, 2}, 2, 10, 1, false}, fwd_case{{7, 7}, 4, 64, 2, false}));

TEST(ForwardBatch, BatchEqualsSingleRuns) {
  const grid g{3, 4};
  const std::size_t B = 4, N = 12, D = 24, H = 4;
  const rand_layer l = make_layer(H, D, true, 9);
  std::mt19937 rng(10);
  const fvec x = uniform(rng, B * N * D, -2, 2);
  fvec attn;
  const fvec y = run_forward(l, g, B, x, &attn);
  for (std::size_t b = 0; b < B; ++b) {
    const fvec xb(x.begin() + b * N * D, x.begin() + (b + 1) * N * D);
    fvec ab;
    const fvec yb = run_forward(l, g, 1, xb, &ab);
    const fvec ys(y.begin() + b * N * D, y.begin() + (b + 1) * N * D);
    const fvec as(attn.begin() + b * H * N * N, attn.begin() + (b + 1) * H * N * N);
    EXPECT_LE(max_abs_diff(ys, yb), 1e-6 * max_abs(yb)) << "item " << b;
    EXPECT_LE(max_abs_diff(as, ab), 1e-7) << "item " << b;
  }
}

TEST(ForwardBatch, InPlaceOutput) {
  const grid g{4, 4};
  const rand_layer l = make_layer(4, 16, false, 11);
  std::mt19937 rng(12);
  const fvec x = uniform(rng, 2 * 16 * 16, -1, 1);
  const fvec y = run_forward(l, g, 2, x, nullptr);
  fvec xy = x;
  const gpsa::layer_weights w = l.view();
  const folded_buffers f(l, g);
  std::size_t need = 0;
  ASSERT_EQ(gpsa::layer_scratch_size(gpsa::dims_of(w, f.view(), 2), 1, need), status::ok);
  fvec scratch(need);
  ASSERT_EQ(gpsa::layer_forward(w, f.view(), 2, xy, xy, {}, scratch), status::ok);
  EXPECT_EQ(std::memcmp(xy.data(), y.data(), y.size() * sizeof(float)), 0);
}

// Stability through the whole layer: sharp local_init (alpha 40) with gating +-100.
TEST(Stability, ForwardSharpLocalityAndSaturatedGates) {
  const grid g{6, 6};
  const std::size_t H = 4, D = 16, N = 36, B = 2;
  rand_layer l = make_layer(H, D, false, 13);
  ASSERT_EQ(gpsa::local_init(H, 40.0f, D, l.pos_w, l.v_w), status::ok);
  l.gating = {100.0f, -100.0f, 9.0f, -3.0f};
  std::mt19937 rng(14);
  const fvec x = uniform(rng, B * N * D, -2, 2);
  dvec ref_attn;
  const dvec ref_y = gpsa_test::forward(l, 6, 6, x, B, &ref_attn);
  fvec attn;
  const fvec y = run_forward(l, g, B, x, &attn);
  EXPECT_EQ(count_nonfinite(attn) + count_nonfinite(y), 0u);
  EXPECT_LE(max_abs_diff(attn, ref_attn), 1e-6);
  EXPECT_LE(max_abs_diff(y, ref_y), 1e-5 * max_abs(ref_y));
}

// Inputs so large that content logits reach ~1e4: no overflow, no NaN, rows still sum to 1.
// (Float32 rounding of logits of 1e4 is ~1e-3, so the comparison with float64 is loose here;
// the tight check of the softmax itself is ContentLogitsPlusMinus1e4.)
TEST(Stability, ForwardHugeContentLogits) {
  const grid g{3, 3};
  const std::size_t H = 1, D = 4, N = 9;
  rand_layer l = make_layer(H, D, false, 15);
  l.gating = {-100.0f};  // content only
  std::mt19937 rng(16);
  fvec x = uniform(rng, N * D, -1, 1);
  for (auto& v : x) v *= 1000.0f;
  fvec attn;
  const fvec y = run_forward(l, g, 1, x, &attn);
  EXPECT_EQ(count_nonfinite(attn) + count_nonfinite(y), 0u);
  for (std::size_t p = 0; p < N; ++p) {
    double s = 0;
    for (std::size_t q = 0; q < N; ++q) s += attn[p * N + q];
    EXPECT_NEAR(s, 1.0, 1e-6);
  }
  dvec ref_attn;
  gpsa_test::forward(l, 3, 3, x, 1, &ref_attn);
  EXPECT_GT(max_abs(ref_attn), 0.9);  // the inputs really are extreme: near one-hot rows
  EXPECT_LE(max_abs_diff(attn, ref_attn), 1e-2);
}

// ---- errors -------------------------------------------------------------------------------

TEST(Errors, StatusCodes) {
  const rand_layer l = make_layer(4, 16, false, 17);
  gpsa::layer_weights w = l.view();
  const grid g{2, 2};
  const folded_buffers f(l, g);
  const gpsa::folded_view pos = f.view();
  fvec x(16 * 4), y(16 * 4), attn(4 * 4 * 4), scratch(100000);
  EXPECT_EQ(gpsa::validate(w), status::ok);
  EXPECT_EQ(gpsa::validate(pos), status::ok);

  gpsa::layer_weights bad = w;
  bad.heads = 0;
  EXPECT_EQ(gpsa::validate(bad), status::invalid_argument);
  bad = w;
  bad.heads = 3;  // 16 % 3 != 0
  EXPECT_EQ(gpsa::layer_forward(bad, pos, 1, x, y, {}, scratch), status::invalid_argument);
  bad = w;
  bad.qk_weight = nullptr;
  EXPECT_EQ(gpsa::layer_forward(bad, pos, 1, x, y, {}, scratch), status::invalid_argument);

  // the folded view: empty grid, missing factors, a different head count
  gpsa::folded_view bad_pos = pos;
  bad_pos.shape = {0, 3};
  EXPECT_EQ(gpsa::layer_forward(w, bad_pos, 1, x, y, {}, scratch), status::empty_grid);
  bad_pos = pos;
  bad_pos.lambda = nullptr;
  EXPECT_EQ(gpsa::layer_forward(w, bad_pos, 1, x, y, {}, scratch), status::invalid_argument);
  bad_pos = pos;
  bad_pos.heads = 2;
  EXPECT_EQ(gpsa::layer_forward(w, bad_pos, 1, x, y, {}, scratch), status::shape_mismatch);
  EXPECT_EQ(gpsa::layer_attention(w, bad_pos, 1, x, attn, scratch), status::shape_mismatch);

  // buffers of the wrong length
  EXPECT_EQ(gpsa::layer_forward(w, pos, 1, std::span<const float>(x).first(63), y, {}, scratch),
            status::shape_mismatch);
  EXPECT_EQ(gpsa::layer_forward(w, pos, 1, x, std::span<float>(y).first(63), {}, scratch),
            status::shape_mismatch);
  EXPECT_EQ(gpsa::layer_forward(w, pos, 1, x, y, std::span<float>(attn).first(63), scratch),
            status::shape_mismatch);
  EXPECT_EQ(gpsa::layer_attention(w, pos, 1, x, {}, scratch), status::shape_mismatch);
  EXPECT_EQ(gpsa::layer_forward(w, pos, 0, {}, {}, {}, {}), status::ok);

  std::size_t need = 0;
  ASSERT_EQ(gpsa::layer_scratch_size(gpsa::dims_of(w, pos, 1), 1, need), status::ok);
  EXPECT_EQ(gpsa::layer_forward(w, pos, 1, x, y, {}, std::span<float>(scratch.data(), need - 1)),
            status::buffer_too_small);
  EXPECT_EQ(gpsa::layer_attention(w, pos, 1, x, attn, std::span<float>(scratch.data(), need - 1)),
            status::buffer_too_small);

  const std::size_t huge = std::size_t{1} << 40;
  EXPECT_EQ(gpsa::layer_scratch_size({4, 16, {huge, huge}, 1}, 1, need), status::size_overflow);
  EXPECT_EQ(gpsa::layer_scratch_size({3, 16, g, 1}, 1, need), status::invalid_argument);
  EXPECT_EQ(gpsa::layer_scratch_size({4, 16, g, 1}, 0, need), status::invalid_argument);
  EXPECT_EQ(gpsa::layer_scratch_size({4, 16, {0, 2}, 1}, 1, need), status::empty_grid);
  std::size_t count = 0;
  EXPECT_EQ(gpsa::pos_logits_size({huge, huge}, 4, count), status::size_overflow);

  fvec small(4 * 4 * 4 - 1);
  EXPECT_EQ(gpsa::pos_logits(g, 4, l.pos_w, {}, small), status::buffer_too_small);
  EXPECT_EQ(gpsa::pos_attention(g, 4, l.pos_w, {}, small), status::buffer_too_small);
  EXPECT_EQ(gpsa::pos_logits(g, 0, l.pos_w, {}, scratch), status::invalid_argument);
  EXPECT_EQ(gpsa::pos_logits(g, 4, {}, {}, scratch), status::shape_mismatch);
  EXPECT_EQ(gpsa::pos_logits(g, 4, std::span(l.pos_w).first(11), {}, scratch),
            status::shape_mismatch);  // weight: 3H floats
  EXPECT_EQ(gpsa::pos_logits(g, 4, l.pos_w, std::span(l.pos_w).first(3), scratch),
            status::shape_mismatch);  // bias: H floats or none
  fvec fx(15), gy(16);
  EXPECT_EQ(fold_factors(g, 4, l.pos_w, fx, gy), status::buffer_too_small);
}

// A NaN / Inf in one head's positional weights, folded with nonfinite_policy::propagate, makes
// that head's attention NaN and leaves the others as with finite weights (PyTorch's semantics,
// docs/reliability.md).
TEST(Errors, PropagatedNonFiniteWeightsPoisonOneHead) {
  rand_layer l = make_layer(3, 12, false, 18);
  const grid g{3, 3};
  const std::size_t N = 9, H = 3;
  std::mt19937 rng(19);
  const fvec x = uniform(rng, N * 12, -1, 1);
  fvec clean;
  run_forward(l, g, 1, x, &clean);
  for (int which = 0; which < 3; ++which) {
    rand_layer bad = l;
    if (which == 0) bad.pos_w[3 * 1 + 2] = std::numeric_limits<float>::quiet_NaN();
    if (which == 1) bad.pos_b[1] = std::numeric_limits<float>::infinity();
    if (which == 2) bad.gating[1] = std::numeric_limits<float>::quiet_NaN();
    const folded_buffers f(bad, g, gpsa::nonfinite_policy::propagate);
    ASSERT_EQ(f.code, status::ok);
    const gpsa::layer_weights w = bad.view();
    std::size_t need = 0;
    ASSERT_EQ(gpsa::layer_scratch_size(gpsa::dims_of(w, f.view(), 1), 1, need), status::ok);
    fvec scratch(need), y(N * 12), attn(H * N * N);
    ASSERT_EQ(gpsa::layer_forward(w, f.view(), 1, x, y, attn, scratch), status::ok);
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t i = 0; i < N * N; ++i) {
        const float a = attn[h * N * N + i];
        if (h == 1)
          ASSERT_TRUE(std::isnan(a)) << which << " " << i;
        else
          ASSERT_EQ(a, clean[h * N * N + i]) << which << " h" << h;
      }
    EXPECT_EQ(count_nonfinite(y), y.size());
  }
}

}  // namespace
