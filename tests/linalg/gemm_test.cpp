// SPDX-License-Identifier: MIT
// gemm vs a float64 triple loop (tolerance from k): all transpose combinations, odd sizes, padded
// leading dimensions, alpha/beta cases, beta = 0 over a NaN-filled C; on every SIMD target of the
// build, the portable kernel, pre-packed B and the executor split. Then bit-identity: the same
// bytes whichever rectangle of C a call computes, whatever the worker count and schedule, packed
// or not, and on every target with fused multiply-add.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gpsa/core/linalg.hpp"
#include "linalg_impl.hpp"
#include "targets.hpp"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace {

using gemm_sig = void(bool, bool, std::size_t, std::size_t, std::size_t, float, const float*,
                      std::size_t, const float*, std::size_t, float, float*, std::size_t);

struct backend {
  std::string name;
  std::function<gemm_sig> fn;
};

// gpsa::gemm on arguments that are valid here: it must succeed (its checks: ArgumentChecks).
void gemm_ok(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
             const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
             std::size_t ldc, const gpsa::executor* ex = nullptr) {
  ASSERT_EQ(gpsa::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ex), gpsa::status::ok);
}

// gemm_packed with op(B) packed first (any ldb).
void packed_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
                 const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta,
                 float* c, std::size_t ldc, const gpsa::executor* ex) {
  std::size_t floats = 0;
  ASSERT_EQ(gpsa::gemm_packed_b_size(k, n, floats), gpsa::status::ok);
  std::vector<float> packed(floats + 1);  // + 1: never a zero-size vector's null data()
  ASSERT_EQ(gpsa::gemm_pack_b(tb, k, n, b, ldb, packed), gpsa::status::ok);
  ASSERT_EQ(gpsa::gemm_packed(ta, m, n, k, alpha, a, lda, packed, beta, c, ldc, ex),
            gpsa::status::ok);
}

const std::vector<backend>& backends() {
  static const std::vector<backend> list = [] {
    std::vector<backend> out;
    for (const std::size_t t : gpsa_test::simd_targets())
      out.push_back({"gemm@" + gpsa_test::target_name(t),
                     [t](bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float al,
                         const float* a, std::size_t lda, const float* b, std::size_t ldb, float be,
                         float* c, std::size_t ldc) {
                       const gpsa_test::target_scope scope(t);
                       gemm_ok(ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc);
                     }});
    out.push_back({"portable", &gpsa::detail::gemm_blocked_scalar});
    out.push_back({"packed", [](bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k,
                                float al, const float* a, std::size_t lda, const float* b,
                                std::size_t ldb, float be, float* c, std::size_t ldc) {
                     packed_gemm(ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc, nullptr);
                   }});
    out.push_back({"split3", [](bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k,
                                float al, const float* a, std::size_t lda, const float* b,
                                std::size_t ldb, float be, float* c, std::size_t ldc) {
                     gpsa_test::reverse_executor three(3);
                     gemm_ok(ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc, &three.ex);
                   }});
    return out;
  }();
  return list;
}

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

// One product, its operands and the float64 reference with its error bound.
struct gemm_case {
  bool ta, tb;
  shape s;
  scalars ab;
  std::size_t lda, ldb, ldc;
  std::vector<float> a, b, c0;
  std::vector<double> ref, tol;

  static constexpr float kSentinel = 12345.0f;

  gemm_case(bool ta_, bool tb_, shape s_, scalars ab_, bool nan_c, std::size_t pad = 3)
      : ta(ta_), tb(tb_), s(s_), ab(ab_) {
    const std::size_t a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k;
    const std::size_t b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n;
    lda = a_cols + pad;
    ldb = b_cols + pad;
    ldc = s.n + pad;
    a = random_matrix(a_rows * lda, 1u + static_cast<unsigned>(s.m * 7 + s.k));
    b = random_matrix(b_rows * ldb, 2u + static_cast<unsigned>(s.n * 5 + s.k));
    c0 = random_matrix(s.m * ldc, 3u + static_cast<unsigned>(s.m + s.n));
    for (std::size_t i = 0; i < s.m; ++i) {
      for (std::size_t j = 0; j < s.n; ++j)
        if (nan_c) c0[i * ldc + j] = std::numeric_limits<float>::quiet_NaN();
      for (std::size_t j = s.n; j < ldc; ++j) c0[i * ldc + j] = kSentinel;
    }
    // The classic dot-product bound, gamma_k * sum|a||b| (scaled by |alpha|), plus the beta*C
    // rounding; it holds for any summation order.
    const double eps = std::numeric_limits<float>::epsilon();
    ref.resize(s.m * s.n);
    tol.resize(s.m * s.n);
    for (std::size_t i = 0; i < s.m; ++i) {
      for (std::size_t j = 0; j < s.n; ++j) {
        double dot = 0.0, mag = 0.0;
        for (std::size_t p = 0; p < s.k; ++p) {
          const double x = static_cast<double>(op_a(i, p)) * op_b(p, j);
          dot += x;
          mag += std::fabs(x);
        }
        const double old = ab.beta == 0.0f ? 0.0 : static_cast<double>(c0[i * ldc + j]);
        ref[i * s.n + j] = static_cast<double>(ab.alpha) * dot + static_cast<double>(ab.beta) * old;
        tol[i * s.n + j] = (2.0 * static_cast<double>(s.k) + 4.0) * eps *
                               (std::fabs(static_cast<double>(ab.alpha)) * mag +
                                std::fabs(static_cast<double>(ab.beta) * old)) +
                           1e-30;
      }
    }
  }
  float op_a(std::size_t i, std::size_t p) const { return ta ? a[p * lda + i] : a[i * lda + p]; }
  float op_b(std::size_t p, std::size_t j) const { return tb ? b[j * ldb + p] : b[p * ldb + j]; }

  std::vector<float> run(const std::function<gemm_sig>& fn) const {
    std::vector<float> c = c0;
    fn(ta, tb, s.m, s.n, s.k, ab.alpha, a.data(), lda, b.data(), ldb, ab.beta, c.data(), ldc);
    return c;
  }

  void check(const std::string& name, const std::vector<float>& c) const {
    for (std::size_t i = 0; i < s.m; ++i) {
      for (std::size_t j = 0; j < s.n; ++j) {
        const double got = c[i * ldc + j];
        ASSERT_TRUE(std::isfinite(got)) << name << " C(" << i << "," << j << ") not finite";
        ASSERT_LE(std::fabs(got - ref[i * s.n + j]), tol[i * s.n + j])
            << name << " C(" << i << "," << j << ")";
      }
      for (std::size_t j = s.n; j < ldc; ++j)
        ASSERT_EQ(c[i * ldc + j], kSentinel) << name << ": wrote past n in row " << i;
    }
  }
};

using gemm_param = std::tuple<bool, bool, shape, scalars>;

class GemmTest : public ::testing::TestWithParam<gemm_param> {};

TEST_P(GemmTest, MatchesFloat64Reference) {
  const auto [ta, tb, s, ab] = GetParam();
  const gemm_case gc(ta, tb, s, ab, false);
  for (const auto& be : backends()) gc.check(be.name, gc.run(be.fn));
}

TEST_P(GemmTest, BetaZeroIgnoresNaNInC) {
  const auto [ta, tb, s, ab] = GetParam();
  const gemm_case gc(ta, tb, s, scalars{ab.alpha, 0.0f}, true);
  for (const auto& be : backends()) gc.check(be.name, gc.run(be.fn));
}

// The brief's odd sizes (1, 3, 17, 64, 197, 433) in mixed roles, plus the GPSA shapes
// (x W^T with N = 196, D = 192; q k^T per head with d = 48; attn v) and k beyond one K block.
const shape kShapes[] = {
    {1, 1, 1},    {1, 3, 17},      {3, 1, 64},     {17, 17, 17},   {3, 433, 1},     {64, 64, 64},
    {197, 17, 3}, {17, 197, 64},   {64, 3, 433},   {433, 64, 17},  {197, 197, 197}, {1, 433, 197},
    {433, 1, 64}, {196, 384, 192}, {196, 196, 48}, {196, 48, 196}, {9, 100, 600},
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

// ---- bit-identity ------------------------------------------------------------------------------

bool same_bytes(const std::vector<float>& x, const std::vector<float>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

class GemmBits : public ::testing::TestWithParam<std::tuple<bool, bool, shape>> {};

TEST_P(GemmBits, SameBytesWhateverComputesIt) {
  const auto [ta, tb, s] = GetParam();
  for (const scalars ab : {scalars{1.0f, 0.0f}, scalars{-0.75f, 1.5f}}) {
    const gemm_case gc(ta, tb, s, ab, false);
    const std::vector<float> serial = gc.run(
        [](bool a_t, bool b_t, std::size_t m, std::size_t n, std::size_t k, float al,
           const float* a, std::size_t lda, const float* b, std::size_t ldb, float be, float* cc,
           std::size_t ldc) { gemm_ok(a_t, b_t, m, n, k, al, a, lda, b, ldb, be, cc, ldc); });
    gc.check("serial", serial);
    auto run = [&](const std::function<gemm_sig>& fn) { return gc.run(fn); };

    // Any worker count, any schedule.
    for (std::size_t w = 1; w <= 6; ++w) {
      gpsa_test::reverse_executor ex(w);
      const auto c = run([&](bool a_t, bool b_t, std::size_t m, std::size_t n, std::size_t k,
                             float al, const float* a, std::size_t lda, const float* b,
                             std::size_t ldb, float be, float* cc, std::size_t ldc) {
        gemm_ok(a_t, b_t, m, n, k, al, a, lda, b, ldb, be, cc, ldc, &ex.ex);
      });
      EXPECT_TRUE(same_bytes(c, serial)) << w << " workers";
      const auto cp = run([&](bool a_t, bool b_t, std::size_t m, std::size_t n, std::size_t k,
                              float al, const float* a, std::size_t lda, const float* b,
                              std::size_t ldb, float be, float* cc, std::size_t ldc) {
        packed_gemm(a_t, b_t, m, n, k, al, a, lda, b, ldb, be, cc, ldc, &ex.ex);
      });
      EXPECT_TRUE(same_bytes(cp, serial)) << "packed B, " << w << " workers";
    }

    // C computed as four rectangles split at arbitrary (not tile-aligned) rows and columns.
    const std::size_t mi = s.m / 3, nj = s.n * 2 / 5;
    const auto quads = run([&](bool a_t, bool b_t, std::size_t m, std::size_t n, std::size_t k,
                               float al, const float* a, std::size_t lda, const float* b,
                               std::size_t ldb, float be, float* cc, std::size_t ldc) {
      for (const auto& [r0, r1] : {std::pair{std::size_t{0}, mi}, std::pair{mi, m}})
        for (const auto& [c0, c1] : {std::pair{std::size_t{0}, nj}, std::pair{nj, n}})
          gemm_ok(a_t, b_t, r1 - r0, c1 - c0, k, al, a_t ? a + r0 : a + r0 * lda, lda,
                  b_t ? b + c0 * ldb : b + c0, ldb, be, cc + r0 * ldc + c0, ldc);
    });
    EXPECT_TRUE(same_bytes(quads, serial)) << "four rectangles";

    // Every target with fused multiply-add (AVX2, AVX-512): the same bits.
    for (const std::size_t t : gpsa_test::simd_targets()) {
      const std::vector<float> c =
          run([t](bool a_t, bool b_t, std::size_t m, std::size_t n, std::size_t k, float al,
                  const float* a, std::size_t lda, const float* b, std::size_t ldb, float be,
                  float* cc, std::size_t ldc) {
            const gpsa_test::target_scope scope(t);
            gemm_ok(a_t, b_t, m, n, k, al, a, lda, b, ldb, be, cc, ldc);
          });
      gc.check("gemm@" + gpsa_test::target_name(t), c);
      if (gpsa_test::fused_multiply_add(t) && gpsa_test::fused_multiply_add(0)) {
        EXPECT_TRUE(same_bytes(c, serial))
            << gpsa_test::target_name(t) << " vs " << gpsa_test::target_name(0);
      }
    }
  }
}

const shape kBitShapes[] = {{196, 432, 432}, {196, 196, 48}, {196, 48, 196},
                            {61, 100, 530},  {5, 7, 3},      {400, 20, 9}};
INSTANTIATE_TEST_SUITE_P(Shapes, GemmBits,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool(),
                                            ::testing::ValuesIn(kBitShapes)));

TEST(Gemm, RowsOfABatchMatchTheRowsAlone) {
  // x W^T over a batch of 3 items: each item's rows equal the product of that item alone.
  const std::size_t n = 196, d = 120, out = 200, batch = 3;
  const auto x = random_matrix(batch * n * d, 7), w = random_matrix(out * d, 8);
  std::vector<float> all(batch * n * out), one(n * out);
  gemm_ok(false, true, batch * n, out, d, 1.0f, x.data(), d, w.data(), d, 0.0f, all.data(), out);
  for (std::size_t b = 0; b < batch; ++b) {
    gemm_ok(false, true, n, out, d, 1.0f, x.data() + b * n * d, d, w.data(), d, 0.0f, one.data(),
            out);
    EXPECT_EQ(std::memcmp(one.data(), all.data() + b * n * out, one.size() * sizeof(float)), 0)
        << "item " << b;
  }
}

// ---- edge cases --------------------------------------------------------------------------------

TEST(Gemm, AlphaZeroOrKZeroScalesC) {
  for (const auto& be : backends()) {
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
  for (const auto& be : backends()) {
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
  for (const auto& be : backends()) {
    float c[4] = {};
    be.fn(false, false, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    EXPECT_EQ(std::vector<float>(c, c + 4), (std::vector<float>{19, 22, 43, 50})) << be.name;
    be.fn(true, true, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);  // A^T B^T = (BA)^T
    EXPECT_EQ(std::vector<float>(c, c + 4), (std::vector<float>{23, 31, 34, 46})) << be.name;
  }
}

TEST(Gemm, PackBChecksItsArguments) {
  std::size_t floats = 0;
  ASSERT_EQ(gpsa::gemm_packed_b_size(100, 49, floats), gpsa::status::ok);
  // k rows of the 49 columns rounded up to whole panels (48 wide with SIMD, narrower without).
  EXPECT_EQ(floats % 100, 0u);
  EXPECT_GE(floats / 100, 49u);
  EXPECT_LT(floats / 100, 49u + 48u);
  EXPECT_EQ(gpsa::gemm_packed_b_size(static_cast<std::size_t>(-1) / 8, 100, floats),
            gpsa::status::size_overflow);
  std::vector<float> b(100 * 49, 1.0f), packed(floats);
  EXPECT_EQ(
      gpsa::gemm_pack_b(false, 100, 49, b.data(), 49, std::span<float>(packed.data(), floats - 1)),
      gpsa::status::buffer_too_small);
  EXPECT_EQ(gpsa::gemm_pack_b(false, 100, 49, nullptr, 49, packed), gpsa::status::invalid_argument);
  EXPECT_EQ(gpsa::gemm_pack_b(false, 100, 49, b.data(), 48, packed),
            gpsa::status::invalid_argument);  // ldb shorter than a row of B
  EXPECT_EQ(gpsa::gemm_pack_b(false, 100, 49, b.data(), 49, packed), gpsa::status::ok);
  EXPECT_EQ(gpsa::gemm_pack_b(false, 0, 49, nullptr, 49, {}), gpsa::status::ok);  // nothing
}

TEST(Gemm, SubnormalResultsAreZeroAndTheCallersModeIsKept) {
  // 1e-20 * 1e-20 = 1e-40 is subnormal: gemm counts it as 0 (x86: FTZ/DAZ for the call only).
  const float a[] = {1e-20f, 1e-20f}, b[] = {1e-20f, 1e-20f};
#if defined(__SSE__)
  const unsigned before = _mm_getcsr();
#endif
  for (const auto& be : backends()) {
    float c = 1.0f;
    be.fn(false, false, 1, 1, 2, 1.0f, a, 2, b, 1, 0.0f, &c, 1);
#if defined(__SSE__)
    EXPECT_EQ(c, 0.0f) << be.name;
    EXPECT_EQ(_mm_getcsr(), before) << be.name << ": the caller's MXCSR was not restored";
#else
    EXPECT_TRUE(c == 0.0f || std::fabs(c - 2e-40f) < 1e-44f) << be.name;
#endif
  }
  // Outside gemm, subnormals are still produced (the mode really was restored).
  volatile float tiny = 1e-20f;
  EXPECT_GT(tiny * tiny, 0.0f);
}

TEST(Gemm, BackendNames) {
  const std::string g = gpsa::gemm_backend();
  EXPECT_TRUE(g == "blocked-highway" || g == "blocked-portable") << g;
  const std::string s = gpsa::simd_backend();
  EXPECT_EQ(s, gpsa_test::target_name(0));  // the best target is the one dispatched to
  std::string all;
  for (const std::size_t t : gpsa_test::simd_targets()) all += gpsa_test::target_name(t) + " ";
  RecordProperty("gemm_backend", g);
  RecordProperty("simd_targets", all);
  std::printf("gemm backend: %s, simd backend: %s, targets tested: %s\n", g.c_str(), s.c_str(),
              all.c_str());
}

// Every argument gemm and gemm_packed check, one at a time on an otherwise valid call.
TEST(Gemm, ArgumentChecks) {
  using gpsa::status;
  const std::size_t m = 3, n = 5, k = 4;
  const auto a = random_matrix(m * k, 1), b = random_matrix(k * n, 2);
  std::vector<float> c(m * n, 0.0f);
  const auto call = [&](const float* pa, std::size_t lda, const float* pb, std::size_t ldb,
                        float* pc, std::size_t ldc, const gpsa::executor* ex = nullptr) {
    return gpsa::gemm(false, false, m, n, k, 1.0f, pa, lda, pb, ldb, 0.0f, pc, ldc, ex);
  };
  EXPECT_EQ(call(a.data(), k, b.data(), n, c.data(), n), status::ok);
  EXPECT_EQ(call(nullptr, k, b.data(), n, c.data(), n), status::invalid_argument);
  EXPECT_EQ(call(a.data(), k, nullptr, n, c.data(), n), status::invalid_argument);
  EXPECT_EQ(call(a.data(), k, b.data(), n, nullptr, n), status::invalid_argument);
  EXPECT_EQ(call(a.data(), k - 1, b.data(), n, c.data(), n), status::invalid_argument);
  EXPECT_EQ(call(a.data(), k, b.data(), n - 1, c.data(), n), status::invalid_argument);
  EXPECT_EQ(call(a.data(), k, b.data(), n, c.data(), n - 1), status::invalid_argument);
  const gpsa::executor broken{nullptr, nullptr, 2};
  EXPECT_EQ(call(a.data(), k, b.data(), n, c.data(), n, &broken), status::invalid_argument);
  // Transposed operands: the leading dimension is checked against the stored shape.
  EXPECT_EQ(gpsa::gemm(true, true, m, n, k, 1.0f, a.data(), m, b.data(), k, 0.0f, c.data(), n),
            status::ok);
  EXPECT_EQ(gpsa::gemm(true, false, m, n, k, 1.0f, a.data(), m - 1, b.data(), n, 0.0f, c.data(), n),
            status::invalid_argument);
  // Nothing to compute: no operand is looked at.
  EXPECT_EQ(gpsa::gemm(false, false, 0, n, k, 1.0f, nullptr, 0, nullptr, 0, 0.0f, nullptr, 0),
            status::ok);
  EXPECT_EQ(gpsa::gemm(false, false, m, n, 0, 1.0f, nullptr, 0, nullptr, 0, 0.0f, c.data(), n),
            status::ok);
  // gemm_packed: the packed op(B) must hold gemm_packed_b_size floats.
  std::size_t floats = 0;
  ASSERT_EQ(gpsa::gemm_packed_b_size(k, n, floats), status::ok);
  std::vector<float> packed(floats);
  ASSERT_EQ(gpsa::gemm_pack_b(false, k, n, b.data(), n, packed), status::ok);
  EXPECT_EQ(gpsa::gemm_packed(false, m, n, k, 1.0f, a.data(), k, packed, 0.0f, c.data(), n),
            status::ok);
  EXPECT_EQ(gpsa::gemm_packed(false, m, n, k, 1.0f, a.data(), k,
                              std::span(packed).first(floats - 1), 0.0f, c.data(), n),
            status::buffer_too_small);
  EXPECT_EQ(gpsa::gemm_packed(false, m, n, k, 1.0f, nullptr, k, packed, 0.0f, c.data(), n),
            status::invalid_argument);
}

}  // namespace
