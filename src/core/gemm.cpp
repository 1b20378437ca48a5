// SPDX-License-Identifier: MIT
// gemm over an executor's workers and with pre-packed op(B): the product split into rectangles
// of C, each computed by the serial driver (bit-identical by construction, gemm_blocked.hpp).
#include <algorithm>
#include <cstddef>
#include <span>

#include "fp_env.hpp"
#include "gemm_blocked.hpp"
#include "gpsa/core/linalg.hpp"
#include "gpsa/core/types.hpp"
#include "linalg_impl.hpp"

namespace gpsa {
namespace {

using detail::gemm_b_source;
using detail::gemm_problem;
using detail::kGemmPanel;

// Columns per unit of the split: 16 (small enough to balance two workers on 432 columns) when
// op(B) is packed on the fly, whole panels when it comes pre-packed.
constexpr std::size_t kColUnit = 16;
// Rows per unit when C is too narrow to split by columns (a multiple of every kernel's MR).
constexpr std::size_t kRowUnit = 8;
// Chunks per worker when more chunks cost nothing but a task each.
constexpr std::size_t kChunksPerWorker = 6;

struct split_job {
  gemm_problem g;
  gemm_b_source src;
  bool by_cols;
  std::size_t unit, units, chunks;
  detail::fp_mode mode{};  // the caller's, for every chunk

  // Chunk `index` of `chunks` near-equal runs of units.
  static void run(void* arg, std::size_t index, std::size_t /*worker*/) noexcept {
    const auto& j = *static_cast<const split_job*>(arg);
    const detail::fp_mode_scope mode(j.mode);
    const std::size_t u0 = j.units * index / j.chunks, u1 = j.units * (index + 1) / j.chunks;
    gemm_problem g = j.g;
    gemm_b_source src = j.src;
    if (j.by_cols) {
      const std::size_t c0 = u0 * j.unit, c1 = u1 * j.unit < g.n ? u1 * j.unit : g.n;
      if (src.packed != nullptr)
        src.panel0 += c0 / kGemmPanel;
      else
        g.b += g.trans_b ? c0 * g.ldb : c0;
      g.c += c0;
      g.n = c1 - c0;
      g.col0 += c0;
    } else {
      const std::size_t r0 = u0 * j.unit, r1 = u1 * j.unit < g.m ? u1 * j.unit : g.m;
      g.a += g.trans_a ? r0 : r0 * g.lda;
      g.c += r0 * g.ldc;
      g.m = r1 - r0;
      g.row0 += r0;
    }
    detail::gemm_run(g, src);
  }
};

constexpr std::size_t ceil_div(std::size_t a, std::size_t b) noexcept { return (a + b - 1) / b; }

}  // namespace

namespace detail {

void gemm_split(const gemm_problem& g, const gemm_b_source& src, const executor* ex) noexcept {
  const std::size_t workers = workers_of(ex);
  if (workers <= 1 || g.m == 0 || g.n == 0 || g.k == 0 || g.alpha == 0.0f) {
    detail::gemm_run(g, src);
    return;
  }
  const bool prepacked = src.packed != nullptr;
  const std::size_t col_unit = prepacked ? kGemmPanel : kColUnit;
  const std::size_t col_units = ceil_div(g.n, col_unit);
  const std::size_t row_units = ceil_div(g.m, kRowUnit);
  split_job job{g, src, true, col_unit, col_units, 0, detail::fp_mode{}};
  bool by_rows = col_units < workers && row_units > col_units;
  if (prepacked && !by_rows) {
    // With op(B) packed ahead, rows cost nothing extra (without, every row chunk would pack all
    // of op(B)): take the cut whose largest chunk is smaller, e.g. 196 rows of 432 columns (9
    // panels) over 2 workers as 104 + 92 rows rather than 5 + 4 panels.
    const std::size_t cols_max = std::min(g.n, ceil_div(col_units, workers) * col_unit) * g.m;
    const std::size_t rows_max = std::min(g.m, ceil_div(row_units, workers) * kRowUnit) * g.n;
    by_rows = rows_max < cols_max;
  }
  if (by_rows) {
    job.by_cols = false;
    job.unit = kRowUnit;
    job.units = row_units;
  }
  // Column chunks, and row chunks of a pre-packed op(B), cost no extra packing: cut finer than
  // the workers (kChunksPerWorker each, claimed dynamically) so a worker that wakes late or runs
  // slower does not leave the others waiting at the join.
  const std::size_t per_worker = job.by_cols || prepacked ? kChunksPerWorker : 1;
  job.chunks = std::min(job.units, workers * per_worker);
  if (job.chunks <= 1) {
    detail::gemm_run(g, src);
    return;
  }
  ex->parallel_for(ex->context, job.chunks, &split_job::run, &job);
}

}  // namespace detail

namespace detail {

void gemm_unchecked(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k,
                    float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb,
                    float beta, float* c, std::size_t ldc, const executor* ex) noexcept {
  gemm_split(gemm_problem{trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc}, {}, ex);
}

}  // namespace detail

namespace {

// The checks gemm and gemm_packed share: the executor, C, and (when A is read) A.
status check_gemm(bool trans_a, std::size_t m, std::size_t n, std::size_t k, float alpha,
                  const float* a, std::size_t lda, const float* c, std::size_t ldc,
                  const executor* ex) noexcept {
  if (const status s = validate(ex); s != status::ok) return s;
  if (m == 0 || n == 0) return status::ok;
  if (c == nullptr || ldc < n) return status::invalid_argument;
  if (k != 0 && alpha != 0.0f && (a == nullptr || lda < (trans_a ? m : k)))
    return status::invalid_argument;
  return status::ok;
}

}  // namespace

status gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
            const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
            std::size_t ldc, const executor* ex) noexcept {
  if (const status s = check_gemm(trans_a, m, n, k, alpha, a, lda, c, ldc, ex); s != status::ok)
    return s;
  if (m == 0 || n == 0) return status::ok;
  if (k != 0 && alpha != 0.0f && (b == nullptr || ldb < (trans_b ? k : n)))
    return status::invalid_argument;
  detail::gemm_unchecked(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ex);
  return status::ok;
}

status gemm_packed_b_size(std::size_t k, std::size_t n, std::size_t& floats) noexcept {
  const std::size_t panels = detail::gemm_panels(n);
  const std::size_t max = static_cast<std::size_t>(-1);
  if (panels != 0 && k > max / kGemmPanel / panels) return status::size_overflow;
  floats = k * kGemmPanel * panels;
  return status::ok;
}

status gemm_pack_b(bool trans_b, std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                   std::span<float> packed) noexcept {
  std::size_t need = 0;
  if (const status s = gemm_packed_b_size(k, n, need); s != status::ok) return s;
  if (need == 0) return status::ok;
  if (b == nullptr || packed.data() == nullptr) return status::invalid_argument;
  if (ldb < (trans_b ? k : n)) return status::invalid_argument;
  if (packed.size() < need) return status::buffer_too_small;
  detail::gemm_pack_b_run(trans_b, k, n, b, ldb, packed.data());
  return status::ok;
}

status gemm_packed(bool trans_a, std::size_t m, std::size_t n, std::size_t k, float alpha,
                   const float* a, std::size_t lda, std::span<const float> packed_b, float beta,
                   float* c, std::size_t ldc, const executor* ex) noexcept {
  if (const status s = check_gemm(trans_a, m, n, k, alpha, a, lda, c, ldc, ex); s != status::ok)
    return s;
  if (m == 0 || n == 0) return status::ok;
  std::size_t need = 0;
  if (const status s = gemm_packed_b_size(k, n, need); s != status::ok) return s;
  if (packed_b.size() < need) return status::buffer_too_small;
  if (need != 0 && packed_b.data() == nullptr) return status::invalid_argument;
  const gemm_problem g{trans_a, false, m, n, k, alpha, a, lda, nullptr, 0, beta, c, ldc};
  detail::gemm_split(g, gemm_b_source{packed_b.data(), detail::gemm_panels(n), 0}, ex);
  return status::ok;
}

}  // namespace gpsa
