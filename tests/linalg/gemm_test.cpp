// gemm vs a float64 triple loop: all transpose combinations, odd sizes, padded leading
// dimensions, alpha/beta cases, beta = 0 over a NaN-filled C; every backend compiled in.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gpsa/detail/linalg_impl.hpp"
#include "gpsa/linalg.hpp"

namespace {

using gemm_fn = void (*)(bool, bool, std::size_t, std::size_t, std::size_t, float, const float*,
                         std::size_t, const float*, std::size_t, float, float*, std::size_t);

struct backend {
  const char* name;
  gemm_fn fn;
};
const backend kBackends[] = {
    {"public", &gpsa::gemm},
    {"blocked", &gpsa::detail::gemm_blocked},
    {"blocked_scalar", &gpsa::detail::gemm_blocked_scalar},
};

struct shape {
  std::size_t m, n, k;
};
struct scalars {
  float alpha, beta;
};

std::vector<float> random_matrix(std::size_t count, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (auto& x : v) x = dist(gen);
  return v;
}

// Runs one case on one backend and compares with a float64 reference. The bound is the classic
// dot-product one, gamma_k * sum|a||b| (scaled by |alpha|), plus the beta*C rounding.
void check_case(const backend& be, bool ta, bool tb, shape s, scalars ab, bool nan_c) {
  const std::size_t pad = 3;  // leading dimensions larger than the rows, to exercise ld
  const std::size_t a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k;
  const std::size_t b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n;
  const std::size_t lda = a_cols + pad, ldb = b_cols + pad, ldc = s.n + pad;
  const auto a = random_matrix(a_rows * lda, 1u + static_cast<unsigned>(s.m * 7 + s.k));
  const auto b = random_matrix(b_rows * ldb, 2u + static_cast<unsigned>(s.n * 5 + s.k));
  auto c = random_matrix(s.m * ldc, 3u + static_cast<unsigned>(s.m + s.n));
  const float sentinel = 12345.0f;
  for (std::size_t i = 0; i < s.m; ++i) {
    for (std::size_t j = 0; j < s.n; ++j)
      if (nan_c) c[i * ldc + j] = std::numeric_limits<float>::quiet_NaN();
    for (std::size_t j = s.n; j < ldc; ++j) c[i * ldc + j] = sentinel;
  }
  const auto c0 = c;
  auto op_a = [&](std::size_t i, std::size_t p) { return ta ? a[p * lda + i] : a[i * lda + p]; };
  auto op_b = [&](std::size_t p, std::size_t j) { return tb ? b[j * ldb + p] : b[p * ldb + j]; };

  be.fn(ta, tb, s.m, s.n, s.k, ab.alpha, a.data(), lda, b.data(), ldb, ab.beta, c.data(), ldc);

  const double eps = std::numeric_limits<float>::epsilon();
  double worst = 0.0;
  for (std::size_t i = 0; i < s.m; ++i) {
    for (std::size_t j = 0; j < s.n; ++j) {
      double dot = 0.0, mag = 0.0;
      for (std::size_t p = 0; p < s.k; ++p) {
        dot += static_cast<double>(op_a(i, p)) * op_b(p, j);
        mag += std::fabs(static_cast<double>(op_a(i, p)) * op_b(p, j));
      }
      const double old = ab.beta == 0.0f ? 0.0 : static_cast<double>(c0[i * ldc + j]);
      const double ref = static_cast<double>(ab.alpha) * dot + static_cast<double>(ab.beta) * old;
      const double tol = (2.0 * static_cast<double>(s.k) + 4.0) * eps *
                             (std::fabs(static_cast<double>(ab.alpha)) * mag +
                              std::fabs(static_cast<double>(ab.beta) * old)) +
                         1e-30;
      const double got = c[i * ldc + j];
      ASSERT_TRUE(std::isfinite(got)) << be.name << " C(" << i << "," << j << ") not finite";
      ASSERT_LE(std::fabs(got - ref), tol) << be.name << " C(" << i << "," << j << ")";
      worst = std::max(worst, std::fabs(got - ref) / tol);
    }
    for (std::size_t j = s.n; j < ldc; ++j)
      ASSERT_EQ(c[i * ldc + j], sentinel) << be.name << ": wrote past n in row " << i;
  }
}

using gemm_param = std::tuple<bool, bool, shape, scalars>;

class GemmTest : public ::testing::TestWithParam<gemm_param> {};

TEST_P(GemmTest, MatchesFloat64Reference) {
  const auto [ta, tb, s, ab] = GetParam();
  for (const auto& be : kBackends) check_case(be, ta, tb, s, ab, false);
}

TEST_P(GemmTest, BetaZeroIgnoresNaNInC) {
  const auto [ta, tb, s, ab] = GetParam();
  for (const auto& be : kBackends) check_case(be, ta, tb, s, scalars{ab.alpha, 0.0f}, true);
}

// The brief's odd sizes (1, 3, 17, 64, 197, 433) in mixed roles, plus the GPSA shapes
// (x W^T with N = 196, D = 192; q k^T per head with d = 48).
const shape kShapes[] = {
    {1, 1, 1},       {1, 3, 17},    {3, 1, 64},    {17, 17, 17},    {3, 433, 1},
    {64, 64, 64},    {197, 17, 3},  {17, 197, 64}, {64, 3, 433},    {433, 64, 17},
    {197, 197, 197}, {1, 433, 197}, {433, 1, 64},  {196, 384, 192}, {196, 196, 48},
};
const scalars kScalars[] = {{1.0f, 0.0f}, {1.0f, 1.0f}, {0.5f, -2.0f}, {-1.25f, 0.75f}};

std::string param_name(const ::testing::TestParamInfo<gemm_param>& info) {
  const auto& [ta, tb, s, ab] = info.param;
  auto num = [](float v) {
    std::string t = std::to_string(static_cast<int>(v * 100.0f));
    for (auto& ch : t)
      if (ch == '-') ch = 'm';
    return t;
  };
  return std::string(ta ? "T" : "N") + (tb ? "T" : "N") + "_" + std::to_string(s.m) + "x" +
         std::to_string(s.n) + "x" + std::to_string(s.k) + "_a" + num(ab.alpha) + "_b" +
         num(ab.beta) + "_" + std::to_string(info.index);
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool(),
                                            ::testing::ValuesIn(kShapes),
                                            ::testing::ValuesIn(kScalars)),
                         param_name);

TEST(Gemm, AlphaZeroOrKZeroScalesC) {
  for (const auto& be : kBackends) {
    std::vector<float> a(6, 1.0f), b(6, 1.0f), c = {1, 2, 3, 4};
    be.fn(false, false, 2, 2, 3, 0.0f, a.data(), 3, b.data(), 2, 2.0f, c.data(), 2);
    EXPECT_EQ(c, (std::vector<float>{2, 4, 6, 8})) << be.name;
    be.fn(false, false, 2, 2, 0, 1.0f, a.data(), 1, b.data(), 2, 0.5f, c.data(), 2);
    EXPECT_EQ(c, (std::vector<float>{1, 2, 3, 4})) << be.name;
    std::vector<float> nan_c(4, std::numeric_limits<float>::quiet_NaN());
    be.fn(false, false, 2, 2, 0, 1.0f, a.data(), 1, b.data(), 2, 0.0f, nan_c.data(), 2);
    EXPECT_EQ(nan_c, (std::vector<float>{0, 0, 0, 0})) << be.name;
  }
}

TEST(Gemm, EmptyOutputTouchesNothing) {
  for (const auto& be : kBackends) {
    float c = 7.0f;
    const float a = 1.0f, b = 1.0f;
    be.fn(false, false, 0, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);
    be.fn(false, false, 1, 0, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);
    EXPECT_EQ(c, 7.0f) << be.name;
  }
}

TEST(Gemm, SmallExactProduct) {
  // [[1,2],[3,4]] * [[5,6],[7,8]] = [[19,22],[43,50]], exact in float.
  const float a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8};
  for (const auto& be : kBackends) {
    float c[4] = {};
    be.fn(false, false, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    EXPECT_EQ(std::vector<float>(c, c + 4), (std::vector<float>{19, 22, 43, 50})) << be.name;
    be.fn(true, true, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);  // A^T B^T = (BA)^T
    EXPECT_EQ(std::vector<float>(c, c + 4), (std::vector<float>{23, 31, 34, 46})) << be.name;
  }
}

TEST(Gemm, BackendNames) {
  const std::string g = gpsa::gemm_backend();
  EXPECT_TRUE(g == "portable" || g == "cblas") << g;
  const std::string s = gpsa::simd_backend();
  EXPECT_FALSE(s.empty());
  RecordProperty("gemm_backend", g);
  RecordProperty("simd_backend", s);
  std::printf("gemm backend: %s, simd backend: %s\n", g.c_str(), s.c_str());
}

}  // namespace
