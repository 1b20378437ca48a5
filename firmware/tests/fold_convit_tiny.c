/* SPDX-License-Identifier: MIT */
/* Firmware image: a folded GPSA layer (the golden ConViT-Ti-shaped case, 14x14, 4 heads) on the
 * Cortex-M4, through the C API.
 *
 * Three folds of the same pos_proj / gating_param, compared bit for bit:
 *   - gpsa_layer_fold at run time on the target (soft-float double inside, as the fold computes in
 * double);
 *   - gpsa::layer_fold evaluated by the cross compiler (fold_convit_tiny_constexpr.cpp, .rodata);
 *   - the header `gpsa fold --format c` wrote on the host (golden/convit_tiny_fold.h, .rodata).
 * Then the positional attention rows, expanded from the header's factors with
 * gpsa_positional_expand, against softmax(P) in float64 computed two independent ways: by
 * golden_headers.py on the host (selected rows) and by this image from the formula with newlib's
 * double exp (every row); bound |err| <= 2.5e-7 * ref + 1e-44 (docs/firmware.md, Accuracy).
 * Finally gpsa_gated_blend_rows of those factors with a float64 content attention against PyTorch's
 * attention rows (attn.npy), within the golden attention tolerance. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "convit_tiny_golden.h"
#include "fw_check.h"
#include "gpsa/gpsa.h"

/* after gpsa.h: then it also defines the gpsa_folded_view views convit_tiny_fold_layers[] */
#include "convit_tiny_fold.h"

enum {
  H = CONVIT_TINY_HEADS,
  S = CONVIT_TINY_GRID,
  N = CONVIT_TINY_PATCHES,
  ROWS = CONVIT_TINY_ROWS
};

extern const gpsa_folded_view convit_tiny_constexpr_fold;

static float fx[H * S * S], gy[H * S * S], lambda[H]; /* the run-time fold (RAM) */
static float dense[N * N];                            /* one head's softmax(P) */
static float blended[N];

static size_t bit_mismatches(const float* a, const float* b, size_t n) {
  size_t bad = 0, i;
  for (i = 0; i < n; ++i) {
    uint32_t x, y;
    memcpy(&x, &a[i], sizeof x);
    memcpy(&y, &b[i], sizeof y);
    bad += x != y;
  }
  return bad;
}

static size_t fold_mismatches(const gpsa_folded_view* a, const gpsa_folded_view* b) {
  return bit_mismatches(a->fx, b->fx, H * S * S) + bit_mismatches(a->gy, b->gy, H * S * S) +
         bit_mismatches(a->lambda, b->lambda, H);
}

/* Worst |got - ref| / (2.5e-7 * ref + 1e-44) over a row, and the worst absolute error. */
static void row_errors(const float* got, const double* ref, double* worst_scaled,
                       double* worst_abs) {
  int q;
  for (q = 0; q < N; ++q) {
    const double err = fabs((double)got[q] - ref[q]);
    const double scaled = err / (2.5e-7 * ref[q] + 1e-44);
    if (!(scaled <= *worst_scaled)) *worst_scaled = scaled; /* NaN propagates */
    if (!(err <= *worst_abs)) *worst_abs = err;
  }
}

/* softmax over q of W0*dx + W1*dy + W2*(dx^2+dy^2) + b for query p, in double (the definition). */
static void position_f64(int h, int p, double* out) {
  const float* w = convit_tiny_pos_weight + 3 * h;
  const int yp = p / S, xp = p % S;
  double m = -HUGE_VAL, sum = 0.0;
  int q;
  for (q = 0; q < N; ++q) {
    const int dx = q % S - xp, dy = q / S - yp;
    out[q] = (double)w[0] * dx + (double)w[1] * dy + (double)w[2] * (dx * dx + dy * dy) +
             (double)convit_tiny_pos_bias[h];
    if (out[q] > m) m = out[q];
  }
  for (q = 0; q < N; ++q) sum += out[q] = exp(out[q] - m);
  for (q = 0; q < N; ++q) out[q] /= sum;
}

int main(void) {
  static double ref[N];
  const gpsa_folded_view runtime_fold = {H, S, S, fx, gy, lambda};
  const gpsa_folded_view* header_fold = &convit_tiny_fold_layers[0];
  double scaled_sel = 0, abs_sel = 0, scaled_all = 0, abs_all = 0, blend_err = 0;
  size_t fx_len = 0, gy_len = 0, lambda_len = 0;
  int h, r, p;

  fw_check_true("gpsa_layer_folded_size",
                gpsa_layer_folded_size(S, S, H, &fx_len, &gy_len, &lambda_len) == GPSA_OK &&
                    fx_len == H * S * S && gy_len == H * S * S && lambda_len == H);
  fw_check_true("header shape (CONVIT_TINY_FOLD_*)", CONVIT_TINY_FOLD_HEADS == H &&
                                                         CONVIT_TINY_FOLD_ROWS == S &&
                                                         CONVIT_TINY_FOLD_COLS == S);
  fw_check_true(
      "gpsa_layer_fold at run time",
      gpsa_layer_fold(S, S, H, convit_tiny_pos_weight, convit_tiny_pos_bias, convit_tiny_gating, fx,
                      fx_len, gy, gy_len, lambda, lambda_len) == GPSA_OK);
  fw_check_bits("run-time fold == `gpsa fold` header (host)",
                fold_mismatches(&runtime_fold, header_fold), H * (2 * S * S + 1));
  fw_check_bits("run-time fold == constexpr fold (cross compiler)",
                fold_mismatches(&runtime_fold, &convit_tiny_constexpr_fold), H * (2 * S * S + 1));

  for (h = 0; h < H; ++h) {
    if (gpsa_positional_expand(header_fold, (size_t)h, dense, N * N) != GPSA_OK) {
      fw_check_true("gpsa_positional_expand", 0);
      continue;
    }
    for (r = 0; r < ROWS; ++r) /* rows computed on the host in float64 */
      row_errors(dense + convit_tiny_query_rows[r] * N, convit_tiny_position_f64[h][r], &scaled_sel,
                 &abs_sel);
    for (p = 0; p < N; ++p) { /* every row, float64 on the target */
      position_f64(h, p, ref);
      row_errors(dense + p * N, ref, &scaled_all, &abs_all);
    }
    for (r = 0; r < ROWS; ++r) {
      const int q0 = convit_tiny_query_rows[r];
      int q;
      if (gpsa_gated_blend_rows(header_fold, (size_t)h, (size_t)q0, 1, convit_tiny_content[h][r], N,
                                blended, N) != GPSA_OK) {
        fw_check_true("gpsa_gated_blend_rows", 0);
        continue;
      }
      for (q = 0; q < N; ++q) {
        const double err = fabs((double)blended[q] - (double)convit_tiny_attn[h][r][q]);
        if (!(err <= blend_err)) blend_err = err;
      }
    }
  }
  printf("positional rows vs float64 from the host script (%d rows x %d heads): max abs err %.3g\n",
         ROWS, H, abs_sel);
  fw_check_err("  max |err| / (2.5e-7 ref + 1e-44)", scaled_sel, 1.0);
  printf("positional rows vs float64 on the target (all %d rows x %d heads): max abs err %.3g\n", N,
         H, abs_all);
  fw_check_err("  max |err| / (2.5e-7 ref + 1e-44)", scaled_all, 1.0);
  fw_check_err("gated blend vs PyTorch attn.npy rows (content in float64): max abs err", blend_err,
               CONVIT_TINY_ATTN_TOL);
  return fw_finish("fold_convit_tiny");
}
