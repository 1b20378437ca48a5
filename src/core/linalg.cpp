// Dense primitives of the core: GEMM (CBLAS or blocked), row softmax and exp (Highway or scalar).
#include "gpsa/linalg.hpp"

#include <bit>
#include <cfloat>
#include <climits>
#include <cstdint>
#include <cstring>
#include <limits>

#include "gemm_blocked.hpp"
#include "gpsa/detail/linalg_impl.hpp"

#if defined(GPSA_HAVE_CBLAS)
#include <cblas.h>
#endif

#if defined(GPSA_HAVE_HWY)
namespace gpsa::detail {
// Defined in linalg_hwy.cpp (Highway runtime dispatch).
void hwy_exp(const float* in, float* out, std::size_t n) noexcept;
void hwy_softmax_rows(float* x, std::size_t rows, std::size_t cols, std::size_t ld) noexcept;
void hwy_gemm_blocked(const gemm_problem& g) noexcept;
const char* hwy_target_name() noexcept;
}  // namespace gpsa::detail
#endif

namespace gpsa {
namespace detail {
namespace {

// 2^e as a float for e in [-126, 127].
inline float pow2i(std::int32_t e) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(e + 127) << 23);
}

// exp(x) = 2^n * exp(r): n = round(x / ln2), r = x - n*ln2 with ln2 split in two (Cody-Waite; the
// high part has 16 bits so n*hi is exact), |r| <= ln2/2; degree-7 Taylor series in r (truncation
// error < 0.1 ulp); 2^n applied in two factors so subnormal results are rounded only once.
// Branch-free (selects only) so compilers vectorise loops over it.
inline float exp1(float x) noexcept {
  constexpr float kHi = 88.72283935546875f;     // > ln(FLT_MAX): the result rounds to +inf
  constexpr float kLo = -103.972084045410156f;  // < ln(2^-150): the result rounds to 0
  float xc = x > 89.0f ? 89.0f : x;
  xc = xc < -104.0f ? -104.0f : xc;
  xc = x == x ? xc : 0.0f;  // NaN: keep the int conversion below defined
  const float t = xc * 1.44269504088896341f;
#if FLT_EVAL_METHOD == 0
  // Round to nearest by adding and removing 1.5 * 2^23 (pure arithmetic: vectorises everywhere).
  const float n = (t + 12582912.0f) - 12582912.0f;
  const auto ni = static_cast<std::int32_t>(n);
#else  // excess precision (x87) would defeat the trick above
  const auto ni = static_cast<std::int32_t>(t + (t < 0.0f ? -0.5f : 0.5f));
  const auto n = static_cast<float>(ni);
#endif
  const float r = (xc - n * 0.693145751953125f) - n * 1.428606765330187045e-06f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const std::int32_t e1 = ni / 2;
  float y = p * pow2i(e1) * pow2i(ni - e1);
  y = x > kHi ? std::numeric_limits<float>::infinity() : y;
  y = x < kLo ? 0.0f : y;
  return x == x ? y : x;
}

// The firmware tile: plain loops over a fixed MR x NR accumulator the compiler keeps in
// registers and vectorises along NR with whatever the target flags allow.
// NR is two of the widest vectors the compile flags allow (2 floats for plain scalar FPUs), so
// the MR x NR accumulators fit the register file without spilling. With GCC/Clang the columns are
// generic vector-extension types (lowered to scalar code where the target has no SIMD), because
// the auto-vectoriser otherwise vectorises this nest across rows; other compilers get plain loops.
#if defined(__AVX512F__)
constexpr std::size_t kVecFloats = 16;
#elif defined(__AVX__)
constexpr std::size_t kVecFloats = 8;
#elif defined(__SSE2__) || defined(__ARM_NEON) || defined(__ALTIVEC__)
constexpr std::size_t kVecFloats = 4;
#else
constexpr std::size_t kVecFloats = 2;
#endif
struct scalar_kernel {
  static constexpr std::size_t MR = 4;
  static constexpr std::size_t NR = 2 * kVecFloats;
  static void tile(std::size_t kc, const float* const* a_rows, std::size_t a_ks, const float* bp,
                   std::size_t b_ks, float* c, std::size_t ldc, std::size_t mr, std::size_t nr,
                   float alpha, float beta) noexcept {
#if defined(__GNUC__)
    using vec = float __attribute__((vector_size(kVecFloats * sizeof(float))));
    vec acc[MR][2] = {};
    for (std::size_t p = 0; p < kc; ++p) {
      vec b0, b1;
      std::memcpy(&b0, bp + p * b_ks, sizeof b0);
      std::memcpy(&b1, bp + p * b_ks + kVecFloats, sizeof b1);
      for (std::size_t r = 0; r < MR; ++r) {
        const float av = a_rows[r][p * a_ks];
        acc[r][0] += av * b0;
        acc[r][1] += av * b1;
      }
    }
    float out[MR * NR];
    std::memcpy(out, acc, sizeof out);
#else
    float out[MR * NR] = {};
    for (std::size_t p = 0; p < kc; ++p) {
      const float* brow = bp + p * b_ks;
      for (std::size_t r = 0; r < MR; ++r) {
        const float av = a_rows[r][p * a_ks];
        for (std::size_t j = 0; j < NR; ++j) out[r * NR + j] += av * brow[j];
      }
    }
#endif
    gemm_update_c(out, NR, c, ldc, mr, nr, alpha, beta);
  }
};
constexpr std::size_t kScalarKc = 128;

}  // namespace

void exp_scalar(const float* in, float* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = exp1(in[i]);
}

void softmax_rows_scalar(float* x, std::size_t rows, std::size_t cols, std::size_t ld) noexcept {
  if (cols == 0) return;
  // Max and sum use kLanes independent partials (vertical operations the compiler can vectorise
  // without reassociating), then fold them.
  constexpr std::size_t kLanes = 8;
  const std::size_t full = cols - cols % kLanes;
  for (std::size_t i = 0; i < rows; ++i) {
    float* row = x + i * ld;
    float m[kLanes];
    for (std::size_t l = 0; l < kLanes; ++l) m[l] = row[0];
    for (std::size_t j = 0; j < full; j += kLanes)
      for (std::size_t l = 0; l < kLanes; ++l) m[l] = row[j + l] > m[l] ? row[j + l] : m[l];
    float mx = m[0];
    for (std::size_t l = 1; l < kLanes; ++l) mx = m[l] > mx ? m[l] : mx;
    for (std::size_t j = full; j < cols; ++j) mx = row[j] > mx ? row[j] : mx;
    // all -inf row: -inf - -inf = NaN, as in PyTorch
    for (std::size_t j = 0; j < cols; ++j) row[j] = exp1(row[j] - mx);
    float s[kLanes] = {};
    for (std::size_t j = 0; j < full; j += kLanes)
      for (std::size_t l = 0; l < kLanes; ++l) s[l] += row[j + l];
    float sum = 0.0f;
    for (std::size_t l = 0; l < kLanes; ++l) sum += s[l];
    for (std::size_t j = full; j < cols; ++j) sum += row[j];
    const float inv = 1.0f / sum;
    for (std::size_t j = 0; j < cols; ++j) row[j] *= inv;
  }
}

void gemm_blocked_scalar(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k,
                         float alpha, const float* a, std::size_t lda, const float* b,
                         std::size_t ldb, float beta, float* c, std::size_t ldc) noexcept {
  alignas(64) float bpack[kScalarKc * scalar_kernel::NR];
  const gemm_problem g{trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc};
  gemm_blocked_run<scalar_kernel, kScalarKc>(g, bpack);
}

void gemm_blocked(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k,
                  float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb,
                  float beta, float* c, std::size_t ldc) noexcept {
#if defined(GPSA_HAVE_HWY)
  hwy_gemm_blocked(gemm_problem{trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc});
#else
  gemm_blocked_scalar(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

}  // namespace detail

void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc) noexcept {
#if defined(GPSA_HAVE_CBLAS)
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == 0.0f) {  // CBLAS would reject lda < 1 etc.; nothing to multiply anyway
    detail::gemm_scale_c(m, n, beta, c, ldc);
    return;
  }
  // CBLAS checks ld >= row length even for a single stored row, whose ld is never used.
  const std::size_t a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
  const std::size_t b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
  if (a_rows == 1 && lda < a_cols) lda = a_cols;
  if (b_rows == 1 && ldb < b_cols) ldb = b_cols;
  if (m == 1 && ldc < n) ldc = n;
  constexpr std::size_t kMax = static_cast<std::size_t>(INT_MAX);
  if (m <= kMax && n <= kMax && k <= kMax && lda <= kMax && ldb <= kMax && ldc <= kMax) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                beta, c, static_cast<int>(ldc));
    return;
  }
#endif
  detail::gemm_blocked(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void softmax_rows(float* x, std::size_t rows, std::size_t cols, std::size_t ld) noexcept {
#if defined(GPSA_HAVE_HWY)
  detail::hwy_softmax_rows(x, rows, cols, ld);
#else
  detail::softmax_rows_scalar(x, rows, cols, ld);
#endif
}

void exp_inplace(const float* in, float* out, std::size_t n) noexcept {
#if defined(GPSA_HAVE_HWY)
  detail::hwy_exp(in, out, n);
#else
  detail::exp_scalar(in, out, n);
#endif
}

const char* gemm_backend() noexcept {
#if defined(GPSA_HAVE_CBLAS)
  return "cblas";
#else
  return "portable";
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
