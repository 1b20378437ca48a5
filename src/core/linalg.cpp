// Dense primitives of the core: GEMM, row softmax, exp (simple reference-quality version).
#include "gpsa/linalg.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace gpsa {
namespace {

// 2^e as a float for e in [-126, 127].
inline float pow2i(int e) noexcept {
  const std::uint32_t bits = static_cast<std::uint32_t>(e + 127) << 23;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// exp(x): x = n ln2 + r, |r| <= ln2/2 (Cody-Waite split of ln2), degree-7 Taylor in r
// (truncation < 0.1 ulp), then scale by 2^n in two steps so subnormal results stay right.
inline float exp_scalar(float x) noexcept {
  if (!(x == x)) return x;  // NaN
  if (x > 88.72283935546875f) return std::numeric_limits<float>::infinity();
  if (x < -103.972084045410156f) return 0.0f;
  const float n = std::nearbyint(x * 1.44269504088896341f);
  const float r = (x - n * 0.693145751953125f) - n * 1.428606765330187045e-06f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int e = static_cast<int>(n);
  if (e > 127) return p * pow2i(127) * pow2i(e - 127);
  if (e < -126) return p * pow2i(-126) * pow2i(e + 126);
  return p * pow2i(e);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc) noexcept {
  for (std::size_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    if (beta == 0.0f) {
      for (std::size_t j = 0; j < n; ++j) ci[j] = 0.0f;
    } else if (beta != 1.0f) {
      for (std::size_t j = 0; j < n; ++j) ci[j] *= beta;
    }
    if (alpha == 0.0f) continue;
    for (std::size_t j = 0; j < n; ++j) {
      float s = 0.0f;
      for (std::size_t p = 0; p < k; ++p) {
        const float av = trans_a ? a[p * lda + i] : a[i * lda + p];
        const float bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
        s += av * bv;
      }
      ci[j] += alpha * s;
    }
  }
}

void softmax_rows(float* x, std::size_t rows, std::size_t cols, std::size_t ld) noexcept {
  for (std::size_t i = 0; i < rows; ++i) {
    float* row = x + i * ld;
    if (cols == 0) continue;
    float mx = row[0];
    for (std::size_t j = 1; j < cols; ++j) mx = row[j] > mx ? row[j] : mx;
    float sum = 0.0f;
    for (std::size_t j = 0; j < cols; ++j) {
      row[j] = exp_scalar(row[j] - mx);
      sum += row[j];
    }
    const float inv = 1.0f / sum;
    for (std::size_t j = 0; j < cols; ++j) row[j] *= inv;
  }
}

void exp_inplace(const float* in, float* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = exp_scalar(in[i]);
}

const char* gemm_backend() noexcept { return "portable"; }
const char* simd_backend() noexcept { return "scalar"; }

}  // namespace gpsa
