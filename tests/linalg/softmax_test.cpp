// SPDX-License-Identifier: MIT
// softmax_rows vs a float64 reference: random rows, +-1e4 logits, -inf entries, equal values,
// padded row stride; gpsa::softmax_rows on every SIMD target of the build, and the scalar kernel.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <functional>
#include <string>

#include "gpsa/core/linalg.hpp"
#include "linalg_impl.hpp"
#include "targets.hpp"

namespace {

struct backend {
  std::string name;
  std::function<void(float*, std::size_t, std::size_t, std::size_t)> fn;
};
// gpsa::softmax_rows forced to each SIMD target, then the scalar kernel.
const std::vector<backend> kBackends = [] {
  std::vector<backend> out;
  for (const std::size_t t : gpsa_test::simd_targets())
    out.push_back(
        {gpsa_test::target_name(t), [t](float* x, std::size_t r, std::size_t c, std::size_t ld) {
           const gpsa_test::target_scope scope(t);
           ASSERT_EQ(gpsa::softmax_rows(r, c, x, ld), gpsa::status::ok);
         }});
  out.push_back({"scalar", &gpsa::detail::softmax_rows_scalar});
  return out;
}();

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr double kEps = std::numeric_limits<float>::epsilon();

// Reference from the float inputs in double. Tolerance per element: the float subtraction x - max
// (0.5 ulp of |x - max|, amplified by exp), a few ulp for exp, the normalisation (cols * eps for
// the sum), and an absolute floor for results in the subnormal range.
void expect_softmax_close(const backend& be, const std::vector<float>& in, std::size_t rows,
                          std::size_t cols, std::size_t ld) {
  std::vector<float> x = in;
  be.fn(x.data(), rows, cols, ld);
  for (std::size_t i = 0; i < rows; ++i) {
    const float* r = in.data() + i * ld;
    double mx = -std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < cols; ++j) mx = std::max(mx, static_cast<double>(r[j]));
    double sum = 0.0;
    for (std::size_t j = 0; j < cols; ++j) sum += std::exp(static_cast<double>(r[j]) - mx);
    double total = 0.0;
    for (std::size_t j = 0; j < cols; ++j) {
      const double d = static_cast<double>(r[j]) - mx;
      const double ref = std::exp(d) / sum;
      const double got = x[i * ld + j];
      // Probabilities below FLT_MIN may be flushed to 0 (documented), hence the absolute part.
      const double tol =
          ref < FLT_MIN
              ? FLT_MIN
              : ref * kEps * (0.5 * std::fabs(d) + 8.0 + 2.0 * static_cast<double>(cols)) + 1e-44;
      ASSERT_TRUE(std::isfinite(got)) << be.name << " row " << i << " col " << j;
      ASSERT_NEAR(got, ref, tol) << be.name << " row " << i << " col " << j << " x=" << r[j];
      if (std::isinf(r[j])) {
        ASSERT_EQ(got, 0.0) << be.name << ": -inf logit must give 0";
      }
      total += got;
    }
    EXPECT_NEAR(total, 1.0, (8.0 + 2.0 * static_cast<double>(cols)) * kEps)
        << be.name << " row " << i;
    for (std::size_t j = cols; j < ld; ++j)
      ASSERT_EQ(x[i * ld + j], in[i * ld + j]) << be.name << ": touched padding in row " << i;
  }
}

class SoftmaxTest : public ::testing::TestWithParam<std::size_t> {};

TEST_P(SoftmaxTest, RandomRows) {
  const std::size_t cols = GetParam(), rows = 5, ld = cols + 5;
  std::mt19937 gen(static_cast<unsigned>(cols));
  std::normal_distribution<float> dist(0.0f, 6.0f);
  std::vector<float> x(rows * ld);
  for (auto& v : x) v = dist(gen);
  for (const auto& be : kBackends) expect_softmax_close(be, x, rows, cols, ld);
}

TEST_P(SoftmaxTest, HugeLogitsDoNotOverflow) {
  const std::size_t cols = GetParam(), rows = 3, ld = cols;
  std::vector<float> x(rows * ld);
  for (std::size_t j = 0; j < cols; ++j) {
    x[j] = (j % 2 == 0) ? 1e4f : -1e4f;                        // row 0: +-1e4
    x[ld + j] = -1e4f + static_cast<float>(j % 7);             // row 1: all near -1e4
    x[2 * ld + j] = 1e4f - static_cast<float>(j % 5) * 0.25f;  // row 2: all near +1e4
  }
  for (const auto& be : kBackends) expect_softmax_close(be, x, rows, cols, ld);
}

TEST_P(SoftmaxTest, MinusInfinityEntriesGetZero) {
  const std::size_t cols = GetParam(), rows = 2, ld = cols + 1;
  std::vector<float> x(rows * ld, 0.0f);
  for (std::size_t j = 0; j < cols; ++j) {
    x[j] = (j % 3 == 1) ? -kInf : 0.1f * static_cast<float>(j);
    x[ld + j] = (j + 1 == cols) ? 2.0f : -kInf;  // only the last entry finite: one-hot
  }
  for (const auto& be : kBackends) {
    expect_softmax_close(be, x, rows, cols, ld);
    std::vector<float> y = x;
    be.fn(y.data(), rows, cols, ld);
    EXPECT_EQ(y[ld + cols - 1], 1.0f) << be.name;
  }
}

TEST_P(SoftmaxTest, EqualValuesGiveUniformRow) {
  const std::size_t cols = GetParam(), rows = 2, ld = cols;
  std::vector<float> x(rows * ld, 3.5f);
  for (std::size_t j = 0; j < cols; ++j) x[ld + j] = -1e4f;
  for (const auto& be : kBackends) {
    std::vector<float> y = x;
    be.fn(y.data(), rows, cols, ld);
    const double u = 1.0 / static_cast<double>(cols);
    for (float v : y) ASSERT_NEAR(v, u, 2.0 * kEps * u) << be.name;
  }
}

TEST_P(SoftmaxTest, SameBytesOnEveryFusedMultiplyAddTarget) {
  // Row sums are kept in 16 partials added in a fixed order whatever the vector width.
  const std::size_t cols = GetParam(), rows = 7, ld = cols + 2;
  std::mt19937 gen(static_cast<unsigned>(cols) + 99);
  std::normal_distribution<float> dist(0.0f, 4.0f);
  std::vector<float> x(rows * ld);
  for (auto& v : x) v = dist(gen);
  std::vector<float> first;
  for (const std::size_t t : gpsa_test::simd_targets()) {
    if (!gpsa_test::fused_multiply_add(t)) continue;
    std::vector<float> y = x;
    {
      const gpsa_test::target_scope scope(t);
      ASSERT_EQ(gpsa::softmax_rows(rows, cols, y.data(), ld), gpsa::status::ok);
    }
    if (first.empty())
      first = y;
    else
      EXPECT_EQ(std::memcmp(y.data(), first.data(), y.size() * sizeof(float)), 0)
          << gpsa_test::target_name(t);
  }
}

INSTANTIATE_TEST_SUITE_P(Cols, SoftmaxTest,
                         ::testing::Values(1, 3, 4, 8, 15, 16, 17, 64, 196, 197, 433));

TEST(Softmax, AllMinusInfinityRowIsNaNLikePyTorch) {
  for (const auto& be : kBackends) {
    std::vector<float> x = {-kInf, -kInf, -kInf};
    be.fn(x.data(), 1, 3, 3);
    for (float v : x) EXPECT_TRUE(std::isnan(v)) << be.name;
  }
}

TEST(Softmax, ProbabilitiesBelowFloatMinAreZero) {
  // exp(-90) / (1 + ...) ~ 8e-40 is subnormal: flushed, so later products never see subnormals.
  for (const auto& be : kBackends) {
    std::vector<float> x = {0.0f, -90.0f, -87.0f, -1e30f};
    be.fn(x.data(), 1, 4, 4);
    EXPECT_EQ(x[1], 0.0f) << be.name;
    EXPECT_GT(x[2], FLT_MIN) << be.name;  // exp(-87) ~ 1.6e-38 is normal: kept
    EXPECT_EQ(x[3], 0.0f) << be.name;
    EXPECT_NEAR(x[0], 1.0f, 1e-7f) << be.name;
  }
}

TEST(Softmax, ZeroRowsOrColsIsANoOp) {
  for (const auto& be : kBackends) {
    float x[2] = {1.0f, 2.0f};
    be.fn(x, 0, 2, 2);
    be.fn(x, 1, 0, 2);
    EXPECT_EQ(x[0], 1.0f);
    EXPECT_EQ(x[1], 2.0f);
  }
}

TEST(Softmax, ArgumentChecks) {
  std::vector<float> x(6, 0.0f);
  EXPECT_EQ(gpsa::softmax_rows(2, 3, x.data(), 3), gpsa::status::ok);
  EXPECT_EQ(gpsa::softmax_rows(2, 3, nullptr, 3), gpsa::status::invalid_argument);
  EXPECT_EQ(gpsa::softmax_rows(2, 3, x.data(), 2), gpsa::status::invalid_argument);  // ld < cols
  EXPECT_EQ(gpsa::softmax_rows(0, 3, nullptr, 0), gpsa::status::ok);                 // no rows
}

}  // namespace
