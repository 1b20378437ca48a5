// SPDX-License-Identifier: MIT
// The fold: compile-time folds checked by static_assert against closed forms, compile-time ==
// run-time bit for bit (C++ and C API), the factors against an independent float64 dense
// softmax(P), the separable positional product and the gated blend against float64 formulas.
#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <vector>

#include "fold_test_support.hpp"
#include "gpsa/core/fold.hpp"
#include "gpsa/gpsa.h"

namespace {

using gpsa::grid;
using gpsa::status;

// ---- compile-time folds ------------------------------------------------------------------

// local_init (docs/DESIGN.md §6), alpha = 1: K = 3, c = 1, head h = h1 + 3*h2 gets
// (2(h2-c), 2(h1-c), -1), centred on offset (dx, dy) = (h2-c, h1-c).
constexpr std::array<float, 27> local_init_9 = [] {
  std::array<float, 27> w{};
  for (int h2 = 0; h2 < 3; ++h2)
    for (int h1 = 0; h1 < 3; ++h1) {
      const int h = h1 + 3 * h2;
      w[3 * h] = 2.0f * static_cast<float>(h2 - 1);
      w[3 * h + 1] = 2.0f * static_cast<float>(h1 - 1);
      w[3 * h + 2] = -1.0f;
    }
  return w;
}();
constexpr std::array<float, 9> ones_9 = {1, 1, 1, 1, 1, 1, 1, 1, 1};
constexpr auto convit_s = gpsa::layer_fold<9, 14>(local_init_9, ones_9);

// assorted heads on a rectangular grid, including a sharp one and extreme gates
constexpr std::array<float, 12> mixed_w = {0.75f, -1.25f, -0.3f, -2.0f, 0.5f,  -40.0f,
                                           0.0f,  0.0f,   0.0f,  1.5f,  -0.1f, 0.2f};
constexpr std::array<float, 4> mixed_g = {0.0f, 100.0f, -100.0f, -3.5f};
constexpr auto mixed = gpsa::layer_fold<4, 5, 8>(mixed_w, mixed_g);

constexpr std::array<float, 3> zero_w = {0, 0, 0};
constexpr std::array<float, 1> zero_g = {0};
constexpr auto uniform = gpsa::layer_fold<1, 14>(zero_w, zero_g);

constexpr std::array<float, 3> one_dx = {1, 0, 0};
constexpr auto pair = gpsa::layer_fold<1, 1, 2>(one_dx, zero_g);

constexpr std::array<float, 3> very_sharp = {0, 0, -1000};
constexpr auto identity = gpsa::layer_fold<1, 6>(very_sharp, zero_g);

constexpr std::array<float, 3> nan_w = {0, std::numeric_limits<float>::quiet_NaN(), 0};
constexpr std::array<float, 1> inf_g = {std::numeric_limits<float>::infinity()};

static_assert(convit_s.state == status::ok && mixed.state == status::ok);
static_assert(gpsa::layer_fold<1, 3>(nan_w, zero_g).state == status::invalid_argument);
static_assert(gpsa::layer_fold<1, 3>(zero_w, inf_g).state == status::invalid_argument);

// zero weights: every factor is exactly the rounded 1/14, lambda = sigmoid(0) = 1/2
static_assert([] {
  for (const float v : uniform.fx)
    if (v != static_cast<float>(1.0 / 14)) return false;
  for (const float v : uniform.gy)
    if (v != static_cast<float>(1.0 / 14)) return false;
  return uniform.lambda[0] == 0.5f;
}());

// 1 x 2 grid, W0 = 1: row 0 is (1, e)/(1 + e), row 1 (e^-1, 1)/(1 + e^-1) (closed forms, values
// from Python math.exp rounded to float); the single row factor is 1.
static_assert(pair.fx[0] == 0.268941432f && pair.fx[1] == 0.731058598f);
static_assert(pair.fx[2] == 0.268941432f && pair.fx[3] == 0.731058598f);
static_assert(pair.gy[0] == 1.0f);

// W2 = -1000: exp(-1000) underflows in double, the factors are exactly the identity
static_assert([] {
  for (std::size_t i = 0; i < 6; ++i)
    for (std::size_t j = 0; j < 6; ++j)
      if (identity.fx[i * 6 + j] != (i == j ? 1.0f : 0.0f) ||
          identity.gy[i * 6 + j] != (i == j ? 1.0f : 0.0f))
        return false;
  return true;
}());

// ConViT-S local_init: lambda = sigmoid(1); every factor row sums to 1 within float rounding;
// head h1 + 3*h2 peaks at offset dx = h2 - 1 (fx) and dy = h1 - 1 (gy) for an interior query.
static_assert(convit_s.lambda[0] == 0.731058598f && convit_s.lambda[8] == 0.731058598f);
static_assert([] {
  for (std::size_t r = 0; r < 9 * 14; ++r) {
    double sx = 0, sy = 0;
    for (std::size_t j = 0; j < 14; ++j)
      sx += convit_s.fx[r * 14 + j], sy += convit_s.gy[r * 14 + j];
    if (sx - 1 > 1e-6 || 1 - sx > 1e-6 || sy - 1 > 1e-6 || 1 - sy > 1e-6) return false;
  }
  return true;
}());
static_assert([] {
  for (std::size_t h = 0; h < 9; ++h) {
    const std::size_t h1 = h % 3, h2 = h / 3, i = 7;
    std::size_t ax = 0, ay = 0;
    for (std::size_t j = 1; j < 14; ++j) {
      if (convit_s.fx[(h * 14 + i) * 14 + j] > convit_s.fx[(h * 14 + i) * 14 + ax]) ax = j;
      if (convit_s.gy[(h * 14 + i) * 14 + j] > convit_s.gy[(h * 14 + i) * 14 + ay]) ay = j;
    }
    if (ax != i + h2 - 1 || ay != i + h1 - 1) return false;
  }
  return true;
}());
// the view's position() is the product of the factors
static_assert(convit_s.view().position(4, 7 * 14 + 7, 7 * 14 + 7) ==
              convit_s.gy[(4 * 14 + 7) * 14 + 7] * convit_s.fx[(4 * 14 + 7) * 14 + 7]);

// ---- compile time == run time -------------------------------------------------------------

// Copies through volatile so the compiler cannot constant-fold the run-time call.
template <std::size_t N>
std::vector<float> opaque(const std::array<float, N>& a) {
  std::vector<float> v(N);
  for (std::size_t i = 0; i < N; ++i) {
    volatile float x = a[i];
    v[i] = x;
  }
  return v;
}

template <std::size_t H, std::size_t R, std::size_t C, std::size_t NW>
void expect_runtime_equal(const gpsa::folded_layer<H, R, C>& baked, const std::array<float, NW>& w,
                          const std::array<float, H>& g) {
  const std::vector<float> rw = opaque(w), rg = opaque(g);
  std::vector<float> fx(H * C * C, -1.0f), gy(H * R * R, -1.0f), lam(H, -1.0f);
  ASSERT_EQ(gpsa::layer_fold(grid{R, C}, H, rw, {}, rg, fx, gy, lam), status::ok);
  EXPECT_EQ(std::memcmp(fx.data(), baked.fx, sizeof baked.fx), 0);
  EXPECT_EQ(std::memcmp(gy.data(), baked.gy, sizeof baked.gy), 0);
  EXPECT_EQ(std::memcmp(lam.data(), baked.lambda, sizeof baked.lambda), 0);
  // and through the C API (compiled in gpsa::core, another translation unit)
  std::vector<float> cfx(H * C * C), cgy(H * R * R), clam(H);
  ASSERT_EQ(gpsa_layer_fold(R, C, H, rw.data(), nullptr, rg.data(), cfx.data(), cfx.size(),
                            cgy.data(), cgy.size(), clam.data(), clam.size()),
            GPSA_OK);
  EXPECT_EQ(std::memcmp(cfx.data(), baked.fx, sizeof baked.fx), 0);
  EXPECT_EQ(std::memcmp(cgy.data(), baked.gy, sizeof baked.gy), 0);
  EXPECT_EQ(std::memcmp(clam.data(), baked.lambda, sizeof baked.lambda), 0);
}

TEST(FoldConstexpr, RuntimeFoldIsBitIdenticalToCompileTimeFold) {
  expect_runtime_equal(convit_s, local_init_9, ones_9);
  expect_runtime_equal(mixed, mixed_w, mixed_g);
  expect_runtime_equal(uniform, zero_w, zero_g);
  expect_runtime_equal(pair, one_dx, zero_g);
  expect_runtime_equal(identity, very_sharp, zero_g);
}

// The double-level building blocks too: float rounding of the factors hides most one-ulp
// differences, a contracted (FMA) run-time exp would show here.
constexpr std::size_t n_exp = 4096;
constexpr std::array<double, n_exp> exp_args = [] {
  std::array<double, n_exp> a{};
  for (std::size_t i = 0; i < n_exp; ++i)
    a[i] = -740.0 + 1449.5 * static_cast<double>(i) / n_exp + 1e-3 * static_cast<double>(i % 7);
  return a;
}();
constexpr std::array<double, n_exp> exp_baked = [] {
  std::array<double, n_exp> a{};
  for (std::size_t i = 0; i < n_exp; ++i) a[i] = gpsa::detail::exp(exp_args[i]);
  return a;
}();
constexpr std::array<double, n_exp> sigmoid_baked = [] {
  std::array<double, n_exp> a{};
  for (std::size_t i = 0; i < n_exp; ++i) a[i] = gpsa::detail::sigmoid(exp_args[i] / 7);
  return a;
}();

TEST(FoldConstexpr, RuntimeExpAndSigmoidAreBitIdenticalToCompileTime) {
  std::size_t diff_exp = 0, diff_sig = 0;
  for (std::size_t i = 0; i < n_exp; ++i) {
    volatile double x = exp_args[i];
    const double xv = x;
    diff_exp += std::bit_cast<std::uint64_t>(gpsa::detail::exp(xv)) !=
                std::bit_cast<std::uint64_t>(exp_baked[i]);
    diff_sig += std::bit_cast<std::uint64_t>(gpsa::detail::sigmoid(xv / 7)) !=
                std::bit_cast<std::uint64_t>(sigmoid_baked[i]);
  }
  EXPECT_EQ(diff_exp, 0u);
  EXPECT_EQ(diff_sig, 0u);
}

// ConViT-B's shape (16 heads) with trained-looking weights, folded at compile time.
constexpr std::array<float, 48> b16_w = [] {
  std::array<float, 48> w{};
  for (std::size_t h = 0; h < 16; ++h) {
    w[3 * h] = 0.37f * static_cast<float>(h % 5) - 0.8f;
    w[3 * h + 1] = -0.29f * static_cast<float>(h % 7) + 0.9f;
    w[3 * h + 2] = -0.05f - 0.6f * static_cast<float>(h);
  }
  return w;
}();
constexpr std::array<float, 16> b16_g = [] {
  std::array<float, 16> g{};
  for (std::size_t h = 0; h < 16; ++h) g[h] = 0.8f * static_cast<float>(h) - 6.0f;
  return g;
}();
constexpr auto convit_b = gpsa::layer_fold<16, 14>(b16_w, b16_g);

TEST(FoldConstexpr, ConvitBShapeBitIdentical) { expect_runtime_equal(convit_b, b16_w, b16_g); }

// ---- accuracy against the float64 dense reference --------------------------------------

// Checks the expanded factors of every head against dense_position_f64, and lambda.
void expect_matches_reference(grid g, const fold_test::pos_weights& p) {
  const std::size_t H = p.heads, N = g.patches();
  std::vector<float> fx(H * g.cols * g.cols), gy(H * g.rows * g.rows), lam(H), dense(N * N);
  ASSERT_EQ(gpsa::layer_fold(g, H, p.w, p.b, p.gating, fx, gy, lam), status::ok);
  const gpsa::folded_view v{H, g, fx.data(), gy.data(), lam.data()};
  for (std::size_t h = 0; h < H; ++h) {
    ASSERT_EQ(gpsa::positional_expand(v, h, dense), status::ok);
    const std::vector<double> ref =
        fold_test::dense_position_f64(g.rows, g.cols, &p.w[3 * h], p.b[h]);
    double worst = 0;
    for (std::size_t i = 0; i < N * N; ++i) {
      // two factors each rounded once, one float product: <= 1.5 ulp relative
      const double err = std::fabs(dense[i] - ref[i]);
      ASSERT_LE(err, 2.5e-7 * ref[i] + 1e-44)
          << "grid " << g.rows << "x" << g.cols << " head " << h << " element " << i;
      worst = std::max(worst, err);
    }
    EXPECT_LE(
        fold_test::ulp_distance(lam[h], static_cast<float>(fold_test::sigmoid_f64(p.gating[h]))),
        1);
  }
}

TEST(FoldAccuracy, RandomWeightsMatchFloat64DenseSoftmax) {
  const grid grids[] = {{1, 1}, {1, 7}, {7, 1}, {2, 2}, {3, 5}, {7, 7}, {14, 14}, {8, 32}, {16, 9}};
  std::uint64_t seed = 1;
  for (const grid g : grids)
    for (const std::size_t heads : {1u, 4u, 9u})
      expect_matches_reference(g, fold_test::random_weights(heads, seed++));
}

TEST(FoldAccuracy, ExtremeWeightsStayFiniteAndExact) {
  fold_test::pos_weights p;
  p.heads = 6;
  // huge linear terms, convex (positive W2) heads, a near-flat head, huge bias and gates
  p.w = {1e4f,  -1e4f,  -1.0f, 0.5f,    0.5f, 5.0f,    3.0f, -2.0f, 30.0f,
         1e-7f, -1e-7f, 1e-8f, -250.0f, 0.0f, -100.0f, 0.0f, 60.0f, -0.5f};
  p.b = {1e6f, -1e6f, 0.0f, 3.0f, -7.0f, 0.5f};
  p.gating = {100.0f, -100.0f, 30.0f, -30.0f, 0.0f, 1e-3f};
  expect_matches_reference(grid{14, 14}, p);
  expect_matches_reference(grid{5, 11}, p);
}

// ---- the separable positional product ----------------------------------------------------

TEST(PositionalApply, MatchesDenseProductInFloat64) {
  for (const grid g : {grid{14, 14}, grid{3, 7}, grid{1, 5}, grid{6, 1}}) {
    const std::size_t H = 4, d = 12, N = g.patches(), ldv = H * d + 5, ldo = H * d + 3;
    const fold_test::pos_weights p = fold_test::random_weights(H, 77 + N);
    std::vector<float> fx(H * g.cols * g.cols), gy(H * g.rows * g.rows), lam(H);
    ASSERT_EQ(gpsa::layer_fold(g, H, p.w, p.b, p.gating, fx, gy, lam), status::ok);
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::size_t floats = 0;
    ASSERT_EQ(gpsa::positional_apply_scratch_size(g, d, floats), status::ok);
    std::vector<float> v(N * ldv), out(N * ldo, 1234.0f), scratch(floats);
    for (float& x : v) x = nd(rng);
    const gpsa::folded_view view{H, g, fx.data(), gy.data(), lam.data()};
    ASSERT_EQ(gpsa::positional_apply(view, d, v.data(), ldv, out.data(), ldo, scratch), status::ok);
    for (std::size_t h = 0; h < H; ++h) {
      const std::vector<double> pos =
          fold_test::dense_position_f64(g.rows, g.cols, &p.w[3 * h], p.b[h]);
      for (std::size_t i = 0; i < N; ++i)
        for (std::size_t k = 0; k < d; ++k) {
          double ref = 0;
          for (std::size_t j = 0; j < N; ++j) ref += pos[i * N + j] * v[j * ldv + h * d + k];
          ASSERT_NEAR(out[i * ldo + h * d + k], ref, 2e-6) << "head " << h << " row " << i;
        }
      // padding columns untouched
      for (std::size_t i = 0; i < N; ++i) EXPECT_EQ(out[i * ldo + H * d], 1234.0f);
    }
  }
}

TEST(PositionalApply, ChecksArguments) {
  const grid g{4, 4};
  std::vector<float> fx(16, 0.25f), gy(16, 0.25f), lam(1, 0.5f), v(16 * 2), out(16 * 2),
      scratch(32);
  gpsa::folded_view f{1, g, fx.data(), gy.data(), lam.data()};
  EXPECT_EQ(
      gpsa::positional_apply(f, 2, v.data(), 2, out.data(), 2, std::span<float>(scratch).first(31)),
      status::buffer_too_small);
  EXPECT_EQ(gpsa::positional_apply(f, 2, nullptr, 2, out.data(), 2, scratch),
            status::invalid_argument);
  EXPECT_EQ(gpsa::positional_apply(f, 2, v.data(), 1, out.data(), 2, scratch),
            status::invalid_argument);
  EXPECT_EQ(gpsa::positional_apply(f, 0, v.data(), 2, out.data(), 2, scratch),
            status::invalid_argument);
  EXPECT_EQ(gpsa::positional_apply_head(f, 1, 2, v.data(), 2, out.data(), 2, scratch),
            status::invalid_argument);
  f.shape = grid{0, 4};
  EXPECT_EQ(gpsa::positional_apply(f, 2, v.data(), 2, out.data(), 2, scratch), status::empty_grid);
  f.shape = g;
  f.fx = nullptr;
  EXPECT_EQ(gpsa::positional_apply(f, 2, v.data(), 2, out.data(), 2, scratch),
            status::invalid_argument);
}

// ---- gated blend --------------------------------------------------------------------------

TEST(GatedBlend, MatchesPyTorchFormulaInFloat64) {
  const grid g{5, 6};
  const std::size_t H = 3, N = g.patches();
  const fold_test::pos_weights p = fold_test::random_weights(H, 9);
  std::vector<float> fx(H * 36), gy(H * 25), lam(H);
  ASSERT_EQ(gpsa::layer_fold(g, H, p.w, p.b, p.gating, fx, gy, lam), status::ok);
  const gpsa::folded_view view{H, g, fx.data(), gy.data(), lam.data()};
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  const std::size_t p0 = 7, rows = 11, ld = N + 2;
  for (std::size_t h = 0; h < H; ++h) {
    std::vector<float> content(rows * ld);
    for (std::size_t r = 0; r < rows; ++r) {  // a row-stochastic content block
      float s = 0;
      for (std::size_t q = 0; q < N; ++q) s += content[r * ld + q] = u(rng);
      for (std::size_t q = 0; q < N; ++q) content[r * ld + q] /= s;
    }
    std::vector<float> out(rows * ld);
    ASSERT_EQ(gpsa::gated_blend_rows(view, h, p0, rows, content.data(), ld, out.data(), ld),
              status::ok);
    const std::vector<double> pos =
        fold_test::dense_position_f64(g.rows, g.cols, &p.w[3 * h], p.b[h]);
    const double lam_ref = fold_test::sigmoid_f64(p.gating[h]);
    for (std::size_t r = 0; r < rows; ++r) {
      double s = 0;
      std::vector<double> a(N);
      for (std::size_t q = 0; q < N; ++q)
        s += a[q] = (1 - lam_ref) * content[r * ld + q] + lam_ref * pos[(p0 + r) * N + q];
      for (std::size_t q = 0; q < N; ++q) ASSERT_NEAR(out[r * ld + q], a[q] / s, 1e-7);
    }
    // in place gives the same bits
    std::vector<float> inplace = content;
    ASSERT_EQ(gpsa::gated_blend_rows(view, h, p0, rows, inplace.data(), ld, inplace.data(), ld),
              status::ok);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t q = 0; q < N; ++q) ASSERT_EQ(inplace[r * ld + q], out[r * ld + q]);
  }
  std::vector<float> buf(N * N);
  EXPECT_EQ(gpsa::gated_blend_rows(view, 0, N - 3, 4, buf.data(), N, buf.data(), N),
            status::shape_mismatch);
  EXPECT_EQ(gpsa::gated_blend_rows(view, 3, 0, 1, buf.data(), N, buf.data(), N),
            status::invalid_argument);
  EXPECT_EQ(gpsa::gated_blend_rows(view, 0, 0, 1, buf.data(), N - 1, buf.data(), N),
            status::invalid_argument);
}

// ---- errors --------------------------------------------------------------------------------

TEST(FoldErrors, StatusForEveryBadInput) {
  std::vector<float> w(6, 0.0f), g(2, 0.0f), fx(2 * 9), gy(2 * 16), lam(2);
  const grid gr{4, 3};
  EXPECT_EQ(gpsa::layer_fold(gr, 2, w, {}, g, fx, gy, lam), status::ok);
  EXPECT_EQ(gpsa::layer_fold(grid{0, 3}, 2, w, {}, g, fx, gy, lam), status::empty_grid);
  EXPECT_EQ(gpsa::layer_fold(gr, 0, w, {}, g, fx, gy, lam), status::invalid_argument);
  EXPECT_EQ(gpsa::layer_fold(gr, 2, std::span<const float>(w).first(5), {}, g, fx, gy, lam),
            status::shape_mismatch);
  EXPECT_EQ(gpsa::layer_fold(gr, 2, w, std::span<const float>(g).first(1), g, fx, gy, lam),
            status::shape_mismatch);
  EXPECT_EQ(gpsa::layer_fold(gr, 2, w, {}, g, std::span<float>(fx).first(17), gy, lam),
            status::buffer_too_small);
  EXPECT_EQ(gpsa::layer_fold(gr, 2, w, {}, g, fx, std::span<float>(gy).first(31), lam),
            status::buffer_too_small);
  EXPECT_EQ(gpsa::layer_fold(gr, 2, w, {}, g, fx, gy, std::span<float>(lam).first(1)),
            status::buffer_too_small);
  const std::size_t huge = std::numeric_limits<std::size_t>::max() / 2;
  EXPECT_EQ(gpsa::layer_fold(grid{huge, huge}, 2, w, {}, g, fx, gy, lam), status::size_overflow);
  for (const float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
        -std::numeric_limits<float>::infinity()}) {
    std::vector<float> bw = w, bb(2, 0.0f), bg = g;
    bw[4] = bad;
    EXPECT_EQ(gpsa::layer_fold(gr, 2, bw, {}, g, fx, gy, lam), status::invalid_argument);
    bb[1] = bad;
    EXPECT_EQ(gpsa::layer_fold(gr, 2, w, bb, g, fx, gy, lam), status::invalid_argument);
    bg[0] = bad;
    EXPECT_EQ(gpsa::layer_fold(gr, 2, w, {}, bg, fx, gy, lam), status::invalid_argument);
  }
  gpsa::fold_counts n{};
  EXPECT_EQ(gpsa::layer_folded_size(gr, 2, n), status::ok);
  EXPECT_EQ(n.fx, 18u);
  EXPECT_EQ(n.gy, 32u);
  EXPECT_EQ(n.lambda, 2u);
  EXPECT_EQ(n.total(), 52u);
}

}  // namespace
