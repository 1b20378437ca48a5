// SPDX-License-Identifier: MIT
// Core-private: gpsa's scalar float exp (the softmax's; linalg.cpp) and the int8 model's
// (convit_int8.cpp, docs/DESIGN.md section 9). One source; each including file compiles its own
// copy under its own floating-point flags (the int8 model's with contraction off, so its bits
// are the same on every target; linalg.cpp's may fuse). Hence internal linkage (the unnamed
// namespace): with external linkage the linker would keep one out-of-line copy for both, and
// one of them would run with the other's contraction.
#pragma once

#include <bit>
#include <cfloat>
#include <cstdint>
#include <limits>

namespace gpsa::detail {
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

}  // namespace
}  // namespace gpsa::detail
