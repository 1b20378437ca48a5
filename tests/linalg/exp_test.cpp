// SPDX-License-Identifier: MIT
// exp_values vs std::exp in double: a sweep over float bit patterns (max ulp error reported and
// bounded), special values, overflow/underflow thresholds, in-place use and every tail length.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include <functional>
#include <string>

#include "gpsa/core/linalg.hpp"
#include "linalg_impl.hpp"
#include "targets.hpp"

namespace {

struct backend {
  std::string name;
  std::function<void(const float*, float*, std::size_t)> fn;
};
// gpsa::exp_values forced to each SIMD target, then the scalar kernel.
const std::vector<backend> kBackends = [] {
  std::vector<backend> out;
  for (const std::size_t t : gpsa_test::simd_targets())
    out.push_back({gpsa_test::target_name(t), [t](const float* in, float* o, std::size_t n) {
                     const gpsa_test::target_scope scope(t);
                     ASSERT_EQ(gpsa::exp_values({in, n}, {o, n}), gpsa::status::ok);
                   }});
  out.push_back({"scalar", &gpsa::detail::exp_scalar});
  return out;
}();

constexpr double kMaxUlp = 2.0;  // documented: "a few ulp"; measured ~1.1 (see the test output)

float from_bits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Error of `got` against the exact `ref`, in units of the spacing of floats at float(ref)
// (2^-149 in the subnormal range). A result that must round to +inf must be +inf.
double ulp_error(float got, double ref) {
  const float rf = static_cast<float>(ref);
  if (std::isinf(rf)) return std::isinf(got) && got > 0 ? 0.0 : 1e30;
  if (!std::isfinite(got)) return 1e30;
  const double tiny = std::ldexp(1.0, -149);
  double ulp = tiny;
  if (std::fabs(ref) >= std::ldexp(1.0, -126)) {
    int e = 0;
    std::frexp(ref, &e);
    ulp = std::ldexp(1.0, e - 24);
  }
  return std::fabs(static_cast<double>(got) - ref) / ulp;
}

TEST(Exp, SweepOverFloatRange) {
  // Every 17th bit pattern of both signs from 0 up to +inf: ~2.5e8 values would be slow, so the
  // sweep takes the patterns whose magnitude lies in [2^-30, 110] densely (step 17) and the rest
  // sparsely (step 4099).
  std::vector<float> xs;
  for (std::uint32_t u = 0; u < 0x7f800000u;) {
    const float f = from_bits(u);
    xs.push_back(f);
    xs.push_back(-f);
    u += (f >= 9.3e-10f && f <= 110.0f) ? 17u : 4099u;
  }
  // In chunks, so each reference exp (double) is computed once for all backends.
  std::vector<double> worst(kBackends.size(), 0.0);
  std::vector<float> worst_x(kBackends.size(), 0.0f);
  constexpr std::size_t kChunk = 1 << 16;
  std::vector<double> ref(kChunk);
  std::vector<float> ys(kChunk);
  for (std::size_t c0 = 0; c0 < xs.size(); c0 += kChunk) {
    const std::size_t n = std::min(kChunk, xs.size() - c0);
    for (std::size_t i = 0; i < n; ++i) ref[i] = std::exp(static_cast<double>(xs[c0 + i]));
    for (std::size_t b = 0; b < kBackends.size(); ++b) {
      kBackends[b].fn(xs.data() + c0, ys.data(), n);
      for (std::size_t i = 0; i < n; ++i) {
        const double e = ulp_error(ys[i], ref[i]);
        if (e > worst[b]) {
          worst[b] = e;
          worst_x[b] = xs[c0 + i];
        }
      }
    }
  }
  for (std::size_t b = 0; b < kBackends.size(); ++b) {
    const auto& be = kBackends[b];
    std::printf("exp[%s]: %zu inputs, max error %.3f ulp at x = %.9g\n", be.name.c_str(), xs.size(),
                worst[b], static_cast<double>(worst_x[b]));
    RecordProperty(std::string("max_ulp_") + be.name, std::to_string(worst[b]));
    EXPECT_LE(worst[b], kMaxUlp) << be.name << " worst at x = " << worst_x[b];
  }
}

TEST(Exp, SpecialValuesAndThresholds) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> in = {
      0.0f,  -0.0f,   1.0f,        -1.0f,       inf,
      -inf,  88.72f,  88.7228317f, 88.7228394f, 89.0f,
      1e30f, -103.0f, -104.0f,     -1e30f,      std::numeric_limits<float>::quiet_NaN()};
  for (const auto& be : kBackends) {
    std::vector<float> out(in.size());
    be.fn(in.data(), out.data(), in.size());
    EXPECT_EQ(out[0], 1.0f);
    EXPECT_EQ(out[1], 1.0f);
    EXPECT_LE(ulp_error(out[2], std::exp(1.0)), kMaxUlp);
    EXPECT_LE(ulp_error(out[3], std::exp(-1.0)), kMaxUlp);
    EXPECT_EQ(out[4], inf) << be.name;
    EXPECT_EQ(out[5], 0.0f) << be.name;
    EXPECT_TRUE(std::isfinite(out[6])) << be.name;
    EXPECT_TRUE(std::isfinite(out[7])) << be.name << ": largest x with finite exp";
    EXPECT_EQ(out[8], inf) << be.name << ": smallest x whose exp rounds to inf";
    EXPECT_EQ(out[9], inf) << be.name;
    EXPECT_EQ(out[10], inf) << be.name;
    EXPECT_GT(out[11], 0.0f) << be.name << ": subnormal result";
    EXPECT_LE(ulp_error(out[11], std::exp(-103.0)), kMaxUlp) << be.name;
    EXPECT_EQ(out[12], 0.0f) << be.name;
    EXPECT_EQ(out[13], 0.0f) << be.name;
    EXPECT_TRUE(std::isnan(out[14])) << be.name;
  }
}

class ExpLengthTest : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ExpLengthTest, InPlaceAndTails) {
  const std::size_t n = GetParam();
  std::vector<float> x(n + 2);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = -20.0f + 0.37f * static_cast<float>(i);
  for (const auto& be : kBackends) {
    std::vector<float> y = x;
    be.fn(y.data() + 1, y.data() + 1, n);  // in place, odd offset
    EXPECT_EQ(y[0], x[0]) << be.name << ": wrote before the range";
    EXPECT_EQ(y[n + 1], x[n + 1]) << be.name << ": wrote past the range";
    for (std::size_t i = 1; i <= n; ++i)
      ASSERT_LE(ulp_error(y[i], std::exp(static_cast<double>(x[i]))), kMaxUlp)
          << be.name << " i=" << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Lengths, ExpLengthTest,
                         ::testing::Values(0, 1, 3, 7, 8, 15, 16, 17, 31, 64, 197, 433));

TEST(Exp, ArgumentChecks) {
  std::vector<float> in(4, 1.0f), out(4);
  EXPECT_EQ(gpsa::exp_values(in, out), gpsa::status::ok);
  EXPECT_NEAR(out[3], 2.718281828, 1e-6);  // e, written
  EXPECT_EQ(gpsa::exp_values(in, std::span(out).first(3)), gpsa::status::shape_mismatch);
  EXPECT_EQ(gpsa::exp_values({}, {}), gpsa::status::ok);
  EXPECT_EQ(gpsa::exp_values({static_cast<const float*>(nullptr), 2}, std::span(out).first(2)),
            gpsa::status::invalid_argument);
}

}  // namespace
