// SPDX-License-Identifier: MIT
// The int8 kernels (gpsa/core/int8.hpp) against independent computations written here (float64
// arithmetic rounded to float where the specification rounds, int64 sums, the C library's
// round-half-even) and against the NumPy reference's fixtures (tests/golden/int8, made by
// tools/int8_reference.py kernels): bit for bit.
#include <gtest/gtest.h>

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gpsa/core/int8.hpp"
#include "gpsa/detail/constexpr_math.hpp"  // GPSA_FP_STRICT_BEGIN / END
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/npy.hpp"
#include "gpsa/runtime/safetensors.hpp"
#include "int8_kernels.hpp"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace {

using gpsa::status;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// ---- the specification, computed independently ------------------------------------------------

// (Contraction off here too: GCC turns float(double(a) * b) into a float product, which it could
// then fuse with the next addition in a build with FMA.)
GPSA_FP_STRICT_BEGIN

// IEEE single operations through double: the exact double result rounded once to float equals
// the correctly rounded float result (double has more than 2 * 24 + 2 bits), under the default
// rounding mode this is evaluated in.
float mul_f(float a, float b) { return static_cast<float>(static_cast<double>(a) * b); }
float add_f(float a, float b) { return static_cast<float>(static_cast<double>(a) + b); }
float div_f(float a, float b) { return static_cast<float>(static_cast<double>(a) / b); }

// r = float(acc) * m (+ b), then stored or added: each step rounded once.
float expected_linear(std::int64_t acc, float m, const float* b, std::size_t o, float y_in,
                      bool accumulate) {
  float r = mul_f(static_cast<float>(static_cast<double>(acc)), m);  // acc < 2^31: exact double
  if (b != nullptr) r = add_f(r, b[o]);
  return accumulate ? add_f(y_in, r) : r;
}

GPSA_FP_STRICT_END

// The code of x * m: round half to even (nearbyint in the default mode), saturate, NaN -> 0.
int expected_code(float x, float m) {
  const double y = mul_f(x, m);
  if (std::isnan(y)) return 0;
  if (y >= 127.0) return 127;
  if (y <= -127.0) return -127;
  return static_cast<int>(std::nearbyint(y));
}

// Values that probe the rounding: ties, their neighbours, the saturation edges, specials.
std::vector<float> probe_values() {
  std::vector<float> v = {
      0.0f,   -0.0f,   0.5f,    1.5f,        2.5f,         -0.5f,       -1.5f,        -2.5f,
      125.5f, 126.5f,  -126.5f, 126.49f,     126.51f,      127.0f,      -127.0f,      127.4f,
      127.5f, 128.0f,  -128.0f, 1e30f,       -1e30f,       kInf,        -kInf,        kNaN,
      1e-45f, -1e-45f, 1e-38f,  0.49999997f, -0.49999997f, 0.50000006f, 3.4028235e38f};
  for (float t = -130.0f; t <= 130.0f; t += 0.5f) {
    v.push_back(t);
    v.push_back(std::nextafter(t, kInf));
    v.push_back(std::nextafter(t, -kInf));
  }
  return v;
}

std::vector<std::int8_t> random_codes(std::size_t n, std::mt19937& rng, int lo = -127,
                                      int hi = 127) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<std::int8_t> v(n);
  for (auto& x : v) x = static_cast<std::int8_t>(d(rng));
  return v;
}

std::vector<std::int64_t> brute_gemm(std::size_t m, std::size_t n, std::size_t k,
                                     const std::vector<std::int8_t>& x,
                                     const std::vector<std::int8_t>& w) {
  std::vector<std::int64_t> c(m * n, 0);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t o = 0; o < n; ++o)
      for (std::size_t j = 0; j < k; ++j) c[i * n + o] += std::int64_t{x[i * k + j]} * w[o * k + j];
  return c;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// A hostile floating-point environment for the calling thread: rounding toward +inf and (x86)
// subnormals flushed. The kernels must set their own mode; restored on exit.
struct hostile_fp_env {
  int saved_round = std::fegetround();
#if defined(__SSE__) || defined(__x86_64__)
  unsigned saved_csr = _mm_getcsr();
#endif
  hostile_fp_env() {
    std::fesetround(FE_UPWARD);
#if defined(__SSE__) || defined(__x86_64__)
    _mm_setcsr(_mm_getcsr() | 0x8040u);
#endif
  }
  ~hostile_fp_env() {
#if defined(__SSE__) || defined(__x86_64__)
    _mm_setcsr(saved_csr);
#endif
    std::fesetround(saved_round);
  }
};

// ---- params and quantisation
// ---------------------------------------------------------------------

TEST(Int8Params, ScaleAndMultiplierAreSingleDivisions) {
  for (float amax : {1.0f, 0.3f, 5.196908f, 127.0f, 1e-30f, 3.0e38f, 1.17549435e-38f}) {
    gpsa::int8_params p{};
    ASSERT_EQ(gpsa::int8_params_of(amax, p), status::ok) << amax;
    EXPECT_TRUE(same_bits(p.scale, div_f(amax, 127.0f))) << amax;
    EXPECT_TRUE(same_bits(p.multiplier, div_f(127.0f, amax))) << amax;
  }
}

TEST(Int8Params, ZeroAndSubnormalAmaxQuantiseEverythingToZero) {
  for (float amax : {0.0f, 1e-45f, 1e-39f}) {
    gpsa::int8_params p{1.0f, 1.0f};
    ASSERT_EQ(gpsa::int8_params_of(amax, p), status::ok);
    EXPECT_EQ(p.scale, 0.0f);
    EXPECT_EQ(p.multiplier, 0.0f);
    EXPECT_EQ(gpsa::int8_quantize(3.0f, p.multiplier), 0);
  }
}

TEST(Int8Params, RejectsNegativeNaNAndInfinite) {
  gpsa::int8_params p{};
  for (float amax : {-1.0f, -1e-45f, kNaN, kInf, -kInf})
    EXPECT_EQ(gpsa::int8_params_of(amax, p), status::invalid_argument) << amax;
}

TEST(Int8Quantize, RoundsHalfToEvenAndSaturates) {
  const std::vector<float> v = probe_values();
  for (float m : {1.0f, 0.5f, 2.0f, 127.0f / 5.196908f, 24.4375f, 1e-3f, 0.0f}) {
    for (float x : v)
      ASSERT_EQ(gpsa::int8_quantize(x, m), expected_code(x, m)) << "x " << x << " m " << m;
    std::vector<std::int8_t> q(v.size());
    ASSERT_EQ(gpsa::int8_quantize(v, m, q), status::ok);
    for (std::size_t i = 0; i < v.size(); ++i) ASSERT_EQ(q[i], expected_code(v[i], m)) << v[i];
  }
  EXPECT_EQ(gpsa::int8_quantize(2.5f, 1.0f), 2);
  EXPECT_EQ(gpsa::int8_quantize(3.5f, 1.0f), 4);
  EXPECT_EQ(gpsa::int8_quantize(-2.5f, 1.0f), -2);
  EXPECT_EQ(gpsa::int8_quantize(0.49999997f, 1.0f), 0);  // x + 0.5 would round up to 1
  EXPECT_EQ(gpsa::int8_quantize(kNaN, 1.0f), 0);
  EXPECT_EQ(gpsa::int8_quantize(-kInf, 1.0f), -127);
  EXPECT_EQ(gpsa::int8_quantize(1000.0f, 1.0f), 127);
}

TEST(Int8Quantize, RandomValuesMatchTheSpecification) {
  std::mt19937 rng(7);
  std::normal_distribution<float> d(0.0f, 40.0f);
  std::vector<float> x(100000);
  for (auto& v : x) v = d(rng);
  std::vector<std::int8_t> q(x.size());
  for (float m : {1.0f, 0.7310586f, 3.3f}) {
    ASSERT_EQ(gpsa::int8_quantize(x, m, q), status::ok);
    for (std::size_t i = 0; i < x.size(); ++i) ASSERT_EQ(q[i], expected_code(x[i], m)) << x[i];
  }
}

TEST(Int8Quantize, SameCodesUnderAnotherRoundingModeAndFlushToZero) {
  const std::vector<float> v = probe_values();
  const float m = 127.0f / 5.196908f;
  std::vector<std::int8_t> want(v.size()), got(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    want[i] = static_cast<std::int8_t>(expected_code(v[i], m));
  {
    hostile_fp_env env;
    ASSERT_EQ(gpsa::int8_quantize(v, m, got), status::ok);
  }
  EXPECT_EQ(got, want);
}

TEST(Int8Quantize, SizeMismatchIsAnError) {
  std::vector<float> x(4, 1.0f);
  std::vector<std::int8_t> q(3);
  EXPECT_EQ(gpsa::int8_quantize(x, 1.0f, q), status::shape_mismatch);
  std::vector<float> y(5);
  EXPECT_EQ(gpsa::int8_dequantize(q, 1.0f, y), status::shape_mismatch);
  EXPECT_EQ(gpsa::int8_quantize({}, 1.0f, {}), status::ok);
}

TEST(Int8Dequantize, CodeTimesScaleRoundedOnce) {
  std::vector<std::int8_t> q;
  for (int c = -127; c <= 127; ++c) q.push_back(static_cast<std::int8_t>(c));
  std::vector<float> x(q.size());
  for (float s : {0.04092054f, 1.0f, 1e-38f, 3e-39f}) {
    ASSERT_EQ(gpsa::int8_dequantize(q, s, x), status::ok);
    for (std::size_t i = 0; i < q.size(); ++i)
      ASSERT_TRUE(same_bits(x[i], mul_f(static_cast<float>(q[i]), s))) << int{q[i]} << " " << s;
  }
  // 3e-39 * code is subnormal: kept, not flushed, whatever the caller's mode (compared after
  // the mode is restored: under DAZ a subnormal compares equal to 0).
  const float want = mul_f(1.0f, 3e-39f);
  {
    hostile_fp_env env;
    ASSERT_EQ(gpsa::int8_dequantize(q, 3e-39f, x), status::ok);
  }
  EXPECT_TRUE(same_bits(x[128], want));
  EXPECT_NE(x[128], 0.0f);
}

TEST(Int8Weights, PerRowScalesAndCodes) {
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.0f, 0.2f);
  const std::size_t rows = 7, cols = 13;
  std::vector<float> w(rows * cols);
  for (auto& v : w) v = d(rng);
  for (std::size_t c = 0; c < cols; ++c) w[2 * cols + c] = 0.0f;  // an all-zero row
  w[4 * cols + 5] = -3.0f;                                        // a row's amax, negative
  std::vector<std::int8_t> q(rows * cols);
  std::vector<float> scales(rows);
  ASSERT_EQ(gpsa::int8_quantize_weights(rows, cols, w, q, scales), status::ok);
  for (std::size_t r = 0; r < rows; ++r) {
    float amax = 0.0f;
    for (std::size_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
    const float m = amax > 0.0f ? div_f(127.0f, amax) : 0.0f;
    EXPECT_TRUE(same_bits(scales[r], amax > 0.0f ? div_f(amax, 127.0f) : 0.0f)) << r;
    for (std::size_t c = 0; c < cols; ++c)
      ASSERT_EQ(q[r * cols + c], expected_code(w[r * cols + c], m)) << r << "," << c;
  }
  EXPECT_EQ(q[4 * cols + 5], -127);
  for (std::size_t c = 0; c < cols; ++c) EXPECT_EQ(q[2 * cols + c], 0);
}

TEST(Int8Weights, NonFiniteWeightsAndBadSizesAreErrors) {
  std::vector<float> w(6, 0.5f);
  std::vector<std::int8_t> q(6);
  std::vector<float> s(2);
  w[3] = kNaN;
  EXPECT_EQ(gpsa::int8_quantize_weights(2, 3, w, q, s), status::invalid_argument);
  w[3] = -kInf;
  EXPECT_EQ(gpsa::int8_quantize_weights(2, 3, w, q, s), status::invalid_argument);
  w[3] = 0.5f;
  EXPECT_EQ(gpsa::int8_quantize_weights(3, 2, w, q, std::span<float>(s)), status::shape_mismatch);
  EXPECT_EQ(gpsa::int8_quantize_weights(2, 4, w, q, s), status::shape_mismatch);
  EXPECT_EQ(gpsa::int8_quantize_weights(static_cast<std::size_t>(-1), 2, w, q, s),
            status::size_overflow);
  EXPECT_EQ(gpsa::int8_quantize_weights(2, 3, w, q, s), status::ok);
}

// ---- products
// ---------------------------------------------------------------------------------------

struct shape {
  std::size_t m, n, k;
};

const shape kShapes[] = {{1, 1, 1}, {1, 1, 0},   {2, 2, 4},    {3, 5, 7},    {4, 4, 8},
                         {5, 3, 9}, {7, 6, 15},  {1, 9, 64},   {8, 64, 128}, {65, 33, 129},
                         {2, 1, 3}, {16, 17, 4}, {9, 10, 1000}};

TEST(Int8Gemm, ExactAgainstInt64SumsOnEveryBackend) {
  std::mt19937 rng(11);
  for (const shape& s : kShapes) {
    const auto x = random_codes(s.m * s.k, rng), w = random_codes(s.n * s.k, rng);
    const auto want = brute_gemm(s.m, s.n, s.k, x, w);
    std::vector<std::int32_t> c(s.m * s.n, -1), p(s.m * s.n, -1);
    ASSERT_EQ(gpsa::int8_gemm({s.m, s.n, s.k}, x, w, c), status::ok);
    gpsa::detail::int8_gemm_portable(s.m, s.n, s.k, x.data(), w.data(), p.data());
    for (std::size_t i = 0; i < c.size(); ++i) {
      ASSERT_EQ(c[i], want[i]) << s.m << "x" << s.n << "x" << s.k << " at " << i;
      ASSERT_EQ(p[i], want[i]) << "portable " << s.m << "x" << s.n << "x" << s.k << " at " << i;
    }
  }
}

TEST(Int8Gemm, ExtremeCodesAtTheLongestInputDoNotOverflow) {
  const std::size_t k = gpsa::int8_max_in;
  std::vector<std::int8_t> x(2 * k, 127), w(2 * k, 127);
  for (std::size_t j = 0; j < k; ++j) w[k + j] = -127;  // second weight row: the most negative sum
  std::vector<std::int32_t> c(4);
  ASSERT_EQ(gpsa::int8_gemm({2, 2, k}, x, w, c), status::ok);
  const std::int64_t top = std::int64_t{127} * 127 * static_cast<std::int64_t>(k);
  ASSERT_LE(top, std::int64_t{std::numeric_limits<std::int32_t>::max()});
  EXPECT_EQ(c[0], top);
  EXPECT_EQ(c[1], -top);
  EXPECT_EQ(c[3], -top);
  std::vector<std::int8_t> x1(k + 1), w1(k + 1);
  std::vector<std::int32_t> c1(1);
  EXPECT_EQ(gpsa::int8_gemm({1, 1, k + 1}, x1, w1, c1), status::invalid_argument);
}

TEST(Int8Gemm, SizeErrors) {
  std::vector<std::int8_t> x(6), w(6);
  std::vector<std::int32_t> c(4);
  EXPECT_EQ(gpsa::int8_gemm({2, 2, 3}, x, w, c), status::ok);
  EXPECT_EQ(gpsa::int8_gemm({2, 2, 3}, x, w, std::span<std::int32_t>(c).first(3)),
            status::shape_mismatch);
  EXPECT_EQ(gpsa::int8_gemm({2, 2, 4}, x, w, c), status::shape_mismatch);
  EXPECT_EQ(gpsa::int8_gemm({static_cast<std::size_t>(-1) / 2, 2, 3}, x, w, c),
            status::size_overflow);
  EXPECT_EQ(gpsa::int8_gemm({0, 0, 3}, {}, {}, {}), status::ok);
}

TEST(Int8Linear, RequantisesPerChannelStoreAndAccumulate) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> um(1e-5f, 1e-2f), ub(-1.0f, 1.0f);
  for (const shape& s : kShapes) {
    const auto x = random_codes(s.m * s.k, rng), w = random_codes(s.n * s.k, rng);
    std::vector<float> mult(s.n), bias(s.n), y_in(s.m * s.n);
    for (auto& v : mult) v = um(rng);
    for (auto& v : bias) v = ub(rng);
    for (auto& v : y_in) v = ub(rng);
    const auto acc = brute_gemm(s.m, s.n, s.k, x, w);
    for (const bool with_bias : {true, false})
      for (const bool accumulate : {false, true}) {
        std::vector<float> y = y_in;
        const gpsa::int8_linear_weights lw{w.data(), mult.data(),
                                           with_bias ? bias.data() : nullptr};
        ASSERT_EQ(gpsa::int8_linear(
                      {s.m, s.n, s.k}, lw, x, y,
                      accumulate ? gpsa::int8_output::accumulate : gpsa::int8_output::store),
                  status::ok);
        for (std::size_t i = 0; i < s.m; ++i)
          for (std::size_t o = 0; o < s.n; ++o) {
            const float want = expected_linear(acc[i * s.n + o], mult[o], lw.bias, o,
                                               y_in[i * s.n + o], accumulate);
            ASSERT_TRUE(same_bits(y[i * s.n + o], want))
                << s.m << "x" << s.n << "x" << s.k << " (" << i << "," << o << ") "
                << y[i * s.n + o] << " vs " << want;
          }
      }
  }
}

TEST(Int8Linear, SameBitsUnderAnotherRoundingModeAndFlushToZero) {
  std::mt19937 rng(9);
  const std::size_t m = 5, n = 6, k = 37;
  const auto x = random_codes(m * k, rng), w = random_codes(n * k, rng);
  // multipliers that make subnormal results, and ones whose products need rounding
  std::vector<float> mult = {1e-43f, 3.1e-40f, 0.1f, 1.0f / 3.0f, 7e-3f, 1.2345678f};
  std::vector<float> bias = {0.0f, 1e-39f, 0.3f, -0.7f, 1e-7f, 2.0f};
  std::vector<float> want(m * n), got(m * n);
  const gpsa::int8_linear_weights lw{w.data(), mult.data(), bias.data()};
  ASSERT_EQ(gpsa::int8_linear({m, n, k}, lw, x, want), status::ok);
  const auto acc = brute_gemm(m, n, k, x, w);
  for (std::size_t i = 0; i < m * n; ++i)
    ASSERT_TRUE(
        same_bits(want[i], expected_linear(acc[i], mult[i % n], bias.data(), i % n, 0.0f, false)))
        << i;
  {
    hostile_fp_env env;
    ASSERT_EQ(gpsa::int8_linear({m, n, k}, lw, x, got), status::ok);
  }
  for (std::size_t i = 0; i < m * n; ++i) ASSERT_TRUE(same_bits(got[i], want[i])) << i;
}

TEST(Int8Linear, Errors) {
  std::vector<std::int8_t> x(6), w(6);
  std::vector<float> mult(2, 1.0f), y(4);
  const gpsa::int8_linear_weights lw{w.data(), mult.data(), nullptr};
  EXPECT_EQ(gpsa::int8_linear({2, 2, 3}, lw, x, y), status::ok);
  EXPECT_EQ(gpsa::int8_linear({2, 2, 3}, {w.data(), nullptr, nullptr}, x, y),
            status::invalid_argument);
  EXPECT_EQ(gpsa::int8_linear({2, 2, 3}, {nullptr, mult.data(), nullptr}, x, y),
            status::invalid_argument);
  EXPECT_EQ(gpsa::int8_linear({2, 2, 3}, lw, std::span<const std::int8_t>(x).first(5), y),
            status::shape_mismatch);
  EXPECT_EQ(gpsa::int8_linear({2, 2, 3}, lw, x, std::span<float>(y).first(3)),
            status::shape_mismatch);
  EXPECT_EQ(gpsa::int8_linear({1, 1, gpsa::int8_max_in + 1}, lw, x, y), status::invalid_argument);
}

TEST(Int8Backend, NamesTheInnerProductCode) {
  EXPECT_STREQ(gpsa::int8_backend(), "portable");  // hosts (x86-64, AArch64): no Arm DSP extension
}

// ---- the NumPy reference's fixtures
// ----------------------------------------------------------------

std::string golden(const char* name) { return std::string(GPSA_GOLDEN_DIR) + "/int8/" + name; }

template <class T>
std::vector<T> codes_of(const gpsa::io::tensor& t) {
  std::vector<T> out(t.data.size());
  for (std::size_t i = 0; i < t.data.size(); ++i) {
    const float v = t.data[i];
    EXPECT_EQ(v, std::trunc(v)) << "not an integer code";
    out[i] = static_cast<T>(v);
  }
  return out;
}

std::size_t mismatches(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size()) return a.size() + b.size();
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += same_bits(a[i], b[i]) ? 0 : 1;
  return n;
}

// Weights quantised here from the float weights, the product and its requantisation: every
// number equal to the reference's.
void check_linear_case(const char* file, bool accumulate) {
  const auto f = gpsa::io::read_safetensors(golden(file));
  const auto& w = f.at("w");
  ASSERT_EQ(w.shape.size(), 2u);
  const std::size_t n = w.shape[0], k = w.shape[1], m = f.at("x_codes").shape[0];

  std::vector<std::int8_t> wq(n * k);
  std::vector<float> ws(n);
  ASSERT_EQ(gpsa::int8_quantize_weights(n, k, w.data, wq, ws), status::ok);
  EXPECT_EQ(wq, codes_of<std::int8_t>(f.at("w_codes")));
  EXPECT_EQ(mismatches(ws, f.at("w_scales").data), 0u) << "weight scales";

  // The input's codes from its float values, and the per-channel multipliers.
  std::vector<std::int8_t> xq(m * k);
  ASSERT_EQ(gpsa::int8_quantize(f.at("x").data, f.at("x_multiplier").data[0], xq), status::ok);
  EXPECT_EQ(xq, codes_of<std::int8_t>(f.at("x_codes")));
  std::vector<float> mult(n);
  for (std::size_t o = 0; o < n; ++o) mult[o] = f.at("x_scale").data[0] * ws[o];
  EXPECT_EQ(mismatches(mult, f.at("multiplier").data), 0u) << "multipliers";

  std::vector<std::int32_t> acc(m * n);
  ASSERT_EQ(gpsa::int8_gemm({m, n, k}, xq, wq, acc), status::ok);
  EXPECT_EQ(acc, codes_of<std::int32_t>(f.at("acc")));

  std::vector<float> y = accumulate ? f.at("y_in").data : std::vector<float>(m * n, 0.0f);
  const float* bias = f.contains("bias") ? f.at("bias").data.data() : nullptr;
  ASSERT_EQ(
      gpsa::int8_linear({m, n, k}, {wq.data(), mult.data(), bias}, xq, y,
                        accumulate ? gpsa::int8_output::accumulate : gpsa::int8_output::store),
      status::ok);
  EXPECT_EQ(mismatches(y, f.at("y").data), 0u) << "of " << y.size() << " outputs";
}

TEST(Int8Golden, PatchEmbeddingOfADigitsImage) {
  check_linear_case("patch_embed.safetensors", false);
}

TEST(Int8Golden, Block0Fc2WithItsResidual) { check_linear_case("block0_fc2.safetensors", true); }

TEST(Int8Golden, Block0Norm1Codes) {
  const auto f = gpsa::io::read_safetensors(golden("block0_norm1_quantize.safetensors"));
  const auto& x = f.at("x");
  std::vector<std::int8_t> q(x.data.size());
  ASSERT_EQ(gpsa::int8_quantize(x.data, f.at("x_multiplier").data[0], q), status::ok);
  EXPECT_EQ(q, codes_of<std::int8_t>(f.at("x_codes")));
}

}  // namespace
