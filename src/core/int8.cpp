// SPDX-License-Identifier: MIT
// int8 kernels (gpsa/int8.hpp): quantisation, the int8 x int8 -> int32 product (portable C++ and
// the Arm DSP extension's SXTB16 + SMLAD) and its per-channel requantisation to float.
//
// Floating-point contraction is off here (GPSA_FP_STRICT_BEGIN below, and -ffp-contract=off in
// src/CMakeLists.txt): "float(acc) * m + b" must stay two roundings on every target (the
// Cortex-M4F has a fused VFMA that GCC would otherwise use; so do x86 builds with -mfma).
#include "gpsa/int8.hpp"

#include <cstring>

#include "fp_env.hpp"
#include "gpsa/detail/constexpr_math.hpp"
#include "gpsa/grid.hpp"
#include "int8_kernels.hpp"

#if defined(GPSA_HAVE_INT8_DSP)
#include <arm_acle.h>
#endif

GPSA_FP_STRICT_BEGIN

namespace gpsa {
namespace detail {
namespace {

// ---- inner products ---------------------------------------------------------------------------

// acc[r][c] = sum_j x_r[j] w_c[j] over k, for R rows of x and C rows of w (R, C in {1, 2}); rows
// are k apart. Integer sums: exact, so every order and grouping gives the same result.
template <int R, int C>
inline void block_portable(const std::int8_t* x, const std::int8_t* w, std::size_t k,
                           std::int32_t (&acc)[2][2]) noexcept {
  std::int32_t a[2][2] = {};
  for (std::size_t j = 0; j < k; ++j)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c)
        a[r][c] +=
            static_cast<std::int32_t>(x[r * k + j]) * static_cast<std::int32_t>(w[c * k + j]);
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = a[r][c];
}

struct portable_backend {
  template <int R, int C>
  static void block(const std::int8_t* x, const std::int8_t* w, std::size_t k,
                    std::int32_t (&acc)[2][2]) noexcept {
    block_portable<R, C>(x, w, k, acc);
  }
};

#if defined(GPSA_HAVE_INT8_DSP)
// Four int8 lanes, loaded as one word (an unaligned LDR on ARMv7-M).
inline std::uint32_t load4(const std::int8_t* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Bytes 0 and 2 of v as two int16 lanes, and bytes 1 and 3 (SXTB16 of v rotated by 8).
inline std::int32_t even16(std::uint32_t v) noexcept {
  return __sxtb16(static_cast<std::int32_t>(v));
}
inline std::int32_t odd16(std::uint32_t v) noexcept {
  return __sxtb16(static_cast<std::int32_t>((v >> 8) | (v << 24)));
}

template <int R, int C>
inline void block_dsp(const std::int8_t* x, const std::int8_t* w, std::size_t k,
                      std::int32_t (&acc)[2][2]) noexcept {
  std::int32_t a[2][2] = {};
  std::size_t j = 0;
  for (; j + 4 <= k; j += 4) {
    std::int32_t xe[2], xo[2], we[2], wo[2];
    for (int r = 0; r < R; ++r) {
      const std::uint32_t v = load4(x + r * k + j);
      xe[r] = even16(v);
      xo[r] = odd16(v);
    }
    for (int c = 0; c < C; ++c) {
      const std::uint32_t v = load4(w + c * k + j);
      we[c] = even16(v);
      wo[c] = odd16(v);
    }
    // SMLAD: a + lo16(p) * lo16(q) + hi16(p) * hi16(q), products of int8 values (|.| <= 127^2).
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) a[r][c] = __smlad(xo[r], wo[c], __smlad(xe[r], we[c], a[r][c]));
  }
  for (; j < k; ++j)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c)
        a[r][c] +=
            static_cast<std::int32_t>(x[r * k + j]) * static_cast<std::int32_t>(w[c * k + j]);
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = a[r][c];
}

struct dsp_backend {
  template <int R, int C>
  static void block(const std::int8_t* x, const std::int8_t* w, std::size_t k,
                    std::int32_t (&acc)[2][2]) noexcept {
    block_dsp<R, C>(x, w, k, acc);
  }
};
using build_backend = dsp_backend;
#else
using build_backend = portable_backend;
#endif

// sink(i, o, acc) for every element of x (m x k) w (n x k)^T, in blocks of 2 x 2 (each x row
// pair is read once per pair of weight rows).
template <class Backend, int R, class Sink>
inline void product_rows(std::size_t i, std::size_t n, std::size_t k, const std::int8_t* x,
                         const std::int8_t* w, Sink& sink) noexcept {
  std::int32_t acc[2][2];
  std::size_t o = 0;
  for (; o + 2 <= n; o += 2) {
    Backend::template block<R, 2>(x + i * k, w + o * k, k, acc);
    for (int r = 0; r < R; ++r) {
      sink(i + r, o, acc[r][0]);
      sink(i + r, o + 1, acc[r][1]);
    }
  }
  if (o < n) {
    Backend::template block<R, 1>(x + i * k, w + o * k, k, acc);
    for (int r = 0; r < R; ++r) sink(i + r, o, acc[r][0]);
  }
}

template <class Backend, class Sink>
void product(std::size_t m, std::size_t n, std::size_t k, const std::int8_t* x,
             const std::int8_t* w, Sink& sink) noexcept {
  std::size_t i = 0;
  for (; i + 2 <= m; i += 2) product_rows<Backend, 2>(i, n, k, x, w, sink);
  if (i < m) product_rows<Backend, 1>(i, n, k, x, w, sink);
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

constexpr bool is_finite(float v) noexcept { return v >= -3.40282347e+38f && v <= 3.40282347e+38f; }

// rows * cols, or false on overflow.
bool count_of(std::size_t rows, std::size_t cols, std::size_t& n) noexcept {
  return !mul_overflows(rows, cols, n);
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
  if (!(amax >= 0.0f) || !detail::is_finite(amax)) return status::invalid_argument;
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
    if (!detail::is_finite(v)) return status::invalid_argument;
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
