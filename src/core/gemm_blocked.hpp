// Private: the cache-blocked GEMM driver shared by the scalar and the Highway tile kernels.
#pragma once

#include <cstddef>

namespace gpsa::detail {

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
};

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

// c[r][j] = alpha * acc[r][j] + beta * c[r][j] for an mr x nr corner of a tile (acc row stride
// nr_stride); beta == 0 never reads C, beta == 1 skips the multiply.
inline void gemm_update_c(const float* acc, std::size_t nr_stride, float* c, std::size_t ldc,
                          std::size_t mr, std::size_t nr, float alpha, float beta) noexcept {
  for (std::size_t r = 0; r < mr; ++r) {
    float* cr = c + r * ldc;
    const float* o = acc + r * nr_stride;
    if (beta == 0.0f) {
      for (std::size_t j = 0; j < nr; ++j) cr[j] = alpha * o[j];
    } else if (beta == 1.0f) {
      for (std::size_t j = 0; j < nr; ++j) cr[j] += alpha * o[j];
    } else {
      for (std::size_t j = 0; j < nr; ++j) cr[j] = alpha * o[j] + beta * cr[j];
    }
  }
}

// Loop nest: K in blocks of KC, M in blocks of MC rows (the MC x KC block of A stays in L2 while
// every NR-wide panel of op(B) sweeps over it; a large batch would otherwise stream A from L3 once
// per panel), N in NR-wide panels (the KC x NR panel and an MR x KC sliver of A stay in L1), M in
// MR-row tiles.
// Kernel provides MR, NR and
//   tile(kc, a_rows[MR], a_kstride, b_panel, b_kstride, c, ldc, mr, nr, alpha, beta):
//   acc[r][j] = sum_p a_rows[r][p * a_kstride] * b_panel[p * b_kstride + j], then the mr x nr
//   corner of C gets alpha * acc + beta * C (gemm_update_c's rules).
// beta applies on the first K block only (1 afterwards), so C is read and written once per block
// and never read when beta == 0.
// op(B) panels are read in place when B is not transposed and the panel is full width; otherwise
// they are packed (zero-padded) into `bpack` (KC * NR floats, caller's stack). No heap.
template <class Kernel, std::size_t KC>
void gemm_blocked_run(const gemm_problem& g, float* bpack) noexcept {
  constexpr std::size_t MR = Kernel::MR;
  constexpr std::size_t NR = Kernel::NR;
  constexpr std::size_t MC = 32 * MR;  // 256 rows x KC 128 floats = 128 KB with MR = 8
  if (g.m == 0 || g.n == 0) return;
  if (g.k == 0 || g.alpha == 0.0f) {
    gemm_scale_c(g.m, g.n, g.beta, g.c, g.ldc);
    return;
  }

  const float* a_rows[MR];
  const std::size_t a_ks = g.trans_a ? g.lda : 1;
  for (std::size_t pc = 0; pc < g.k; pc += KC) {
    const std::size_t kc = g.k - pc < KC ? g.k - pc : KC;
    const float beta = pc == 0 ? g.beta : 1.0f;
    for (std::size_t i0 = 0; i0 < g.m; i0 += MC) {
      const std::size_t i1 = g.m - i0 < MC ? g.m : i0 + MC;
      for (std::size_t jc = 0; jc < g.n; jc += NR) {
        const std::size_t nr = g.n - jc < NR ? g.n - jc : NR;
        const float* bp;
        std::size_t b_ks;
        if (!g.trans_b && nr == NR) {
          bp = g.b + pc * g.ldb + jc;
          b_ks = g.ldb;
        } else {
          for (std::size_t p = 0; p < kc; ++p) {
            float* dst = bpack + p * NR;
            std::size_t j = 0;
            if (g.trans_b) {
              for (; j < nr; ++j) dst[j] = g.b[(jc + j) * g.ldb + pc + p];
            } else {
              for (; j < nr; ++j) dst[j] = g.b[(pc + p) * g.ldb + jc + j];
            }
            for (; j < NR; ++j) dst[j] = 0.0f;
          }
          bp = bpack;
          b_ks = NR;
        }
        for (std::size_t ic = i0; ic < i1; ic += MR) {
          const std::size_t mr = i1 - ic < MR ? i1 - ic : MR;
          // Rows past the edge repeat the last real row: computed, never stored.
          for (std::size_t r = 0; r < MR; ++r) {
            const std::size_t i = ic + (r < mr ? r : mr - 1);
            a_rows[r] = g.trans_a ? g.a + pc * g.lda + i : g.a + i * g.lda + pc;
          }
          Kernel::tile(kc, a_rows, a_ks, bp, b_ks, g.c + ic * g.ldc + jc, g.ldc, mr, nr, g.alpha,
                       beta);
        }
      }
    }
  }
}

}  // namespace gpsa::detail
