// SPDX-License-Identifier: MIT
// Private: the cache-blocked GEMM driver shared by the portable and the Highway tile kernels.
//
// Determinism by construction: every element of C is
//   acc = 0; for p in one K block (in order): acc = acc + a(i,p) * b(p,j)   (one FMA per step
//   where the kernel has FMA, else multiply then add);
//   C = alpha * acc (first block, beta == 0) or alpha * acc + beta * C (later blocks: beta = 1).
// The K blocks depend on k alone (gemm_kc), never on m, n, the tiling, the SIMD width or the
// thread split; edge tiles run the same arithmetic as full ones (zero-padded B, clamped A rows,
// the C update through the same code). So C is bit-identical whichever rectangle of C a call or
// a worker computes, and, between targets with the same FMA behaviour (AVX2 and AVX-512),
// whichever target runs.
#pragma once

#include <cstddef>

#include "gpsa/core/types.hpp"

namespace gpsa::detail {

// Work done on each finished rectangle of C (after its last K block, while it is still in cache):
// apply(ctx, c, ldc, row0, rows, col0, cols) gets the rectangle at c and its origin in the whole
// product's C (so a split product reports the same coordinates). Element-wise work (a bias, an
// activation) keeps the bits independent of how C is cut.
struct gemm_epilogue {
  void (*apply)(const void* ctx, float* c, std::size_t ldc, std::size_t row0, std::size_t rows,
                std::size_t col0, std::size_t cols) noexcept = nullptr;
  const void* ctx = nullptr;
};

struct gemm_problem {
  bool trans_a, trans_b;
  std::size_t m, n, k;
  float alpha;
  const float* a;
  std::size_t lda;
  const float* b;
  std::size_t ldb;
  float beta;
  float* c;
  std::size_t ldc;
  const gemm_epilogue* epilogue = nullptr;  // optional
  std::size_t row0 = 0, col0 = 0;           // where this C starts in the epilogue's coordinates
};

// Floats in the widest vector the compile flags allow (the plain C++ kernel's unit; a plain
// scalar FPU gets 2).
#if defined(__AVX512F__)
inline constexpr std::size_t kGemmVecFloats = 16;
#elif defined(__AVX__)
inline constexpr std::size_t kGemmVecFloats = 8;
#elif defined(__SSE2__) || defined(__ARM_NEON) || defined(__ALTIVEC__)
inline constexpr std::size_t kGemmVecFloats = 4;
#else
inline constexpr std::size_t kGemmVecFloats = 2;
#endif

#if defined(GPSA_HAVE_HWY)
// Columns of one packed op(B) panel: a multiple of every kernel width (3 vectors of 16, 8 or 4
// floats; the plain C++ kernel's 3 x kGemmVecFloats), and a divisor of every ConViT width
// (192, 432, 768, 4 D) and of the head width (48).
inline constexpr std::size_t kGemmPanel = 48;
// Longest K block: a kc x 48 panel of B (36 KB at 192, ConViT-Ti's D in one block) is read once
// per 8-row tile and stays in a 48 KB L1 next to the A rows it meets.
inline constexpr std::size_t kGemmKcMax = 192;
#else
// The portable (firmware) build: a panel is one tile of the plain C++ kernel wide and K blocks
// are 128 long, so the packed panel on the stack is small (3 KB on a scalar FPU).
inline constexpr std::size_t kGemmPanel = 3 * kGemmVecFloats;
inline constexpr std::size_t kGemmKcMax = 128;
#endif
// Rows of A per M block (the B panels are packed once per block; A is read in place).
inline constexpr std::size_t kGemmMcMax = 256;

// Hints the cache to fetch [p, p + bytes) soon (into L2): the next panel's source rows, spread
// over the current panel's tiles, so packing it later does not wait on L3 or memory.
inline void gemm_prefetch(const float* p, std::size_t bytes) noexcept {
#if defined(__GNUC__)
  const char* c = reinterpret_cast<const char*>(p);
  for (std::size_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off, 0, 2);
#else
  (void)p;
  (void)bytes;
#endif
}

// The K block length for a product with inner dimension k: k split in equal blocks of at most
// kGemmKcMax (the last one shorter). A function of k only: this fixes every sum's order.
constexpr std::size_t gemm_kc(std::size_t k) noexcept {
  const std::size_t blocks = (k + kGemmKcMax - 1) / kGemmKcMax;
  return blocks == 0 ? 0 : (k + blocks - 1) / blocks;
}

// Longest span (in floats) of a B panel read in place: 16 pages.
inline constexpr std::size_t kGemmInPlaceSpan = 16384;

constexpr std::size_t gemm_panels(std::size_t n) noexcept {
  return (n + kGemmPanel - 1) / kGemmPanel;
}

// C = beta * C, with beta == 0 writing zeros (so NaN/Inf in the old C never propagate).
inline void gemm_scale_c(std::size_t m, std::size_t n, float beta, float* c,
                         std::size_t ldc) noexcept {
  if (beta == 1.0f) return;
  for (std::size_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    if (beta == 0.0f) {
      for (std::size_t j = 0; j < n; ++j) ci[j] = 0.0f;
    } else {
      for (std::size_t j = 0; j < n; ++j) ci[j] *= beta;
    }
  }
}

// op(B) rows [p0, p0 + kc), columns [j0, j0 + w) into a kc x kGemmPanel panel, zero-padded to the
// panel width. The portable version; kernels may provide faster ones.
inline void gemm_pack_b_panel_scalar(bool trans_b, const float* b, std::size_t ldb, std::size_t p0,
                                     std::size_t kc, std::size_t j0, std::size_t w,
                                     float* bp) noexcept {
  for (std::size_t p = 0; p < kc; ++p) {
    float* dst = bp + p * kGemmPanel;
    std::size_t j = 0;
    if (trans_b) {
      for (; j < w; ++j) dst[j] = b[(j0 + j) * ldb + p0 + p];
    } else {
      const float* src = b + (p0 + p) * ldb + j0;
      for (; j < w; ++j) dst[j] = src[j];
    }
    for (; j < kGemmPanel; ++j) dst[j] = 0.0f;
  }
}

// Where a product's op(B) panels come from: packed on the fly from b, or a gemm_pack_b layout
// (K blocks of gemm_kc(k) rows, each `panels` panels of kc x kGemmPanel floats) whose panel
// `panel0` holds column 0 of this call.
struct gemm_b_source {
  const float* packed = nullptr;
  std::size_t panels = 0;
  std::size_t panel0 = 0;
};

// Kernel provides
//   MR, NR (NR divides kGemmPanel);
//   tile(kc, a, a_rs, a_ks, mr, bp, b_ks, c, ldc, nr, alpha, beta): for r < mr, j < nr,
//     acc[r][j] = sum_p a[r * a_rs + p * a_ks] * bp[p * b_ks + j] (FMA chain in p order), then
//     C[r][j] = alpha * acc (beta == 0) or alpha * acc + beta * C; bp holds NR readable columns;
//   pack_b(trans_b, b, ldb, p0, kc, j0, w, bp): like gemm_pack_b_panel_scalar.
// op(B) panels are read in place when B is not transposed, the panel is full (its rows are
// contiguous) and its rows span at most kGemmInPlaceSpan floats (beyond, strided rows cost TLB
// misses on every tile), else packed into bpack (kGemmKcMax * kGemmPanel floats; unused when B
// comes pre-packed). op(A) is always read in place.
template <class Kernel>
void gemm_blocked_run(const gemm_problem& g, const gemm_b_source& src, float* bpack) noexcept {
  constexpr std::size_t MR = Kernel::MR;
  constexpr std::size_t NR = Kernel::NR;
  static_assert(kGemmPanel % NR == 0, "a kernel's width must divide the panel width");
  if (g.m == 0 || g.n == 0) return;
  if (g.k == 0 || g.alpha == 0.0f) {
    gemm_scale_c(g.m, g.n, g.beta, g.c, g.ldc);
    if (g.epilogue != nullptr)
      g.epilogue->apply(g.epilogue->ctx, g.c, g.ldc, g.row0, g.m, g.col0, g.n);
    return;
  }
  const std::size_t kc0 = gemm_kc(g.k);
  // M blocks of equal size (rounded up to whole tiles), at most kGemmMcMax rows.
  const std::size_t m_blocks = (g.m + kGemmMcMax - 1) / kGemmMcMax;
  std::size_t mc = (g.m + m_blocks - 1) / m_blocks;
  mc = (mc + MR - 1) / MR * MR;
  const std::size_t a_rs = g.trans_a ? 1 : g.lda, a_ks = g.trans_a ? g.lda : 1;
  for (std::size_t p0 = 0; p0 < g.k; p0 += kc0) {
    const std::size_t kc = g.k - p0 < kc0 ? g.k - p0 : kc0;
    const float beta = p0 == 0 ? g.beta : 1.0f;
    const bool last_block = p0 + kc == g.k;
    const float* a_block = g.a + p0 * a_ks;
    for (std::size_t i0 = 0; i0 < g.m; i0 += mc) {
      const std::size_t i1 = g.m - i0 < mc ? g.m : i0 + mc;
      for (std::size_t j0 = 0; j0 < g.n; j0 += kGemmPanel) {
        const std::size_t w = g.n - j0 < kGemmPanel ? g.n - j0 : kGemmPanel;
        const float* bp;
        std::size_t b_ks = kGemmPanel;
        if (src.packed != nullptr) {
          bp = src.packed + p0 * src.panels * kGemmPanel +
               (src.panel0 + j0 / kGemmPanel) * kc * kGemmPanel;
        } else if (!g.trans_b && w == kGemmPanel && kc * g.ldb <= kGemmInPlaceSpan) {
          bp = g.b + p0 * g.ldb + j0;
          b_ks = g.ldb;
        } else {
          Kernel::pack_b(g.trans_b, g.b, g.ldb, p0, kc, j0, w, bpack);
          bp = bpack;
        }
        // The source of the next panel that will be packed: its rows (B rows for trans_b, K
        // rows otherwise), prefetched a few per tile. (A pre-packed op(B) is read as one
        // sequential stream: the hardware prefetcher does better there than prefetch
        // instructions, measured on BM_Model.)
        const std::size_t jn = j0 + kGemmPanel;
        const bool prefetch = src.packed == nullptr && jn < g.n && (g.trans_b || bp == bpack);
        const std::size_t wn = g.n - jn < kGemmPanel ? g.n - jn : kGemmPanel;
        const std::size_t src_rows = g.trans_b ? wn : kc;
        const std::size_t row_bytes = (g.trans_b ? kc : wn) * sizeof(float);
        const std::size_t tiles = (w + NR - 1) / NR * ((i1 - i0 + MR - 1) / MR);
        const std::size_t per_tile = (src_rows + tiles - 1) / tiles;
        std::size_t next_row = 0;
        for (std::size_t s = 0; s < w; s += NR) {
          const std::size_t nr = w - s < NR ? w - s : NR;
          for (std::size_t ic = i0; ic < i1; ic += MR) {
            const std::size_t mr = i1 - ic < MR ? i1 - ic : MR;
            if (prefetch)
              for (std::size_t r = 0; r < per_tile && next_row < src_rows; ++r, ++next_row)
                gemm_prefetch(g.trans_b ? g.b + (jn + next_row) * g.ldb + p0
                                        : g.b + (p0 + next_row) * g.ldb + jn,
                              row_bytes);
            Kernel::tile(kc, a_block + ic * a_rs, a_rs, a_ks, mr, bp + s, b_ks,
                         g.c + ic * g.ldc + j0 + s, g.ldc, nr, g.alpha, beta);
          }
        }
        if (last_block && g.epilogue != nullptr)
          g.epilogue->apply(g.epilogue->ctx, g.c + i0 * g.ldc + j0, g.ldc, g.row0 + i0, i1 - i0,
                            g.col0 + j0, w);
      }
    }
  }
}

// linalg.cpp: the product on the dispatched kernels (Highway, else the portable one), the
// portable one alone, and the gemm_pack_b layout on the dispatched packing.
void gemm_run(const gemm_problem& g, const gemm_b_source& src) noexcept;
void gemm_run_scalar(const gemm_problem& g, const gemm_b_source& src) noexcept;
void gemm_pack_b_run(bool trans_b, std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                     float* out) noexcept;
// gemm.cpp: the product with C cut over ex's workers (null or one worker: gemm_run): in column
// units of 16 (B packed on the fly; rows of 8 when C is narrower than the workers), or in whole
// panels of a pre-packed op(B), the panels that do not divide evenly over the workers cut in
// one row piece per worker (each worker reads each weight panel once and gets the same share).
// Each piece is gemm_run on a rectangle of C, so the bits do not depend on the cut.
void gemm_split(const gemm_problem& g, const gemm_b_source& src, const executor* ex) noexcept;
// Up to three products split as above in one task set (one fork and join for all of them).
void gemm_split_many(const gemm_problem* g, const gemm_b_source* src, std::size_t count,
                     const executor* ex) noexcept;

// The gemm_pack_b layout for op(B) (k x n): every K block, every panel, zero-padded.
template <class PackPanel>
void gemm_pack_b_all(bool trans_b, std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                     float* out, PackPanel pack) noexcept {
  const std::size_t kc0 = gemm_kc(k), panels = gemm_panels(n);
  for (std::size_t p0 = 0; p0 < k; p0 += kc0) {
    const std::size_t kc = k - p0 < kc0 ? k - p0 : kc0;
    for (std::size_t jp = 0; jp < panels; ++jp) {
      const std::size_t j0 = jp * kGemmPanel;
      const std::size_t w = n - j0 < kGemmPanel ? n - j0 : kGemmPanel;
      pack(trans_b, b, ldb, p0, kc, j0, w, out + p0 * panels * kGemmPanel + jp * kc * kGemmPanel);
    }
  }
}

}  // namespace gpsa::detail
