// SPDX-License-Identifier: MIT
// Dense primitives of the core: the portable GEMM kernel, row softmax and exp (Highway or scalar).
#include "gpsa/core/linalg.hpp"

#include <bit>
#include <cfloat>
#include <climits>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>

#include "exp_scalar.hpp"
#include "fp_env.hpp"
#include "gemm_blocked.hpp"
#include "linalg_impl.hpp"

#if defined(GPSA_HAVE_HWY)
#include "linalg_hwy.hpp"
#endif

namespace gpsa {
namespace detail {
namespace {

// The firmware tile: plain loops over a fixed MR x NR accumulator the compiler keeps in
// registers and vectorises along NR with whatever the target flags allow.
// NR is three of the widest vectors the compile flags allow (2 floats for plain scalar FPUs; 3
// vectors divide the panel width), so the MR x NR accumulators fit the register file. With
// GCC/Clang the columns are generic vector-extension types (lowered to scalar code where the
// target has no SIMD), because the auto-vectoriser otherwise vectorises this nest across rows;
// other compilers get plain loops. The C update runs over the whole MR x NR tile (through a
// buffer), so full and edge tiles execute the same code.
constexpr std::size_t kVecFloats = kGemmVecFloats;
struct scalar_kernel {
  static constexpr std::size_t MR = 4;
  static constexpr std::size_t NR = 3 * kVecFloats;
  static void tile(std::size_t kc, const float* a, std::size_t a_rs, std::size_t a_ks,
                   std::size_t mr, const float* bp, std::size_t b_ks, float* c, std::size_t ldc,
                   std::size_t nr, float alpha, float beta) noexcept {
    // Rows past the edge repeat the last real row: computed, never stored.
    const float* a_rows[MR];
    for (std::size_t r = 0; r < MR; ++r) a_rows[r] = a + (r < mr ? r : mr - 1) * a_rs;
#if defined(__GNUC__) && kVecFloats > 2
    using vec = float __attribute__((vector_size(kVecFloats * sizeof(float))));
    vec acc[MR][3] = {};
    for (std::size_t p = 0; p < kc; ++p) {
      vec b[3];
      std::memcpy(b, bp + p * b_ks, sizeof b);
      for (std::size_t r = 0; r < MR; ++r) {
        const float av = a_rows[r][p * a_ks];
        for (std::size_t v = 0; v < 3; ++v) acc[r][v] += av * b[v];
      }
    }
    float out[MR * NR];
    std::memcpy(out, acc, sizeof out);
#else
    // A plain scalar FPU (e.g. Cortex-M4F: 32 single registers): the MR x NR accumulators, a
    // row of B and one value of A fit the register file when every loop is unrolled.
    float acc[MR][NR] = {};
    for (std::size_t p = 0; p < kc; ++p) {
      const float* brow = bp + p * b_ks;
      float b[NR];
#pragma GCC unroll 16
      for (std::size_t j = 0; j < NR; ++j) b[j] = brow[j];
#pragma GCC unroll 16
      for (std::size_t r = 0; r < MR; ++r) {
        const float av = a_rows[r][p * a_ks];
#pragma GCC unroll 16
        for (std::size_t j = 0; j < NR; ++j) acc[r][j] += av * b[j];
      }
    }
    float out[MR * NR];
    std::memcpy(out, acc, sizeof out);
#endif
    float t[MR * NR];
    for (std::size_t r = 0; r < MR; ++r)
      for (std::size_t j = 0; j < NR; ++j)
        t[r * NR + j] = beta != 0.0f && r < mr && j < nr ? c[r * ldc + j] : 0.0f;
    if (beta == 0.0f) {
      for (std::size_t i = 0; i < MR * NR; ++i) t[i] = alpha * out[i];
    } else {
      for (std::size_t i = 0; i < MR * NR; ++i) t[i] = alpha * out[i] + beta * t[i];
    }
    for (std::size_t r = 0; r < mr; ++r)
      for (std::size_t j = 0; j < nr; ++j) c[r * ldc + j] = t[r * NR + j];
  }
  static void pack_b(bool trans_b, const float* b, std::size_t ldb, std::size_t p0, std::size_t kc,
                     std::size_t j0, std::size_t w, float* bp) noexcept {
    gemm_pack_b_panel_scalar(trans_b, b, ldb, p0, kc, j0, w, bp);
  }
};

}  // namespace

void exp_scalar(const float* in, float* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = exp1(in[i]);
}

namespace {

// One row of the scalar softmax: returns the sum of exp(x - max); with `normalize` the row is
// divided by it, else it keeps the exponentials.
float softmax_row_scalar(float* row, std::size_t cols, bool normalize) noexcept {
  // Max and sum use kLanes independent partials (vertical operations the compiler can vectorise
  // without reassociating), then fold them.
  constexpr std::size_t kLanes = 8;
  const std::size_t full = cols - cols % kLanes;
  float m[kLanes];
  for (std::size_t l = 0; l < kLanes; ++l) m[l] = row[0];
  for (std::size_t j = 0; j < full; j += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) m[l] = row[j + l] > m[l] ? row[j + l] : m[l];
  float mx = m[0];
  for (std::size_t l = 1; l < kLanes; ++l) mx = m[l] > mx ? m[l] : mx;
  for (std::size_t j = full; j < cols; ++j) mx = row[j] > mx ? row[j] : mx;
  // all -inf row: -inf - -inf = NaN, as in PyTorch. Results below FLT_MIN are flushed to 0
  // (as the SIMD kernels do), so later products never see subnormals.
  for (std::size_t j = 0; j < cols; ++j) {
    const float e = exp1(row[j] - mx);
    row[j] = e < FLT_MIN ? 0.0f : e;
  }
  float s[kLanes] = {};
  for (std::size_t j = 0; j < full; j += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) s[l] += row[j + l];
  float sum = 0.0f;
  for (std::size_t l = 0; l < kLanes; ++l) sum += s[l];
  for (std::size_t j = full; j < cols; ++j) sum += row[j];
  if (normalize) {
    const float inv = 1.0f / sum;
    for (std::size_t j = 0; j < cols; ++j) row[j] *= inv;
  }
  return sum;
}

}  // namespace

void softmax_rows_scalar(float* x, std::size_t rows, std::size_t cols, std::size_t ld) noexcept {
  if (cols == 0) return;
  for (std::size_t i = 0; i < rows; ++i) (void)softmax_row_scalar(x + i * ld, cols, true);
}

void exp_rows_scalar(float* x, std::size_t rows, std::size_t cols, std::size_t ld,
                     float* sums) noexcept {
  for (std::size_t i = 0; i < rows; ++i)
    sums[i] = cols == 0 ? 0.0f : softmax_row_scalar(x + i * ld, cols, false);
}

void exp_rows(float* x, std::size_t rows, std::size_t cols, std::size_t ld, float* sums) noexcept {
#if defined(GPSA_HAVE_HWY)
  hwy_exp_rows(x, rows, cols, ld, sums);
#else
  exp_rows_scalar(x, rows, cols, ld, sums);
#endif
}

void gemm_blocked_scalar(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k,
                         float alpha, const float* a, std::size_t lda, const float* b,
                         std::size_t ldb, float beta, float* c, std::size_t ldc) noexcept {
  gemm_run_scalar(gemm_problem{trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc},
                  gemm_b_source{});
}

void gemm_run_scalar(const gemm_problem& g, const gemm_b_source& src) noexcept {
  [[maybe_unused]] const flush_subnormals ftz;  // no-op where there is no MXCSR
  alignas(64) float bpack[kGemmKcMax * kGemmPanel];
  gemm_blocked_run<scalar_kernel>(g, src, bpack);
}

void gemm_run(const gemm_problem& g, const gemm_b_source& src) noexcept {
  [[maybe_unused]] const flush_subnormals ftz;  // no-op where there is no MXCSR
#if defined(GPSA_HAVE_HWY)
  hwy_gemm(g, src);
#else
  gemm_run_scalar(g, src);
#endif
}

void gemm_pack_b_run(bool trans_b, std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                     float* out) noexcept {
#if defined(GPSA_HAVE_HWY)
  hwy_pack_b(trans_b, k, n, b, ldb, out);
#else
  gemm_pack_b_all(trans_b, k, n, b, ldb, out, &gemm_pack_b_panel_scalar);
#endif
}

#if !defined(GPSA_HAVE_HWY)
std::size_t simd_target_count() noexcept { return 1; }
const char* simd_target_name(std::size_t index) noexcept { return index == 0 ? "scalar" : ""; }
void simd_target_select(std::size_t) noexcept {}

float fma_peak(std::size_t iterations) noexcept {
  // Independent multiply-add chains in plain C++ (what the portable kernels can use).
  float acc[12];
  for (std::size_t i = 0; i < 12; ++i) acc[i] = 1.0f + static_cast<float>(i) * 1e-3f;
  for (std::size_t it = 0; it < iterations; ++it)
    for (float& x : acc) x = x * 0.999999f + 1e-7f;
  float s = 0.0f;
  for (float x : acc) s += x;
  return s;
}
std::size_t fma_peak_flops_per_iteration() noexcept { return 12 * 2; }
#endif

}  // namespace detail

namespace detail {

void softmax_rows_unchecked(std::size_t rows, std::size_t cols, float* x, std::size_t ld) noexcept {
#if defined(GPSA_HAVE_HWY)
  hwy_softmax_rows(x, rows, cols, ld);
#else
  softmax_rows_scalar(x, rows, cols, ld);
#endif
}

}  // namespace detail

status softmax_rows(std::size_t rows, std::size_t cols, float* x, std::size_t ld) noexcept {
  if (rows == 0 || cols == 0) return status::ok;
  if (x == nullptr || ld < cols) return status::invalid_argument;
  detail::softmax_rows_unchecked(rows, cols, x, ld);
  return status::ok;
}

status exp_values(std::span<const float> in, std::span<float> out) noexcept {
  if (in.size() != out.size()) return status::shape_mismatch;
  if (in.empty()) return status::ok;
  if (in.data() == nullptr || out.data() == nullptr) return status::invalid_argument;
#if defined(GPSA_HAVE_HWY)
  detail::hwy_exp(in.data(), out.data(), in.size());
#else
  detail::exp_scalar(in.data(), out.data(), in.size());
#endif
  return status::ok;
}

const char* gemm_backend() noexcept {
#if defined(GPSA_HAVE_HWY)
  return "blocked-highway";
#else
  return "blocked-portable";
#endif
}

const char* simd_backend() noexcept {
#if defined(GPSA_HAVE_HWY)
  return detail::hwy_target_name();
#else
  return "scalar";
#endif
}

}  // namespace gpsa
