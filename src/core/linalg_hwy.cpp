// Highway (runtime-dispatched SIMD) exp, row softmax and blocked-GEMM tile for gpsa/linalg.hpp.
// Compiled to nothing unless CMake found Highway and GPSA_SIMD is not OFF.
#if defined(GPSA_HAVE_HWY)

#include <cstddef>

#include "gemm_blocked.hpp"

// Sizeless-vector targets (SVE, RVV) cannot hold the tile's accumulator arrays; those machines
// use the NEON / scalar targets instead.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "linalg_hwy.cpp"
#include <hwy/foreach_target.h>  // re-includes this file once per target
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace gpsa::detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Tag capped at 16 floats (one AVX-512 vector) so the tile and tail buffers stay small.
using tag_f = hn::CappedTag<float, 16>;
constexpr std::size_t kMaxLanes = 16;

// Same algorithm as the scalar exp (linalg.cpp): Cody-Waite reduction by ln2, degree-7 Taylor
// polynomial, 2^n applied as 2^(n/2) * 2^(n - n/2) so subnormals round once; then the
// overflow / underflow / NaN lanes are patched.
template <class D, class V>
HWY_INLINE V exp_vec(D d, V x) {
  const hn::RebindToSigned<D> di;
  const V xc = hn::Min(hn::Max(x, hn::Set(d, -104.0f)), hn::Set(d, 89.0f));
  const V n = hn::Round(hn::Mul(xc, hn::Set(d, 1.44269504088896341f)));
  V r = hn::NegMulAdd(n, hn::Set(d, 0.693145751953125f), xc);
  r = hn::NegMulAdd(n, hn::Set(d, 1.428606765330187045e-06f), r);
  V p = hn::Set(d, 1.0f / 5040.0f);
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f / 720.0f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f / 120.0f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f / 24.0f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f / 6.0f));
  p = hn::MulAdd(p, r, hn::Set(d, 0.5f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f));
  const auto e = hn::ConvertTo(di, n);
  const auto e1 = hn::ShiftRight<1>(e);
  const auto e2 = hn::Sub(e, e1);
  const auto bias = hn::Set(di, 127);
  const V s1 = hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(e1, bias)));
  const V s2 = hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(e2, bias)));
  V y = hn::Mul(hn::Mul(p, s1), s2);
  y = hn::IfThenElse(hn::Gt(x, hn::Set(d, 88.72283935546875f)), hn::Set(d, __builtin_huge_valf()),
                     y);
  y = hn::IfThenZeroElse(hn::Lt(x, hn::Set(d, -103.972084045410156f)), y);
  return hn::IfThenElse(hn::Eq(x, x), y, x);  // NaN in, NaN out
}

void exp_impl(const float* in, float* out, std::size_t n) {
  const tag_f d;
  const std::size_t L = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(exp_vec(d, hn::LoadU(d, in + i)), d, out + i);
  if (i < n) {  // tail through a padded buffer: never reads or writes past the arrays
    HWY_ALIGN float buf[kMaxLanes] = {};
    for (std::size_t j = 0; j < n - i; ++j) buf[j] = in[i + j];
    hn::Store(exp_vec(d, hn::Load(d, buf)), d, buf);
    for (std::size_t j = 0; j < n - i; ++j) out[i + j] = buf[j];
  }
}

void softmax_rows_impl(float* x, std::size_t rows, std::size_t cols, std::size_t ld) {
  if (cols == 0) return;
  const tag_f d;
  using V = hn::Vec<tag_f>;
  const std::size_t L = hn::Lanes(d);
  const std::size_t full = cols - cols % L;
  const std::size_t tail = cols - full;
  HWY_ALIGN float buf[kMaxLanes];
  for (std::size_t i = 0; i < rows; ++i) {
    float* row = x + i * ld;
    // Tail lanes padded with -inf: neutral for the max, exp gives 0 for the sum.
    for (std::size_t j = 0; j < L; ++j) buf[j] = j < tail ? row[full + j] : -__builtin_huge_valf();
    V vmax = hn::Load(d, buf);
    for (std::size_t j = 0; j < full; j += L) vmax = hn::Max(vmax, hn::LoadU(d, row + j));
    const V mx = hn::MaxOfLanes(d, vmax);
    V vsum = hn::Zero(d);
    for (std::size_t j = 0; j < full; j += L) {
      const V e = exp_vec(d, hn::Sub(hn::LoadU(d, row + j), mx));
      hn::StoreU(e, d, row + j);
      vsum = hn::Add(vsum, e);
    }
    const V et = exp_vec(d, hn::Sub(hn::Load(d, buf), mx));
    vsum = hn::Add(vsum, et);
    hn::Store(et, d, buf);
    const V inv = hn::Div(hn::Set(d, 1.0f), hn::SumOfLanes(d, vsum));
    for (std::size_t j = 0; j < full; j += L)
      hn::StoreU(hn::Mul(hn::LoadU(d, row + j), inv), d, row + j);
    hn::Store(hn::Mul(hn::Load(d, buf), inv), d, buf);
    for (std::size_t j = 0; j < tail; ++j) row[full + j] = buf[j];
  }
}

// GEMM tile: MR rows x (2 vectors) columns of FMA accumulators; op(A) values broadcast.
// 2*MR accumulators + 2 B vectors + 1 broadcast must fit the register file: MR = 8 with 32
// AVX-512 registers, 6 with 16 (AVX2, SSE4, NEON has 32 but 4 lanes: 6 is plenty).
struct hwy_kernel {
  static constexpr std::size_t L = hn::MaxLanes(tag_f());
  static constexpr std::size_t MR = L >= 16 ? 8 : 6;
  static constexpr std::size_t NR = 2 * L;
  static HWY_NOINLINE void tile(std::size_t kc, const float* const* a_rows, std::size_t a_ks,
                                const float* bp, std::size_t b_ks, float* c, std::size_t ldc,
                                std::size_t mr, std::size_t nr, float alpha, float beta) noexcept {
    const tag_f d;
    using V = hn::Vec<tag_f>;
    V c0[MR], c1[MR];
    for (std::size_t r = 0; r < MR; ++r) c0[r] = c1[r] = hn::Zero(d);
    if (nr > L) {
      for (std::size_t p = 0; p < kc; ++p) {
        const V b0 = hn::LoadU(d, bp + p * b_ks);
        const V b1 = hn::LoadU(d, bp + p * b_ks + L);
        for (std::size_t r = 0; r < MR; ++r) {
          const V av = hn::Set(d, a_rows[r][p * a_ks]);
          c0[r] = hn::MulAdd(av, b0, c0[r]);
          c1[r] = hn::MulAdd(av, b1, c1[r]);
        }
      }
    } else {  // a narrow edge panel (e.g. head width 48 = 32 + 16): skip the padding half
      for (std::size_t p = 0; p < kc; ++p) {
        const V b0 = hn::LoadU(d, bp + p * b_ks);
        for (std::size_t r = 0; r < MR; ++r)
          c0[r] = hn::MulAdd(hn::Set(d, a_rows[r][p * a_ks]), b0, c0[r]);
      }
    }
    if (mr == MR && nr == NR) {  // full tile: update C with vectors
      const V va = hn::Set(d, alpha), vb = hn::Set(d, beta);
      for (std::size_t r = 0; r < MR; ++r) {
        float* cr = c + r * ldc;
        if (beta == 0.0f) {
          hn::StoreU(hn::Mul(va, c0[r]), d, cr);
          hn::StoreU(hn::Mul(va, c1[r]), d, cr + L);
        } else if (beta == 1.0f) {
          hn::StoreU(hn::MulAdd(va, c0[r], hn::LoadU(d, cr)), d, cr);
          hn::StoreU(hn::MulAdd(va, c1[r], hn::LoadU(d, cr + L)), d, cr + L);
        } else {
          hn::StoreU(hn::MulAdd(va, c0[r], hn::Mul(vb, hn::LoadU(d, cr))), d, cr);
          hn::StoreU(hn::MulAdd(va, c1[r], hn::Mul(vb, hn::LoadU(d, cr + L))), d, cr + L);
        }
      }
      return;
    }
    HWY_ALIGN float out[MR * NR];
    for (std::size_t r = 0; r < MR; ++r) {
      hn::Store(c0[r], d, out + r * NR);
      hn::Store(c1[r], d, out + r * NR + L);
    }
    gemm_update_c(out, NR, c, ldc, mr, nr, alpha, beta);
  }
};
// K block: a KC x NR panel of op(B) (16 KB with AVX-512) plus an MR x KC sliver of A stay in L1.
constexpr std::size_t kHwyKc = 128;

void gemm_impl(const gemm_problem& g) {
  HWY_ALIGN float bpack[kHwyKc * hwy_kernel::NR];
  gemm_blocked_run<hwy_kernel, kHwyKc>(g, bpack);
}

const char* target_name_impl() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace gpsa::detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace gpsa::detail {

HWY_EXPORT(exp_impl);
HWY_EXPORT(softmax_rows_impl);
HWY_EXPORT(gemm_impl);
HWY_EXPORT(target_name_impl);

void hwy_exp(const float* in, float* out, std::size_t n) noexcept {
  HWY_DYNAMIC_DISPATCH(exp_impl)(in, out, n);
}
void hwy_softmax_rows(float* x, std::size_t rows, std::size_t cols, std::size_t ld) noexcept {
  HWY_DYNAMIC_DISPATCH(softmax_rows_impl)(x, rows, cols, ld);
}
void hwy_gemm_blocked(const gemm_problem& g) noexcept { HWY_DYNAMIC_DISPATCH(gemm_impl)(g); }
const char* hwy_target_name() noexcept { return HWY_DYNAMIC_DISPATCH(target_name_impl)(); }

}  // namespace gpsa::detail
#endif  // HWY_ONCE

#endif  // GPSA_HAVE_HWY
