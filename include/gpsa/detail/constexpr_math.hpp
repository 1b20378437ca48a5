// SPDX-License-Identifier: MIT
// constexpr exp, sigmoid and sqrt in double, identical at compile time and run time (for the
// fold; sqrt so that the core calls no libm function on a firmware target).
//
// Why not <cmath>: std::exp is not constexpr in C++20, and even where a compiler folds it, the
// library's run-time exp need not give the same bits. These functions are plain IEEE double
// arithmetic, so constant evaluation and the generated code agree bit for bit -- provided the
// compiler does not contract a*b+c into an FMA at run time (constant evaluation never does).
// GPSA_FP_STRICT_BEGIN/END switch contraction off around the code that needs it; do not build
// gpsa with -ffast-math (it licenses reassociation, which breaks the identity).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

// Contraction off for the enclosed functions. Clang: the standard pragma. GCC: the
// per-function optimisation setting (GCC's C++ default is -ffp-contract=fast, which fuses
// whenever the target has FMA, e.g. with -march=native).
#if defined(__clang__)
#define GPSA_FP_STRICT_BEGIN _Pragma("clang fp contract(off)")
#define GPSA_FP_STRICT_END
#elif defined(__GNUC__)
#define GPSA_FP_STRICT_BEGIN \
  _Pragma("GCC push_options") _Pragma("GCC optimize(\"fp-contract=off\")")
#define GPSA_FP_STRICT_END _Pragma("GCC pop_options")
#else
#define GPSA_FP_STRICT_BEGIN
#define GPSA_FP_STRICT_END
#endif

GPSA_FP_STRICT_BEGIN

namespace gpsa::detail {

inline constexpr double inf_d = std::numeric_limits<double>::infinity();
inline constexpr float quiet_nan_f = std::numeric_limits<float>::quiet_NaN();

inline constexpr double inv_ln2 = 1.4426950408889634074;
inline constexpr double ln2_hi = 6.93147180369123816490e-01;  // 0x3FE62E42FEE00000, 32 bits
inline constexpr double ln2_lo = 1.90821492927058770002e-10;  // ln2 - ln2_hi

constexpr bool is_nan(double x) noexcept { return x != x; }
constexpr bool is_finite(double x) noexcept {  // comparisons only: inf - inf is not constant
  return x >= -std::numeric_limits<double>::max() && x <= std::numeric_limits<double>::max();
}

// 2^k for k in [-1022, 1023], exactly (the biased exponent written directly).
constexpr double pow2_normal(int k) noexcept {
  return std::bit_cast<double>(static_cast<std::uint64_t>(k + 1023) << 52);
}

// x * 2^k for any k that keeps the result in range, with at most one rounding (only when
// the result is subnormal): split into two exact normal powers of two.
constexpr double scale_pow2(double x, int k) noexcept {
  if (k > 1023) return x * pow2_normal(1023) * pow2_normal(k - 1023);
  if (k < -1022) return x * pow2_normal(k + 54) * pow2_normal(-54);  // k >= -1076 here
  return x * pow2_normal(k);
}

// exp(x) in double, within ~1 ulp of the exact value over the whole range.
// Range reduction x = k*ln2 + r, |r| <= ln2/2, with ln2 split Cody-Waite style into a part
// with 32 significant bits (k*ln2_hi is exact for |k| < 2^21) and a correction. exp(r) - 1 is
// a degree-13 Taylor polynomial (truncation error < 6e-18 relative for |r| <= 0.347), summed
// by Horner so that the final 1 + p rounds once. Scaling by 2^k is an exact multiplication.
constexpr double exp(double x) noexcept {
  if (!(x <= 709.782712893384)) return is_nan(x) ? x : inf_d;  // NaN stays NaN, else overflow
  if (x < -745.1332191019412) return 0.0;                      // below half the smallest subnormal
  const double t = x * inv_ln2;
  const int k = static_cast<int>(t < 0 ? t - 0.5 : t + 0.5);  // round half away from zero
  const double kd = static_cast<double>(k);
  const double r = (x - kd * ln2_hi) - kd * ln2_lo;
  // p = r + r^2/2! + ... + r^13/13! by Horner, one expression: Clang's constexpr step limit
  // counts statements, so a loop here would cap the grid size a compile-time fold reaches.
  // clang-format off
  const double p =
      r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120 + r * (1.0 / 720 +
      r * (1.0 / 5040 + r * (1.0 / 40320 + r * (1.0 / 362880 + r * (1.0 / 3628800 +
      r * (1.0 / 39916800 + r * (1.0 / 479001600 + r * (1.0 / 6227020800.0)))))))))))));
  // clang-format on
  return scale_pow2(1.0 + p, k);
}

// double -> float, round to nearest even, the same at compile time and run time. Values at or
// below 2^-150 (half the smallest float subnormal, ties to even) become 0 explicitly: Clang 14's
// constant evaluator rounds some subnormal doubles (~1.4e-315 .. 2.7e-315) up to 2^-149
// instead of 0, which would break the compile-time == run-time identity.
constexpr float to_float(double x) noexcept {
  if (x <= 0x1p-150 && x >= -0x1p-150)  // keeps the sign
    return (std::bit_cast<std::uint64_t>(x) >> 63) != 0 ? -0.0f : 0.0f;
  return static_cast<float>(x);
}

// exp in float through the double routine: the double result is within ~1 ulp (double), so
// the rounded float is the correctly rounded float except in rare near-ties (<= 1 ulp).
constexpr float expf(float x) noexcept { return to_float(exp(static_cast<double>(x))); }

// The logistic function 1 / (1 + exp(-x)) without overflow for any x (+-100, +-inf): the
// exponential is always of a non-positive argument.
constexpr double sigmoid(double x) noexcept {
  if (is_nan(x)) return x;
  if (x >= 0) return 1.0 / (1.0 + exp(-x));
  const double e = exp(x);
  return e / (1.0 + e);
}

// sqrt(x) correctly rounded (round to nearest even), so bit-identical to IEEE 754's and every
// conforming std::sqrt -- from integer arithmetic alone. Why not std::sqrt: without a double
// FPU (Cortex-M4F) it is a library call, and newlib's sqrt writes errno and reads its
// __fdlib_version, a variable in .data: a firmware image would carry libm's RAM state for a
// function the core calls a few times per layer. Digit by digit on the significand (two radicand
// bits per step, 54 steps for 53 bits plus a rounding bit; the remainder tells whether anything
// is left below). NaN, +-0 and +inf are returned as they are, negative x gives NaN.
constexpr double sqrt(double x) noexcept {
  if (is_nan(x) || x == 0.0) return x;
  if (x < 0) return std::numeric_limits<double>::quiet_NaN();
  if (x > std::numeric_limits<double>::max()) return x;
  constexpr std::uint64_t hidden = std::uint64_t{1} << 52;
  const std::uint64_t bits = std::bit_cast<std::uint64_t>(x);
  int e = static_cast<int>(bits >> 52);  // biased exponent (sign is 0 here)
  std::uint64_t m = bits & (hidden - 1);
  if (e == 0) {  // subnormal: normalise, x = m * 2^(e - 1075) still holds
    e = 1;
    while ((m & hidden) == 0) {
      m <<= 1;
      --e;
    }
  } else {
    m |= hidden;
  }
  int ex = e - 1075;  // x = m * 2^ex, m in [2^52, 2^53)
  if ((ex & 1) != 0) {
    m <<= 1;  // ex even: sqrt(x) = sqrt(m) * 2^(ex/2), m in [2^52, 2^54)
    --ex;
  }
  // q = floor(sqrt(m * 2^54)), in [2^53, 2^54); the radicand's low 54 bits are zero.
  std::uint64_t q = 0, r = 0;
  for (int i = 0; i < 54; ++i) {
    const std::uint64_t pair = i < 27 ? (m >> (52 - 2 * i)) & 3 : 0;
    r = (r << 2) | pair;  // r <= 2q < 2^55 before the shift
    const std::uint64_t t = (q << 2) | 1;
    if (r >= t) {
      r -= t;
      q = (q << 1) | 1;
    } else {
      q <<= 1;
    }
  }
  std::uint64_t sig = q >> 1;                        // 53 bits
  int biased = ex / 2 + 1049;                        // sqrt(x) ~ sig * 2^(ex/2 - 26); always normal
  if ((q & 1) != 0 && (r != 0 || (sig & 1) != 0)) {  // above half an ulp (or a tie to odd)
    if (++sig == (hidden << 1)) {
      sig >>= 1;
      ++biased;
    }
  }
  return std::bit_cast<double>((static_cast<std::uint64_t>(biased) << 52) | (sig & (hidden - 1)));
}

// The core's sqrt at run time: the same bits as detail::sqrt, through the hardware instruction
// where std::sqrt is one and the C library keeps no state for it (x86, AArch64 hosts: detail::sqrt
// costs ~100 ns, too much for the nonlocality metric's N^2 distances), gpsa's own elsewhere.
inline double runtime_sqrt(double x) noexcept {
#if defined(__x86_64__) || defined(__aarch64__) || defined(_M_X64)
  return std::sqrt(x);
#else
  return sqrt(x);
#endif
}

}  // namespace gpsa::detail

GPSA_FP_STRICT_END
