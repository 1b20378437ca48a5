// SPDX-License-Identifier: MIT
// gpsa::detail::exp / expf / sigmoid / sqrt: compile-time checks against correctly rounded values
// (Python's math.exp, rounded to float with struct), and run-time sweeps against std::exp and
// std::sqrt (IEEE 754: correctly rounded, so sqrt must match it bit for bit).
#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "fold_test_support.hpp"
#include "gpsa/detail/constexpr_math.hpp"

namespace {

using gpsa::detail::exp;
using gpsa::detail::expf;
using gpsa::detail::sigmoid;

// ---- compile time ------------------------------------------------------------------------
// within one ulp (double) of the correctly rounded value
constexpr bool within_1ulp(double a, double b) {
  const auto ia = std::bit_cast<std::int64_t>(a), ib = std::bit_cast<std::int64_t>(b);
  return ia - ib <= 1 && ib - ia <= 1;
}
static_assert(exp(0.0) == 1.0);
static_assert(within_1ulp(exp(1.0), 2.718281828459045));
static_assert(within_1ulp(exp(-1.0), 0.36787944117144233));
static_assert(within_1ulp(exp(10.0), 22026.465794806718));
static_assert(within_1ulp(exp(-10.0), 4.5399929762484854e-05));
static_assert(within_1ulp(exp(-700.0), 9.85967654375977e-305));
static_assert(expf(1.0f) == 2.71828175f);
static_assert(expf(-1.0f) == 0.36787945f);
static_assert(expf(0.5f) == 1.64872122f);
static_assert(expf(20.5f) == 799902208.0f);
static_assert(expf(88.0f) == 1.65163627e+38f);
static_assert(expf(-87.0f) == 1.64581145e-38f);   // smallest normal range
static_assert(expf(-100.0f) == 3.78350585e-44f);  // subnormal result
static_assert(expf(-103.0f) == 1.40129846e-45f);  // the smallest subnormal
static_assert(expf(-104.0f) == 0.0f);
static_assert(expf(89.0f) == std::numeric_limits<float>::infinity());
static_assert(exp(710.0) == std::numeric_limits<double>::infinity());
static_assert(exp(-746.0) == 0.0);
static_assert(exp(-std::numeric_limits<double>::infinity()) == 0.0);
static_assert(exp(std::numeric_limits<double>::infinity()) ==
              std::numeric_limits<double>::infinity());
static_assert(gpsa::detail::is_nan(exp(std::numeric_limits<double>::quiet_NaN())));
static_assert(sigmoid(0.0) == 0.5);
static_assert(static_cast<float>(sigmoid(100.0)) == 1.0f);
static_assert(static_cast<float>(sigmoid(-100.0)) == 3.78350585e-44f);  // exp(-100)/(1+exp(-100))
static_assert(sigmoid(-1000.0) == 0.0 && sigmoid(1000.0) == 1.0);

// sqrt: exact squares, correctly rounded values (Python's math.sqrt), the edges
static_assert(gpsa::detail::sqrt(4.0) == 2.0 && gpsa::detail::sqrt(1.0) == 1.0);
static_assert(gpsa::detail::sqrt(0x1p-1074) == 0x1p-537);  // the smallest subnormal
static_assert(gpsa::detail::sqrt(2.0) == 1.4142135623730951);
static_assert(gpsa::detail::sqrt(48.0) == 6.928203230275509);  // ConViT-Ti's head width
static_assert(gpsa::detail::sqrt(1e-5 + 0.25) == 0.5000099999000021);
static_assert(gpsa::detail::sqrt(std::numeric_limits<double>::max()) == 1.3407807929942596e+154);
static_assert(gpsa::detail::sqrt(-0.0) == 0.0 && gpsa::detail::is_nan(gpsa::detail::sqrt(-1.0)));

// double -> float at compile time: the values Clang 14's constant evaluator got wrong
static_assert(gpsa::detail::to_float(0x0.000001e19b60ap-1022) == 0.0f);
static_assert(gpsa::detail::to_float(0x1p-150) == 0.0f);  // tie: to even (0)
static_assert(gpsa::detail::to_float(0x1.0000000000001p-150) == 0x1p-149f);
static_assert(gpsa::detail::to_float(-0x1p-160) == 0.0f);
static_assert(gpsa::detail::to_float(0.1) == 0.1f);

// ---- run time ----------------------------------------------------------------------------

// A geometric sweep of doubles from 1e-320 (subnormal) up through the float subnormal range
// to 0.01, converted at compile time; the hardware conversion at run time is the reference.
constexpr int n_conv = 20000;
constexpr std::array<double, n_conv> conv_args = [] {
  std::array<double, n_conv> a{};
  double v = 1e-320;
  for (double& x : a) x = v, v *= 1.0373;
  return a;
}();
constexpr std::array<float, n_conv> conv_baked = [] {
  std::array<float, n_conv> a{};
  for (int i = 0; i < n_conv; ++i) a[i] = gpsa::detail::to_float(conv_args[i]);
  return a;
}();

TEST(ConstexprToFloat, CompileTimeConversionEqualsHardware) {
  int bad = 0;
  for (int i = 0; i < n_conv; ++i) {
    volatile double x = conv_args[i];
    const float hw = static_cast<float>(x);
    bad += std::bit_cast<std::uint32_t>(hw) != std::bit_cast<std::uint32_t>(conv_baked[i]);
    bad +=
        std::bit_cast<std::uint32_t>(gpsa::detail::to_float(x)) != std::bit_cast<std::uint32_t>(hw);
  }
  EXPECT_EQ(bad, 0);
  EXPECT_TRUE(std::signbit(gpsa::detail::to_float(-0.0)));
}

TEST(ConstexprExp, DoubleWithinOneUlpOfStdExpOverTheWholeRange) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(-745.0, 709.7);
  std::int64_t worst = 0;
  double worst_x = 0;
  for (int i = 0; i < 2'000'000; ++i) {
    const double x = u(rng);
    const std::int64_t d = fold_test::ulp_distance(exp(x), std::exp(x));
    if (d > worst) worst = d, worst_x = x;
  }
  // the range that softmax uses (max-subtracted logits are <= 0), densely
  for (double x = -50.0; x <= 1.0; x += 1.0 / 4096) {
    const std::int64_t d = fold_test::ulp_distance(exp(x), std::exp(x));
    if (d > worst) worst = d, worst_x = x;
  }
  EXPECT_LE(worst, 1) << "at x = " << worst_x;
}

TEST(ConstexprExp, FloatMatchesCorrectlyRoundedStdExp) {
  // Every 1601st bit pattern of the floats with |x| <= 88.72, both signs (~1.4 million values;
  // all ~2.2 billion take a minute and also give 0 ulp, see docs/firmware.md).
  std::int64_t worst = 0;
  float worst_x = 0;
  std::size_t n = 0;
  const auto hi = std::bit_cast<std::int32_t>(88.72f);  // positive floats: increasing bits
  for (std::int32_t b = 0; b < hi; b += 1601) {
    for (const float x : {std::bit_cast<float>(b), -std::bit_cast<float>(b)}) {
      if (x < -103.97f) continue;
      const float ref = static_cast<float>(std::exp(static_cast<double>(x)));
      const std::int64_t d = fold_test::ulp_distance(expf(x), ref);
      if (d > worst) worst = d, worst_x = x;
      ++n;
    }
  }
  EXPECT_GT(n, 1'000'000u);
  EXPECT_LE(worst, 1) << "at x = " << worst_x;
}

TEST(ConstexprExp, SpecialValues) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(exp(-inf), 0.0);
  EXPECT_EQ(exp(inf), inf);
  EXPECT_TRUE(std::isnan(exp(std::nan(""))));
  EXPECT_EQ(exp(709.78), std::exp(709.78));  // just below overflow
  EXPECT_EQ(exp(-745.0), std::exp(-745.0));  // the smallest subnormal
  EXPECT_EQ(exp(-0.0), 1.0);
}

TEST(ConstexprSqrt, BitIdenticalToStdSqrt) {
  // Random bit patterns over every exponent (subnormals included), every integer below 2^20, and
  // the runtime_sqrt the core calls.
  std::mt19937_64 rng(7);
  std::int64_t bad = 0;
  double bad_x = 0;
  const auto check = [&](double x) {
    const double ref = std::sqrt(x);
    if (std::bit_cast<std::uint64_t>(gpsa::detail::sqrt(x)) != std::bit_cast<std::uint64_t>(ref) ||
        std::bit_cast<std::uint64_t>(gpsa::detail::runtime_sqrt(x)) !=
            std::bit_cast<std::uint64_t>(ref))
      ++bad, bad_x = x;
  };
  for (int i = 0; i < 1'000'000; ++i) {
    const double x = std::bit_cast<double>(rng() >> 1);  // sign bit clear
    if (!std::isnan(x)) check(x);
  }
  for (std::uint32_t n = 0; n < (1u << 20); ++n) check(static_cast<double>(n));
  EXPECT_EQ(bad, 0) << "e.g. at x = " << bad_x;
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(gpsa::detail::sqrt(inf), inf);
  EXPECT_TRUE(std::isnan(gpsa::detail::sqrt(-inf)));
  EXPECT_TRUE(std::isnan(gpsa::detail::sqrt(std::nan(""))));
  EXPECT_TRUE(std::signbit(gpsa::detail::sqrt(-0.0)));
}

TEST(ConstexprSigmoid, StableAndAccurateForLargeArguments) {
  for (double x = -120.0; x <= 120.0; x += 0.125) {
    const double s = sigmoid(x);
    ASSERT_TRUE(std::isfinite(s)) << x;
    // reference: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below (each without overflow)
    const double ref = x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
    EXPECT_LE(fold_test::ulp_distance(s, ref), 2) << x;
  }
}

}  // namespace
