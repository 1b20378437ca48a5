// SPDX-License-Identifier: MIT
// Highway (runtime-dispatched SIMD) exp, row softmax, GEMM tile kernels and packing, the FMA-peak
// loop and the target controls behind gpsa/core/linalg.hpp. Compiled to nothing unless CMake found
// Highway and GPSA_SIMD is not OFF.
#if defined(GPSA_HAVE_HWY)

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "gemm_blocked.hpp"
#include "linalg_hwy.hpp"

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

// Tag capped at 16 floats (one AVX-512 vector) so the tiles and tail buffers stay small.
using tag_f = hn::CappedTag<float, 16>;
using vec_f = hn::Vec<tag_f>;
constexpr std::size_t kL = hn::MaxLanes(tag_f());
// Row sums are kept in 16 partial sums whatever the vector width (16 / kL vectors), so they
// round identically on every target.
constexpr std::size_t kSumLanes = 16;
constexpr std::size_t kSumVecs = kSumLanes / kL;

// e^(x - n ln 2) for |x - n ln 2| <= ln2/2: Cody-Waite reduction (ln 2 split in two) and the
// degree-7 Taylor polynomial in Horner form; shared by both exp kernels so they stay the same.
template <class D, class V>
HWY_INLINE V exp_reduced(D d, V xc, V n) {
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
  return p;
}

// Same algorithm as the scalar exp (linalg.cpp): Cody-Waite reduction by ln2, degree-7 Taylor
// polynomial, 2^n applied as 2^(n/2) * 2^(n - n/2) so subnormals round once; then the
// overflow / underflow / NaN lanes are patched. Lane-wise only: the same bits on every target
// with FMA.
template <class D, class V>
HWY_INLINE V exp_vec(D d, V x) {
  const hn::RebindToSigned<D> di;
  const V xc = hn::Min(hn::Max(x, hn::Set(d, -104.0f)), hn::Set(d, 89.0f));
  const V n = hn::Round(hn::Mul(xc, hn::Set(d, 1.44269504088896341f)));
  const V p = exp_reduced(d, xc, n);
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
  std::size_t i = 0;
  for (; i + kL <= n; i += kL) hn::StoreU(exp_vec(d, hn::LoadU(d, in + i)), d, out + i);
  if (i < n) {  // tail through a padded buffer: never reads or writes past the arrays
    HWY_ALIGN float buf[kL] = {};
    for (std::size_t j = 0; j < n - i; ++j) buf[j] = in[i + j];
    hn::Store(exp_vec(d, hn::Load(d, buf)), d, buf);
    for (std::size_t j = 0; j < n - i; ++j) out[i + j] = buf[j];
  }
}

// exp for softmax arguments x - rowmax: x <= 0, -inf or NaN. Results below FLT_MIN (x < ln 2^-126)
// are flushed to 0, so the probabilities the attention GEMMs read are never subnormal (no
// microcode assists; the change is below 1.2e-38 absolute). Fewer operations than exp_vec: one
// FMA rounds x * log2(e) to an integer in the low mantissa bits of 1.5 * 2^23 (so n needs no
// float->int conversion) and 2^n (n in [-127, 0]) is one normal float.
template <class D, class V>
HWY_INLINE V exp_nonpositive(D d, V x) {
  const hn::RebindToSigned<D> di;
  constexpr float kShift = 12582912.0f;  // 1.5 * 2^23, bits 0x4B400000
  const V xc = hn::Max(x, hn::Set(d, -88.0f));
  const V t = hn::MulAdd(xc, hn::Set(d, 1.44269504088896341f), hn::Set(d, kShift));
  const V n = hn::Sub(t, hn::Set(d, kShift));
  const V p = exp_reduced(d, xc, n);
  // (n + 127) << 23 from t's bits: t = 0x4B400000 + n as an integer.
  const auto e = hn::ShiftLeft<23>(hn::Add(hn::BitCast(di, t), hn::Set(di, 127 - 0x4B400000)));
  V y = hn::Mul(p, hn::BitCast(d, e));
  y = hn::IfThenZeroElse(hn::Lt(x, hn::Set(d, -87.3365447505f)), y);  // below FLT_MIN, -inf
  return hn::IfThenElse(hn::Eq(x, x), y, x);                          // NaN in, NaN out
}

// The 16 partial sums of a row (in vectors of kL lanes) added in one fixed pairwise order.
HWY_INLINE float fixed_order_sum(const vec_f* sum) {
  const tag_f d;
  HWY_ALIGN float part[kSumLanes];
  for (std::size_t q = 0; q < kSumVecs; ++q) hn::Store(sum[q], d, part + q * kL);
  float h8[8], h4[4];
  for (std::size_t j = 0; j < 8; ++j) h8[j] = part[j] + part[j + 8];
  for (std::size_t j = 0; j < 4; ++j) h4[j] = h8[j] + h8[j + 4];
  return (h4[0] + h4[2]) + (h4[1] + h4[3]);
}

// A row shorter than 16: through a buffer padded with -inf (exp gives 0), element j in partial j.
// Returns the row's sum; with kNormalize the row is divided by it, else it keeps exp(x - max).
template <bool kNormalize>
float softmax_short_row(float* row, std::size_t cols) {
  const tag_f d;
  HWY_ALIGN float buf[kSumLanes];
  for (std::size_t j = 0; j < kSumLanes; ++j) buf[j] = j < cols ? row[j] : -__builtin_huge_valf();
  vec_f m = hn::Load(d, buf);
  for (std::size_t q = 1; q < kSumVecs; ++q) m = hn::Max(m, hn::Load(d, buf + q * kL));
  const vec_f mx = hn::MaxOfLanes(d, m);
  vec_f sum[kSumVecs];
  for (std::size_t q = 0; q < kSumVecs; ++q) {
    sum[q] = exp_nonpositive(d, hn::Sub(hn::Load(d, buf + q * kL), mx));
    hn::Store(sum[q], d, buf + q * kL);
  }
  const float total = fixed_order_sum(sum);
  if (kNormalize) {
    const vec_f inv = hn::Div(hn::Set(d, 1.0f), hn::Set(d, total));
    for (std::size_t q = 0; q < kSumVecs; ++q)
      hn::Store(hn::Mul(hn::Load(d, buf + q * kL), inv), d, buf + q * kL);
  }
  for (std::size_t j = 0; j < cols; ++j) row[j] = buf[j];
  return total;
}

// One row: max, exp(x - max) with the sum in kSumLanes partials, scale by 1/sum. Columns go in
// blocks of 16 (element j to partial j mod 16); a partial last block is read as the row's last 16
// columns, its lanes already done masked out of the sum (recomputing and re-storing them gives
// the same values), so every element lands in the same partial on every target. Returns the sum;
// without kNormalize the row keeps exp(x - max) (the caller scales later).
template <bool kNormalize>
float softmax_row(float* row, std::size_t cols) {
  const tag_f d;
  if (cols < kSumLanes) return softmax_short_row<kNormalize>(row, cols);
  const std::size_t full = cols - cols % kSumLanes;
  const std::size_t tail = cols - full;
  float* last = row + cols - kSumLanes;
  vec_f tv[kSumVecs];
  for (std::size_t q = 0; q < kSumVecs; ++q) tv[q] = hn::LoadU(d, last + q * kL);
  // Four independent max chains (the max is exact: any order gives the same value).
  vec_f m0 = tv[0], m1 = tv[kSumVecs - 1], m2 = m0, m3 = m1;
  std::size_t j4 = 0;
  for (; j4 + 4 * kL <= full; j4 += 4 * kL) {
    m0 = hn::Max(m0, hn::LoadU(d, row + j4));
    m1 = hn::Max(m1, hn::LoadU(d, row + j4 + kL));
    m2 = hn::Max(m2, hn::LoadU(d, row + j4 + 2 * kL));
    m3 = hn::Max(m3, hn::LoadU(d, row + j4 + 3 * kL));
  }
  for (; j4 < full; j4 += kL) m0 = hn::Max(m0, hn::LoadU(d, row + j4));
  for (std::size_t q = 1; q + 1 < kSumVecs; ++q) m2 = hn::Max(m2, tv[q]);
  const vec_f mx = hn::MaxOfLanes(d, hn::Max(hn::Max(m0, m1), hn::Max(m2, m3)));
  vec_f sum[kSumVecs];
  for (std::size_t q = 0; q < kSumVecs; ++q) sum[q] = hn::Zero(d);
  for (std::size_t j = 0; j < full; j += kSumLanes) {
    for (std::size_t q = 0; q < kSumVecs; ++q) {
      const vec_f e = exp_nonpositive(d, hn::Sub(hn::LoadU(d, row + j + q * kL), mx));
      hn::StoreU(e, d, row + j + q * kL);
      sum[q] = hn::Add(sum[q], e);
    }
  }
  if (tail != 0) {
    const vec_f first_new = hn::Set(d, static_cast<float>(kSumLanes - tail));
    for (std::size_t q = 0; q < kSumVecs; ++q) {
      tv[q] = exp_nonpositive(d, hn::Sub(tv[q], mx));
      const auto fresh = hn::Ge(hn::Iota(d, static_cast<float>(q * kL)), first_new);
      sum[q] = hn::Add(sum[q], hn::IfThenElseZero(fresh, tv[q]));
    }
  }
  const float total = fixed_order_sum(sum);
  if (!kNormalize) {
    if (tail != 0)
      for (std::size_t q = 0; q < kSumVecs; ++q) hn::StoreU(tv[q], d, last + q * kL);
    return total;
  }
  const vec_f inv = hn::Div(hn::Set(d, 1.0f), hn::Set(d, total));
  for (std::size_t j = 0; j < full; j += kL)
    hn::StoreU(hn::Mul(hn::LoadU(d, row + j), inv), d, row + j);
  if (tail != 0)
    for (std::size_t q = 0; q < kSumVecs; ++q) hn::StoreU(hn::Mul(tv[q], inv), d, last + q * kL);
  return total;
}

void softmax_rows_impl(float* x, std::size_t rows, std::size_t cols, std::size_t ld) {
  if (cols == 0) return;
  for (std::size_t i = 0; i < rows; ++i) softmax_row<true>(x + i * ld, cols);
}

void exp_rows_impl(float* x, std::size_t rows, std::size_t cols, std::size_t ld, float* sums) {
  for (std::size_t i = 0; i < rows; ++i)
    sums[i] = cols == 0 ? 0.0f : softmax_row<false>(x + i * ld, cols);
}

// ---------------------------------------------------------------------------------------------
// GEMM (driver: gemm_blocked.hpp)
// ---------------------------------------------------------------------------------------------

// Tile: MR rows x NV vectors of FMA accumulators, op(A) values broadcast from A in place, op(B)
// from the packed panel. MR * 3 accumulators + 3 B vectors + 1 broadcast fit the register file:
// MR = 8 with 32 vector registers (AVX-512, NEON), 4 with 16 (AVX2, SSE4).
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_ARCH_ARM_A64
constexpr std::size_t kMR = 8;
#else
constexpr std::size_t kMR = 4;
#endif
constexpr std::size_t kNV = 3;

using tile_fn = void (*)(std::size_t, const float*, std::size_t, std::size_t, const float*,
                         std::size_t, float*, std::size_t, std::size_t, float, float);

// Masked loads and stores that never touch memory outside the mask: AVX2 and AVX-512 have them
// (SSE4 and older emulate them with whole-vector accesses, so those go through a buffer).
#undef GPSA_SAFE_MASKED  // set per target (this file is compiled once per target)
#if HWY_TARGET <= HWY_AVX2 && HWY_ARCH_X86
#define GPSA_SAFE_MASKED 1
#else
#define GPSA_SAFE_MASKED 0
#endif

#ifndef GPSA_UNROLL  // full unrolling of the tile's constant loops keeps the accumulators in
                     // registers
#if defined(__clang__)
#define GPSA_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define GPSA_UNROLL _Pragma("GCC unroll 16")
#else
#define GPSA_UNROLL
#endif
#endif

// How a tile writes C: C = alpha * acc (beta == 0: C is never read), C = alpha * acc + C
// (beta == 1, the later K blocks) or C = alpha * acc + beta * C; each its own straight-line
// code, so the accumulators stay in registers up to the store.
enum class c_mode { overwrite, add, general };

template <c_mode kMode>
HWY_INLINE vec_f c_value(vec_f acc, vec_f old, vec_f va, vec_f vb) {
  if (kMode == c_mode::overwrite) return hn::Mul(va, acc);
  if (kMode == c_mode::add) return hn::MulAdd(va, acc, old);
  return hn::MulAdd(va, acc, hn::Mul(vb, old));
}

// One MR x (NV vectors) tile in one function, the accumulators in registers from the zeroing to
// the C update: the k loop for a unit or a strided A step and the C update are chosen at compile
// time. Edge columns are written with masked stores where the target has safe ones, else
// through a buffer; every lane gets the same arithmetic as in a full tile.
template <std::size_t MR, std::size_t NV, bool kUnitK, c_mode kMode>
HWY_NOINLINE void tile_k(std::size_t kc, const float* a, std::size_t a_rs, std::size_t a_ks,
                         const float* HWY_RESTRICT bp, std::size_t b_ks, float* c, std::size_t ldc,
                         std::size_t nr, float alpha, float beta) {
  const tag_f d;
  vec_f acc[MR][NV];
  GPSA_UNROLL
  for (std::size_t r = 0; r < MR; ++r) GPSA_UNROLL
  for (std::size_t v = 0; v < NV; ++v) acc[r][v] = hn::Zero(d);
  const float* ar[MR];
  GPSA_UNROLL
  for (std::size_t r = 0; r < MR; ++r) ar[r] = a + r * a_rs;
  for (std::size_t p = 0; p < kc; ++p) {
    vec_f b[NV];
    GPSA_UNROLL
    for (std::size_t v = 0; v < NV; ++v) b[v] = hn::LoadU(d, bp + v * kL);
    bp += b_ks;
    GPSA_UNROLL
    for (std::size_t r = 0; r < MR; ++r) {
      const vec_f av = hn::Set(d, kUnitK ? ar[r][p] : ar[r][p * a_ks]);
      GPSA_UNROLL
      for (std::size_t v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(av, b[v], acc[r][v]);
    }
  }
  const vec_f va = hn::Set(d, alpha), vb = hn::Set(d, beta);
  const auto old_full = [&](const float* p) {
    return kMode == c_mode::overwrite ? hn::Zero(d) : hn::LoadU(d, p);
  };
  if (nr == NV * kL) {
    GPSA_UNROLL
    for (std::size_t r = 0; r < MR; ++r) GPSA_UNROLL
    for (std::size_t v = 0; v < NV; ++v) {
      float* cv = c + r * ldc + v * kL;
      hn::StoreU(c_value<kMode>(acc[r][v], old_full(cv), va, vb), d, cv);
    }
    return;
  }
  // Edge columns: whole vectors before the last, then the last one's nr - (NV - 1) kL lanes.
  const std::size_t last = nr - (NV - 1) * kL;
#if GPSA_SAFE_MASKED
  const auto m = hn::FirstN(d, last);
  GPSA_UNROLL
  for (std::size_t r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    GPSA_UNROLL
    for (std::size_t v = 0; v + 1 < NV; ++v)
      hn::StoreU(c_value<kMode>(acc[r][v], old_full(cr + v * kL), va, vb), d, cr + v * kL);
    float* cl = cr + (NV - 1) * kL;
    const vec_f old = kMode == c_mode::overwrite ? hn::Zero(d) : hn::MaskedLoad(m, d, cl);
    hn::BlendedStore(c_value<kMode>(acc[r][NV - 1], old, va, vb), m, d, cl);
  }
#else
  HWY_ALIGN float t[kL];
  GPSA_UNROLL
  for (std::size_t r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    GPSA_UNROLL
    for (std::size_t v = 0; v + 1 < NV; ++v)
      hn::StoreU(c_value<kMode>(acc[r][v], old_full(cr + v * kL), va, vb), d, cr + v * kL);
    float* cl = cr + (NV - 1) * kL;
    for (std::size_t j = 0; j < kL; ++j)
      t[j] = kMode != c_mode::overwrite && j < last ? cl[j] : 0.0f;
    hn::Store(c_value<kMode>(acc[r][NV - 1], hn::Load(d, t), va, vb), d, t);
    for (std::size_t j = 0; j < last; ++j) cl[j] = t[j];
  }
#endif
}

// kTiles[unit A step][C mode][mr - 1][nv - 1]: every row count up to kMR, every width up to kNV
// vectors.
using tile_table = std::array<std::array<tile_fn, kNV>, kMR>;
template <bool kUnitK, c_mode kMode, std::size_t... R>
constexpr tile_table make_tile_k_table(std::index_sequence<R...>) {
  return tile_table{{{&tile_k<R + 1, 1, kUnitK, kMode>, &tile_k<R + 1, 2, kUnitK, kMode>,
                      &tile_k<R + 1, 3, kUnitK, kMode>}...}};
}
template <bool kUnitK>
constexpr std::array<tile_table, 3> make_mode_tables() {
  constexpr auto rows = std::make_index_sequence<kMR>();
  return {make_tile_k_table<kUnitK, c_mode::overwrite>(rows),
          make_tile_k_table<kUnitK, c_mode::add>(rows),
          make_tile_k_table<kUnitK, c_mode::general>(rows)};
}
constexpr std::array<std::array<tile_table, 3>, 2> kTiles{make_mode_tables<false>(),
                                                          make_mode_tables<true>()};

#undef GPSA_GEMM_TRANSPOSE8  // set again below for the targets that have it
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// dst row q (stride ds) = column q of the 8 x 8 block at src (row stride ss): 24 in-register
// shuffles instead of 64 scalar moves.
HWY_INLINE void transpose8(const float* src, std::size_t ss, float* dst, std::size_t ds) {
  const hn::CappedTag<float, 8> d8;
  const hn::Repartition<double, decltype(d8)> dd;
  using V8 = hn::Vec<decltype(d8)>;
  V8 r[8];
  for (std::size_t i = 0; i < 8; ++i) r[i] = hn::LoadU(d8, src + i * ss);
  V8 t[8];
  for (std::size_t i = 0; i < 8; i += 2) {
    t[i] = hn::InterleaveLower(d8, r[i], r[i + 1]);      // a0 b0 a1 b1 | a4 b4 a5 b5
    t[i + 1] = hn::InterleaveUpper(d8, r[i], r[i + 1]);  // a2 b2 a3 b3 | a6 b6 a7 b7
  }
  V8 u[8];
  for (std::size_t h = 0; h < 8; h += 4) {
    const auto t0 = hn::BitCast(dd, t[h]), t1 = hn::BitCast(dd, t[h + 1]);
    const auto t2 = hn::BitCast(dd, t[h + 2]), t3 = hn::BitCast(dd, t[h + 3]);
    u[h] = hn::BitCast(d8, hn::InterleaveLower(dd, t0, t2));      // a0 b0 c0 d0 | a4 ..
    u[h + 1] = hn::BitCast(d8, hn::InterleaveUpper(dd, t0, t2));  // a1 b1 c1 d1 | a5 ..
    u[h + 2] = hn::BitCast(d8, hn::InterleaveLower(dd, t1, t3));  // a2 .. | a6 ..
    u[h + 3] = hn::BitCast(d8, hn::InterleaveUpper(dd, t1, t3));  // a3 .. | a7 ..
  }
  for (std::size_t q = 0; q < 4; ++q) {
    hn::StoreU(hn::ConcatLowerLower(d8, u[4 + q], u[q]), d8, dst + q * ds);
    hn::StoreU(hn::ConcatUpperUpper(d8, u[4 + q], u[q]), d8, dst + (q + 4) * ds);
  }
}
#define GPSA_GEMM_TRANSPOSE8 1
#endif

// op(B) rows [p0, p0 + kc), columns [j0, j0 + w) into a kc x kGemmPanel panel, zero-padded.
void pack_b_panel(bool trans_b, const float* b, std::size_t ldb, std::size_t p0, std::size_t kc,
                  std::size_t j0, std::size_t w, float* bp) {
  const tag_f d;
  if (!trans_b) {
    if (w == kGemmPanel) {
      for (std::size_t p = 0; p < kc; ++p) {
        const float* s = b + (p0 + p) * ldb + j0;
        for (std::size_t j = 0; j < kGemmPanel; j += kL)
          hn::StoreU(hn::LoadU(d, s + j), d, bp + p * kGemmPanel + j);
      }
      return;
    }
    gemm_pack_b_panel_scalar(false, b, ldb, p0, kc, j0, w, bp);
    return;
  }
#if defined(GPSA_GEMM_TRANSPOSE8)
  const std::size_t w8 = w - w % 8, k8 = kc - kc % 8;
  // Whole rows of the panel at a time (8 k values x the panel's width): each output line is
  // written once, while it is in cache.
  for (std::size_t pg = 0; pg < k8; pg += 8)
    for (std::size_t jg = 0; jg < w8; jg += 8)
      transpose8(b + (j0 + jg) * ldb + p0 + pg, ldb, bp + pg * kGemmPanel + jg, kGemmPanel);
  for (std::size_t p = 0; p < kc; ++p) {
    float* dst = bp + p * kGemmPanel;
    const std::size_t j_from = p < k8 ? w8 : 0;  // rows p < k8 have their first w8 done
    for (std::size_t j = j_from; j < w; ++j) dst[j] = b[(j0 + j) * ldb + p0 + p];
    for (std::size_t j = w; j < kGemmPanel; ++j) dst[j] = 0.0f;
  }
#else
  gemm_pack_b_panel_scalar(true, b, ldb, p0, kc, j0, w, bp);
#endif
}

struct hwy_kernel {
  static constexpr std::size_t MR = kMR;
  static constexpr std::size_t NR = kNV * kL;
  static void tile(std::size_t kc, const float* a, std::size_t a_rs, std::size_t a_ks,
                   std::size_t mr, const float* bp, std::size_t b_ks, float* c, std::size_t ldc,
                   std::size_t nr, float alpha, float beta) noexcept {
    const std::size_t mode = beta == 0.0f ? 0 : beta == 1.0f ? 1 : 2;
    kTiles[a_ks == 1][mode][mr - 1][(nr + kL - 1) / kL - 1](kc, a, a_rs, a_ks, bp, b_ks, c, ldc, nr,
                                                            alpha, beta);
  }
  static void pack_b(bool trans_b, const float* b, std::size_t ldb, std::size_t p0, std::size_t kc,
                     std::size_t j0, std::size_t w, float* bp) noexcept {
    pack_b_panel(trans_b, b, ldb, p0, kc, j0, w, bp);
  }
};

void gemm_impl(const gemm_problem& g, const gemm_b_source& src) {
  HWY_ALIGN float bpack[kGemmKcMax * kGemmPanel];
  gemm_blocked_run<hwy_kernel>(g, src, bpack);
}

void pack_b_impl(bool trans_b, std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                 float* out) {
  gemm_pack_b_all(trans_b, k, n, b, ldb, out, &pack_b_panel);
}

// ---------------------------------------------------------------------------------------------
// FMA peak and target name
// ---------------------------------------------------------------------------------------------

// As many independent FMA chains as the GEMM tile keeps (enough to cover FMA latency times
// throughput on every target), on registers only.
constexpr std::size_t kPeakChains = kMR * kNV;

float fma_peak_impl(std::size_t iterations) {
  const tag_f d;
  vec_f acc[kPeakChains];
  for (std::size_t i = 0; i < kPeakChains; ++i)
    acc[i] = hn::Set(d, 1.0f + static_cast<float>(i) * 1e-3f);
  const vec_f mul = hn::Set(d, 0.999999f), add = hn::Set(d, 1e-7f);
  for (std::size_t it = 0; it < iterations; ++it) {
    // Fully unrolled so the chains live in registers.
#pragma GCC unroll 32
    for (std::size_t i = 0; i < kPeakChains; ++i) acc[i] = hn::MulAdd(acc[i], mul, add);
  }
  vec_f s = acc[0];
  for (std::size_t i = 1; i < kPeakChains; ++i) s = hn::Add(s, acc[i]);
  return hn::GetLane(hn::SumOfLanes(d, s));
}

std::size_t fma_peak_flops_impl() { return kPeakChains * kL * 2; }

const char* target_name_impl() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace gpsa::detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace gpsa::detail {

HWY_EXPORT(exp_impl);
HWY_EXPORT(softmax_rows_impl);
HWY_EXPORT(exp_rows_impl);
HWY_EXPORT(gemm_impl);
HWY_EXPORT(pack_b_impl);
HWY_EXPORT(fma_peak_impl);
HWY_EXPORT(fma_peak_flops_impl);
HWY_EXPORT(target_name_impl);

void hwy_exp(const float* in, float* out, std::size_t n) noexcept {
  HWY_DYNAMIC_DISPATCH(exp_impl)(in, out, n);
}
void hwy_softmax_rows(float* x, std::size_t rows, std::size_t cols, std::size_t ld) noexcept {
  HWY_DYNAMIC_DISPATCH(softmax_rows_impl)(x, rows, cols, ld);
}
void hwy_exp_rows(float* x, std::size_t rows, std::size_t cols, std::size_t ld,
                  float* sums) noexcept {
  HWY_DYNAMIC_DISPATCH(exp_rows_impl)(x, rows, cols, ld, sums);
}
void hwy_gemm(const gemm_problem& g, const gemm_b_source& src) noexcept {
  HWY_DYNAMIC_DISPATCH(gemm_impl)(g, src);
}
void hwy_pack_b(bool trans_b, std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                float* out) noexcept {
  HWY_DYNAMIC_DISPATCH(pack_b_impl)(trans_b, k, n, b, ldb, out);
}
const char* hwy_target_name() noexcept { return HWY_DYNAMIC_DISPATCH(target_name_impl)(); }

namespace {
// The compiled targets this CPU supports, read once (before any test mock can change it). A
// namespace-scope atomic rather than a function-local static: the latter's thread-safe
// initialisation calls __cxa_guard_acquire from the C++ runtime, which a C program linking
// gpsa::core with the C compiler does not have. Racing first calls compute the same value.
std::atomic<std::int64_t> g_all_targets{0};  // 0: not read yet (the baseline target is always set)
std::int64_t all_targets() noexcept {
  std::int64_t mask = g_all_targets.load(std::memory_order_relaxed);
  if (mask == 0) {
    mask = hwy::SupportedTargets() & HWY_TARGETS;
    g_all_targets.store(mask, std::memory_order_relaxed);
  }
  return mask;
}
std::int64_t nth_target(std::size_t index) noexcept {
  std::int64_t m = all_targets();
  for (; m != 0; m &= m - 1, --index)
    if (index == 0) return m & -m;
  return 0;
}
}  // namespace

std::size_t simd_target_count() noexcept {
  std::size_t n = 0;
  for (std::int64_t m = all_targets(); m != 0; m &= m - 1) ++n;
  return n;
}
const char* simd_target_name(std::size_t index) noexcept {
  const std::int64_t t = nth_target(index);
  return t != 0 ? hwy::TargetName(t) : "";
}
void simd_target_select(std::size_t index) noexcept {
  (void)all_targets();
  hwy::SetSupportedTargetsForTest(nth_target(index));  // 0: back to the CPU's own choice
}
float fma_peak(std::size_t iterations) noexcept {
  return HWY_DYNAMIC_DISPATCH(fma_peak_impl)(iterations);
}
std::size_t fma_peak_flops_per_iteration() noexcept {
  return HWY_DYNAMIC_DISPATCH(fma_peak_flops_impl)();
}

}  // namespace gpsa::detail
#endif  // HWY_ONCE

#endif  // GPSA_HAVE_HWY
