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

// Columns per unit of the split when op(B) is packed on the fly: 16 (small enough to balance two
// workers on 432 columns).
constexpr std::size_t kColUnit = 16;
// Rows per unit when C is cut by rows (a multiple of every kernel's MR).
constexpr std::size_t kRowUnit = 8;
// Chunks per worker when more chunks cost nothing but a task each.
constexpr std::size_t kChunksPerWorker = 6;

constexpr std::size_t ceil_div(std::size_t a, std::size_t b) noexcept { return (a + b - 1) / b; }

// How one product is cut into chunks, each a rectangle of C computed by gemm_run:
//   cols:  `whole` column units (16 columns, or whole panels of a pre-packed op(B)) in `runs`
//          near-equal runs over all rows; then, for a pre-packed op(B) whose panels do not divide
//          evenly over the workers, each of the `rest` remaining panels in `pieces` row pieces
//          (so that every worker gets the same share and reads each weight panel once);
//   rows:  `whole` row units of 8 in `runs` near-equal runs over all columns (C narrower than
//          the worker count, op(B) packed on the fly).
struct cut {
  bool by_cols = true;
  std::size_t unit = 0, whole = 0, runs = 0, rest = 0, pieces = 0;
  std::size_t chunks() const noexcept { return runs + rest * pieces; }
};

cut plan_cut(const gemm_problem& g, const gemm_b_source& src, std::size_t workers) noexcept {
  cut c;
  if (src.packed != nullptr) {
    const std::size_t panels = detail::gemm_panels(g.n);
    const std::size_t row_units = ceil_div(g.m, kRowUnit);
    c.unit = kGemmPanel;
    c.rest = row_units >= workers ? panels % workers : 0;
    c.pieces = c.rest != 0 ? workers : 0;
    c.whole = panels - c.rest;
    c.runs = std::min(c.whole, workers * kChunksPerWorker);
    return c;
  }
  const std::size_t col_units = ceil_div(g.n, kColUnit), row_units = ceil_div(g.m, kRowUnit);
  if (col_units < workers && row_units > col_units) {
    // Narrow C: rows (each row chunk packs all of op(B) on its own).
    c.by_cols = false;
    c.unit = kRowUnit;
    c.whole = row_units;
    c.runs = std::min(row_units, workers);
    return c;
  }
  c.unit = kColUnit;
  c.whole = col_units;
  c.runs = std::min(col_units, workers * kChunksPerWorker);
  return c;
}

// Up to three products cut into chunks and run as one task set (one fork and join for all).
struct split_job {
  static constexpr std::size_t kMax = 3;
  gemm_problem g[kMax];
  gemm_b_source src[kMax];
  cut c[kMax];
  std::size_t first[kMax + 1] = {};  // chunk index of each product's first chunk
  std::size_t count = 0;
  detail::fp_mode mode{};  // the caller's, for every chunk

  // Rows [r0, r1) x units [u0, u1) of product p.
  void run_piece(std::size_t p, std::size_t r0, std::size_t r1, std::size_t u0,
                 std::size_t u1) const noexcept {
    gemm_problem q = g[p];
    gemm_b_source s = src[p];
    const cut& k = c[p];
    if (k.by_cols) {
      const std::size_t c0 = u0 * k.unit, c1 = std::min(u1 * k.unit, q.n);
      if (s.packed != nullptr)
        s.panel0 += c0 / kGemmPanel;
      else
        q.b += q.trans_b ? c0 * q.ldb : c0;
      q.c += c0;
      q.n = c1 - c0;
      q.col0 += c0;
    }
    q.a += q.trans_a ? r0 : r0 * q.lda;
    q.c += r0 * q.ldc;
    q.m = r1 - r0;
    q.row0 += r0;
    detail::gemm_run(q, s);
  }

  static void run(void* arg, std::size_t index, std::size_t /*worker*/) noexcept {
    const auto& j = *static_cast<const split_job*>(arg);
    const detail::fp_mode_scope mode(j.mode);
    std::size_t p = 0;
    while (index >= j.first[p + 1]) ++p;
    const std::size_t q = index - j.first[p];
    const cut& k = j.c[p];
    const std::size_t m = j.g[p].m;
    if (q < k.runs) {
      const std::size_t u0 = k.whole * q / k.runs, u1 = k.whole * (q + 1) / k.runs;
      if (k.by_cols) {
        j.run_piece(p, 0, m, u0, u1);
      } else {
        j.run_piece(p, u0 * k.unit, std::min(u1 * k.unit, m), 0, 1);
      }
      return;
    }
    // A row piece of one of the remaining panels.
    const std::size_t r = q - k.runs, panel = k.whole + r / k.pieces, piece = r % k.pieces;
    const std::size_t units = ceil_div(m, kRowUnit);
    const std::size_t r0 = std::min(m, units * piece / k.pieces * kRowUnit);
    const std::size_t r1 = std::min(m, units * (piece + 1) / k.pieces * kRowUnit);
    if (r0 < r1) j.run_piece(p, r0, r1, panel, panel + 1);
  }
};

}  // namespace

namespace detail {

void gemm_split_many(const gemm_problem* g, const gemm_b_source* src, std::size_t count,
                     const executor* ex) noexcept {
  const std::size_t workers = workers_of(ex);
  split_job job;
  std::size_t chunks = 0;
  for (std::size_t p = 0; p < count; ++p) {
    const gemm_problem& q = g[p];
    if (workers <= 1 || q.m == 0 || q.n == 0 || q.k == 0 || q.alpha == 0.0f) {
      detail::gemm_run(q, src[p]);  // nothing to split: here, now
      continue;
    }
    const std::size_t i = job.count++;
    job.g[i] = q;
    job.src[i] = src[p];
    job.c[i] = plan_cut(q, src[p], workers);
    job.first[i] = chunks;
    chunks += job.c[i].chunks();
    job.first[i + 1] = chunks;
  }
  if (chunks == 0) return;
  if (chunks == 1) {
    split_job::run(&job, 0, 0);
    return;
  }
  ex->parallel_for(ex->context, chunks, &split_job::run, &job);
}

void gemm_split(const gemm_problem& g, const gemm_b_source& src, const executor* ex) noexcept {
  gemm_split_many(&g, &src, 1, ex);
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
