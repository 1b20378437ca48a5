// SPDX-License-Identifier: MIT
// int8 kernels (gpsa/core/int8.hpp): quantisation, the int8 x int8 -> int32 product (portable C++
// and the Arm DSP extension's SXTB16 + SMLAD) and its per-channel requantisation to float.
//
// Floating-point contraction is off here (GPSA_FP_STRICT_BEGIN below, and -ffp-contract=off in
// src/CMakeLists.txt): "float(acc) * m + b" must stay two roundings on every target (the
// Cortex-M4F has a fused VFMA that GCC would otherwise use; so do x86 builds with -mfma).
#include "gpsa/core/int8.hpp"

#include <cstring>

#include "fp_env.hpp"
#include "gpsa/core/types.hpp"             // detail::checked_mul
#include "gpsa/detail/constexpr_math.hpp"  // GPSA_FP_STRICT_BEGIN / END, detail::is_finite
#include "int8_kernels.hpp"

#if defined(GPSA_HAVE_INT8_DSP)
#include <arm_acle.h>
#endif

GPSA_FP_STRICT_BEGIN

namespace gpsa {
namespace detail {
namespace {

// ---- inner products ---------------------------------------------------------------------------
//
// Two kernels per backend, written out (no loops over rows and columns for the compiler to unroll:
// the firmware is built with -Os): a 2 x 2 block, sums of two x rows with two w rows (each load
// feeds two products), and a single dot product for the edges. Rows are k apart. Integer sums are
// exact, so every order and grouping gives the same result.

inline std::int32_t mul8(std::int8_t a, std::int8_t b) noexcept {
  return static_cast<std::int32_t>(a) * static_cast<std::int32_t>(b);
}

struct portable_backend {
  static void block2x2(const std::int8_t* x, const std::int8_t* w, std::size_t k,
                       std::int32_t (&acc)[4]) noexcept {
    const std::int8_t* x1 = x + k;
    const std::int8_t* w1 = w + k;
    std::int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    for (std::size_t j = 0; j < k; ++j) {
      a00 += mul8(x[j], w[j]);
      a01 += mul8(x[j], w1[j]);
      a10 += mul8(x1[j], w[j]);
      a11 += mul8(x1[j], w1[j]);
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
  }
  static std::int32_t dot(const std::int8_t* x, const std::int8_t* w, std::size_t k) noexcept {
    std::int32_t a = 0;
    for (std::size_t j = 0; j < k; ++j) a += mul8(x[j], w[j]);
    return a;
  }
};

#if defined(GPSA_HAVE_INT8_DSP)
// Four int8 lanes, loaded as one word (an unaligned LDR on ARMv7-M).
inline std::uint32_t load4(const std::int8_t* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Bytes 0 and 2 of v as two int16 lanes (SXTB16), and bytes 1 and 3 (SXTB16 with its built-in
// rotation by 8, which GCC does not form from __sxtb16 of a rotated value: one instruction, not
// two).
inline std::int32_t even16(std::uint32_t v) noexcept {
  return __sxtb16(static_cast<std::int32_t>(v));
}
inline std::int32_t odd16(std::uint32_t v) noexcept {
  std::int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
  return r;
}

// SMLAD: a + lo16(p) lo16(q) + hi16(p) hi16(q); the lanes hold int8 values, so each step adds
// at most 2 * 128^2.
struct dsp_backend {
  static void block2x2(const std::int8_t* x, const std::int8_t* w, std::size_t k,
                       std::int32_t (&acc)[4]) noexcept {
    const std::int8_t* x1 = x + k;
    const std::int8_t* w1 = w + k;
    std::int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    // Ordered so that few values are live at once (GCC 12 at -Os still spills a few; the loop
    // runs about half the portable code's instructions on a Cortex-M4).
    std::size_t j = 0;
    for (; j + 4 <= k; j += 4) {
      const std::uint32_t vw0 = load4(w + j), vw1 = load4(w1 + j);
      const std::int32_t w0e = even16(vw0), w0o = odd16(vw0);
      const std::int32_t w1e = even16(vw1), w1o = odd16(vw1);
      const std::uint32_t vx0 = load4(x + j);
      const std::int32_t x0e = even16(vx0), x0o = odd16(vx0);
      a00 = __smlad(x0o, w0o, __smlad(x0e, w0e, a00));
      a01 = __smlad(x0o, w1o, __smlad(x0e, w1e, a01));
      const std::uint32_t vx1 = load4(x1 + j);
      const std::int32_t x1e = even16(vx1), x1o = odd16(vx1);
      a10 = __smlad(x1o, w0o, __smlad(x1e, w0e, a10));
      a11 = __smlad(x1o, w1o, __smlad(x1e, w1e, a11));
    }
    for (; j < k; ++j) {
      a00 += mul8(x[j], w[j]);
      a01 += mul8(x[j], w1[j]);
      a10 += mul8(x1[j], w[j]);
      a11 += mul8(x1[j], w1[j]);
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
  }
  static std::int32_t dot(const std::int8_t* x, const std::int8_t* w, std::size_t k) noexcept {
    std::int32_t a = 0;
    std::size_t j = 0;
    for (; j + 4 <= k; j += 4) {
      const std::uint32_t vx = load4(x + j), vw = load4(w + j);
      a = __smlad(even16(vx), even16(vw), a);
      a = __smlad(odd16(vx), odd16(vw), a);
    }
    for (; j < k; ++j) a += mul8(x[j], w[j]);
    return a;
  }
};
using build_backend = dsp_backend;
#else
using build_backend = portable_backend;
#endif

// sink(i, o, acc) for every element of x (m x k) w (n x k)^T: 2 x 2 blocks, single dot products
// for an odd last row or column.
template <class Backend, class Sink>
void product(std::size_t m, std::size_t n, std::size_t k, const std::int8_t* x,
             const std::int8_t* w, Sink& sink) noexcept {
  std::int32_t acc[4];
  std::size_t i = 0;
  for (; i + 2 <= m; i += 2) {
    const std::int8_t* xi = x + i * k;
    std::size_t o = 0;
    for (; o + 2 <= n; o += 2) {
      Backend::block2x2(xi, w + o * k, k, acc);
      sink(i, o, acc[0]);
      sink(i, o + 1, acc[1]);
      sink(i + 1, o, acc[2]);
      sink(i + 1, o + 1, acc[3]);
    }
    if (o < n) {
      sink(i, o, Backend::dot(xi, w + o * k, k));
      sink(i + 1, o, Backend::dot(xi + k, w + o * k, k));
    }
  }
  if (i < m)
    for (std::size_t o = 0; o < n; ++o) sink(i, o, Backend::dot(x + i * k, w + o * k, k));
}

struct store_int32 {
  std::int32_t* c;
  std::size_t n;
  void operator()(std::size_t i, std::size_t o, std::int32_t acc) noexcept { c[i * n + o] = acc; }
};

// The requantisation: float(acc) (round to nearest-even; exact below 2^24), times the channel's
// multiplier, plus its bias: one rounding each.
template <bool Accumulate>
struct store_float {
  float* y;
  std::size_t n;
  const float* multiplier;
  const float* bias;
  void operator()(std::size_t i, std::size_t o, std::int32_t acc) noexcept {
    float r = static_cast<float>(acc) * multiplier[o];
    if (bias != nullptr) r = r + bias[o];
    float& out = y[i * n + o];
    if constexpr (Accumulate)
      out = out + r;
    else
      out = r;
  }
};

// rows * cols, or false on overflow.
bool count_of(std::size_t rows, std::size_t cols, std::size_t& n) noexcept {
  return detail::checked_mul(rows, cols, n);
}

status check_dims(const int8_dims& d, std::size_t x, std::size_t w, std::size_t out) noexcept {
  if (d.in > int8_max_in) return status::invalid_argument;
  std::size_t nx = 0, nw = 0, ny = 0;
  if (!count_of(d.rows, d.in, nx) || !count_of(d.out, d.in, nw) || !count_of(d.rows, d.out, ny))
    return status::size_overflow;
  if (x != nx || w != nw || out != ny) return status::shape_mismatch;
  return status::ok;
}

}  // namespace

void int8_gemm_portable(std::size_t m, std::size_t n, std::size_t k, const std::int8_t* x,
                        const std::int8_t* w, std::int32_t* c) noexcept {
  store_int32 sink{c, n};
  product<portable_backend>(m, n, k, x, w, sink);
}

#if defined(GPSA_HAVE_INT8_DSP)
void int8_gemm_dsp(std::size_t m, std::size_t n, std::size_t k, const std::int8_t* x,
                   const std::int8_t* w, std::int32_t* c) noexcept {
  store_int32 sink{c, n};
  product<dsp_backend>(m, n, k, x, w, sink);
}
#endif

}  // namespace detail

// ---- quantisation
// ---------------------------------------------------------------------------------

status int8_params_of(float amax, int8_params& p) noexcept {
  if (!(amax >= 0.0f) || !detail::is_finite(static_cast<double>(amax)))
    return status::invalid_argument;
  [[maybe_unused]] const detail::ieee_mode mode;
  constexpr float kFltMin = 1.17549435e-38f;
  if (amax < kFltMin) {
    p = {0.0f, 0.0f};
  } else {
    const auto q = static_cast<float>(int8_code_max);
    p = {amax / q, q / amax};
  }
  return status::ok;
}

namespace {

// Round half to even and saturate, for y = x * multiplier already rounded to float. Integer steps
// only after the product: the result does not depend on the rounding mode or on SIMD rounding
// instructions.
inline std::int8_t code_of(float y) noexcept {
  if (!(y == y)) return 0;  // NaN
  constexpr auto kMax = static_cast<float>(int8_code_max);
  if (y >= kMax) return static_cast<std::int8_t>(int8_code_max);
  if (y <= -kMax) return static_cast<std::int8_t>(-int8_code_max);
  auto i = static_cast<std::int32_t>(y);      // truncated toward zero, |i| <= 126
  const float f = y - static_cast<float>(i);  // exact: |f| < 1, y and i share the ulp grid
  if (f > 0.5f || (f == 0.5f && (i & 1) != 0)) ++i;
  if (f < -0.5f || (f == -0.5f && (i & 1) != 0)) --i;
  return static_cast<std::int8_t>(i);
}

}  // namespace

std::int8_t int8_quantize(float x, float multiplier) noexcept {
  [[maybe_unused]] const detail::ieee_mode mode;
  return code_of(x * multiplier);
}

status int8_quantize(std::span<const float> x, float multiplier,
                     std::span<std::int8_t> q) noexcept {
  if (q.size() != x.size()) return status::shape_mismatch;
  if (!x.empty() && (x.data() == nullptr || q.data() == nullptr)) return status::invalid_argument;
  [[maybe_unused]] const detail::ieee_mode mode;
  for (std::size_t i = 0; i < x.size(); ++i) q[i] = code_of(x[i] * multiplier);
  return status::ok;
}

status int8_dequantize(std::span<const std::int8_t> q, float scale, std::span<float> x) noexcept {
  if (q.size() != x.size()) return status::shape_mismatch;
  if (!q.empty() && (x.data() == nullptr || q.data() == nullptr)) return status::invalid_argument;
  [[maybe_unused]] const detail::ieee_mode mode;
  for (std::size_t i = 0; i < q.size(); ++i) x[i] = static_cast<float>(q[i]) * scale;
  return status::ok;
}

status int8_quantize_weights(std::size_t rows, std::size_t cols, std::span<const float> w,
                             std::span<std::int8_t> q, std::span<float> scales) noexcept {
  std::size_t n = 0;
  if (!detail::count_of(rows, cols, n)) return status::size_overflow;
  if (w.size() != n || q.size() != n || scales.size() != rows) return status::shape_mismatch;
  if (n != 0 && (w.data() == nullptr || q.data() == nullptr)) return status::invalid_argument;
  if (rows != 0 && scales.data() == nullptr) return status::invalid_argument;
  for (const float v : w)
    if (!detail::is_finite(static_cast<double>(v))) return status::invalid_argument;
  [[maybe_unused]] const detail::ieee_mode mode;
  for (std::size_t r = 0; r < rows; ++r) {
    const float* wr = w.data() + r * cols;
    float amax = 0.0f;
    for (std::size_t c = 0; c < cols; ++c) {
      const float a = wr[c] < 0.0f ? -wr[c] : wr[c];
      amax = a > amax ? a : amax;
    }
    int8_params p{};
    (void)int8_params_of(amax, p);  // finite, >= 0: ok
    for (std::size_t c = 0; c < cols; ++c) q[r * cols + c] = code_of(wr[c] * p.multiplier);
    scales[r] = p.scale;
  }
  return status::ok;
}

// ---- products
// ---------------------------------------------------------------------------------------

status int8_gemm(const int8_dims& d, std::span<const std::int8_t> x, std::span<const std::int8_t> w,
                 std::span<std::int32_t> c) noexcept {
  if (const status s = detail::check_dims(d, x.size(), w.size(), c.size()); s != status::ok)
    return s;
  if (c.empty()) return status::ok;
  if (c.data() == nullptr || (d.in != 0 && (x.data() == nullptr || w.data() == nullptr)))
    return status::invalid_argument;
  detail::store_int32 sink{c.data(), d.out};
  detail::product<detail::build_backend>(d.rows, d.out, d.in, x.data(), w.data(), sink);
  return status::ok;
}

status int8_linear(const int8_dims& d, const int8_linear_weights& w, std::span<const std::int8_t> x,
                   std::span<float> y, int8_output mode) noexcept {
  std::size_t nw = 0;
  if (!detail::count_of(d.out, d.in, nw)) return status::size_overflow;
  if (const status s = detail::check_dims(d, x.size(), nw, y.size()); s != status::ok) return s;
  if (w.multiplier == nullptr || (nw != 0 && w.weight == nullptr)) return status::invalid_argument;
  if (y.empty()) return status::ok;
  if (y.data() == nullptr || (d.in != 0 && x.data() == nullptr)) return status::invalid_argument;
  [[maybe_unused]] const detail::ieee_mode fp;
  if (mode == int8_output::accumulate) {
    detail::store_float<true> sink{y.data(), d.out, w.multiplier, w.bias};
    detail::product<detail::build_backend>(d.rows, d.out, d.in, x.data(), w.weight, sink);
  } else {
    detail::store_float<false> sink{y.data(), d.out, w.multiplier, w.bias};
    detail::product<detail::build_backend>(d.rows, d.out, d.in, x.data(), w.weight, sink);
  }
  return status::ok;
}

const char* int8_backend() noexcept {
#if defined(GPSA_HAVE_INT8_DSP)
  return "dsp";
#else
  return "portable";
#endif
}

}  // namespace gpsa

GPSA_FP_STRICT_END
