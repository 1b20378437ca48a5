/* SPDX-License-Identifier: MIT */
/* The C API (gpsa/gpsa.h), exercised from C99: every result is compared with an independent
 * computation in double written here, from the formulas of docs/DESIGN.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c_test_util.h"
#include "gpsa/gpsa.h"

/* Deterministic pseudo-random floats in [lo, hi) (a 32-bit LCG; quality is not the point). */
static unsigned long lcg_state = 12345u;
static float uniform(float lo, float hi) {
  lcg_state = (lcg_state * 1103515245u + 12345u) & 0xffffffffu;
  return lo + (hi - lo) * (float)((lcg_state >> 8) & 0xffffff) / 16777216.0f;
}

/* softmax_q of the positional logits of head weights w3, grid R x C, dense, in double. */
static void dense_position(size_t R, size_t C, const float* w3, double bias, double* out) {
  size_t N = R * C, p, q;
  for (p = 0; p < N; ++p) {
    double m = -HUGE_VAL, s = 0.0;
    for (q = 0; q < N; ++q) {
      double dx = (double)(q % C) - (double)(p % C), dy = (double)(q / C) - (double)(p / C);
      double l = w3[0] * dx + w3[1] * dy + w3[2] * (dx * dx + dy * dy) + bias;
      out[p * N + q] = l;
      if (l > m) m = l;
    }
    for (q = 0; q < N; ++q) s += (out[p * N + q] = exp(out[p * N + q] - m));
    for (q = 0; q < N; ++q) out[p * N + q] /= s;
  }
}

static void test_rel_indices(void) {
  size_t R = 3, C = 4, N = 12, p, q;
  float* t = malloc(N * N * 3 * sizeof(float));
  CHECK(gpsa_rel_indices_f32(R, C, t, N * N * 3) == GPSA_OK);
  for (p = 0; p < N; ++p)
    for (q = 0; q < N; ++q) {
      long dx = (long)(q % C) - (long)(p % C), dy = (long)(q / C) - (long)(p / C);
      const float* e = t + (p * N + q) * 3;
      CHECK(e[0] == (float)dx && e[1] == (float)dy && e[2] == (float)(dx * dx + dy * dy));
    }
  CHECK(gpsa_rel_indices_f32(R, C, t, N * N * 3 - 1) == GPSA_BUFFER_TOO_SMALL);
  CHECK(gpsa_rel_indices_f32(0, C, t, N * N * 3) == GPSA_EMPTY_GRID);
  CHECK(gpsa_rel_indices_f32(R, C, NULL, 10) == GPSA_INVALID_ARGUMENT);
  free(t);
}

static void test_fold_and_expand(void) {
  enum { H = 5, R = 4, C = 6, N = R * C };
  float w[H * 3], b[H], g[H], fx[H * C * C], gy[H * R * R], lam[H], dense[N * N];
  double ref[N * N];
  size_t fx_len = 0, gy_len = 0, lam_len = 0, h, i;
  gpsa_folded f;
  for (h = 0; h < H; ++h) {
    w[3 * h] = uniform(-3, 3);
    w[3 * h + 1] = uniform(-3, 3);
    w[3 * h + 2] = h == 4 ? -30.0f : uniform(-3, 0.5f);
    b[h] = uniform(-1, 1);
    g[h] = uniform(-8, 8);
  }
  g[0] = 100.0f; /* lambda must stay exact at the extremes */
  g[1] = -100.0f;
  CHECK(gpsa_fold_size(H, R, C, &fx_len, &gy_len, &lam_len) == GPSA_OK);
  CHECK(fx_len == H * C * C && gy_len == H * R * R && lam_len == H);
  CHECK(gpsa_fold_size(0, R, C, NULL, NULL, NULL) == GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_fold(H, R, C, w, b, g, fx, fx_len, gy, gy_len, lam, lam_len) == GPSA_OK);

  f.heads = H;
  f.rows = R;
  f.cols = C;
  f.fx = fx;
  f.gy = gy;
  f.lambda = lam;
  for (h = 0; h < H; ++h) {
    double sig = g[h] >= 0 ? 1.0 / (1.0 + exp(-g[h])) : exp(g[h]) / (1.0 + exp(g[h]));
    CHECK(gpsa_positional_expand(&f, h, dense, N * N) == GPSA_OK);
    dense_position(R, C, &w[3 * h], b[h], ref);
    for (i = 0; i < N * N; ++i) CHECK(fabs(dense[i] - ref[i]) <= 2.5e-7 * ref[i] + 1e-44);
    CHECK(fabs(lam[h] - sig) <= 6e-8 * sig + 1e-45); /* subnormal for g = -100 */
  }
  CHECK(lam[0] == 1.0f);
  CHECK(lam[1] > 0.0f && lam[1] < 1e-43f);

  /* the bias cancels: folding without it gives the same bits */
  {
    float fx2[H * C * C], gy2[H * R * R], lam2[H];
    CHECK(gpsa_fold(H, R, C, w, NULL, g, fx2, fx_len, gy2, gy_len, lam2, lam_len) == GPSA_OK);
    CHECK(memcmp(fx, fx2, sizeof fx) == 0 && memcmp(gy, gy2, sizeof gy) == 0);
  }
  /* errors */
  CHECK(gpsa_fold(H, R, C, w, b, g, fx, fx_len - 1, gy, gy_len, lam, lam_len) ==
        GPSA_BUFFER_TOO_SMALL);
  CHECK(gpsa_fold(H, 0, C, w, b, g, fx, fx_len, gy, gy_len, lam, lam_len) == GPSA_EMPTY_GRID);
  CHECK(gpsa_fold(H, R, C, NULL, b, g, fx, fx_len, gy, gy_len, lam, lam_len) ==
        GPSA_INVALID_ARGUMENT);
  w[2] = (float)NAN;
  CHECK(gpsa_fold(H, R, C, w, b, g, fx, fx_len, gy, gy_len, lam, lam_len) == GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_positional_expand(&f, H, dense, N * N) == GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_positional_expand(&f, 0, dense, N * N - 1) == GPSA_BUFFER_TOO_SMALL);
  CHECK(gpsa_positional_expand(NULL, 0, dense, N * N) == GPSA_INVALID_ARGUMENT);
}

static void test_apply_and_blend(void) {
  enum { H = 3, R = 5, C = 7, N = R * C, D = 8, LD = H * D + 2 };
  float w[H * 3], g[H], fx[H * C * C], gy[H * R * R], lam[H];
  static float v[N * LD], out[N * LD], content[N * N], blended[N * N];
  static double ref[N * N];
  float* scratch;
  size_t scratch_len = gpsa_positional_apply_scratch(R, C, D), h, i, j, k;
  gpsa_folded f;
  for (h = 0; h < H; ++h) {
    w[3 * h] = uniform(-2, 2);
    w[3 * h + 1] = uniform(-2, 2);
    w[3 * h + 2] = uniform(-2, 0);
    g[h] = uniform(-3, 3);
  }
  CHECK(gpsa_fold(H, R, C, w, NULL, g, fx, sizeof fx / 4, gy, sizeof gy / 4, lam, H) == GPSA_OK);
  f.heads = H;
  f.rows = R;
  f.cols = C;
  f.fx = fx;
  f.gy = gy;
  f.lambda = lam;
  for (i = 0; i < N * LD; ++i) v[i] = uniform(-1, 1);
  CHECK(scratch_len == N * D);
  scratch = malloc(scratch_len * sizeof(float));
  CHECK(gpsa_positional_apply(&f, D, v, LD, out, LD, scratch, scratch_len) == GPSA_OK);
  CHECK(gpsa_positional_apply(&f, D, v, LD, out, LD, scratch, scratch_len - 1) ==
        GPSA_BUFFER_TOO_SMALL);
  for (h = 0; h < H; ++h) {
    dense_position(R, C, &w[3 * h], 0.0, ref);
    for (i = 0; i < N; ++i)
      for (k = 0; k < D; ++k) {
        double s = 0;
        for (j = 0; j < N; ++j) s += ref[i * N + j] * v[j * LD + h * D + k];
        CHECK(fabs(out[i * LD + h * D + k] - s) <= 2e-6);
      }
    /* gated blend of rows [10, 30) against (1-l)*c + l*pos, renormalised, in double */
    for (i = 0; i < N; ++i) {
      double s = 0;
      for (j = 0; j < N; ++j) s += content[i * N + j] = uniform(0.0f, 1.0f);
      for (j = 0; j < N; ++j) content[i * N + j] = (float)(content[i * N + j] / s);
    }
    CHECK(gpsa_gated_blend(&f, h, 10, 20, content + 10 * N, N, blended, N) == GPSA_OK);
    {
      double l = 1.0 / (1.0 + exp(-(double)g[h]));
      for (i = 0; i < 20; ++i) {
        double row[N], s = 0;
        for (j = 0; j < N; ++j)
          s += row[j] = (1 - l) * content[(10 + i) * N + j] + l * ref[(10 + i) * N + j];
        for (j = 0; j < N; ++j) CHECK(fabs(blended[i * N + j] - row[j] / s) <= 1e-7);
      }
    }
  }
  CHECK(gpsa_gated_blend(&f, 0, N - 1, 2, content, N, blended, N) == GPSA_SHAPE_MISMATCH);
  CHECK(gpsa_gated_blend(&f, H, 0, 1, content, N, blended, N) == GPSA_INVALID_ARGUMENT);
  free(scratch);
}

/* ---- the whole layer ---------------------------------------------------------------------- */

enum { LH = 2, LD = 8, LR = 2, LC = 3, LN = LR * LC, LB = 2, LHD = LD / LH };

/* y of timm's GPSA.forward in double, from the definitions: q, k, v linear, content softmax,
 * dense positional softmax (dense_position), the gated blend renormalised, attn @ v, proj. */
static void layer_reference(const float* x, const float* wqk, const float* bqk, const float* wv,
                            const float* bv, const float* wp, const float* bp, const float* pw,
                            const float* gating, double* y) {
  static double q[LN * LD], k[LN * LD], v[LN * LD], o[LN * LD], pos[LN * LN];
  size_t b, h, i, j, c;
  for (b = 0; b < LB; ++b) {
    const float* xb = x + b * LN * LD;
    for (i = 0; i < LN; ++i)
      for (j = 0; j < LD; ++j) {
        double sq = bqk[j], sk = bqk[LD + j], sv = bv[j];
        for (c = 0; c < LD; ++c) {
          sq += (double)xb[i * LD + c] * wqk[j * LD + c];
          sk += (double)xb[i * LD + c] * wqk[(LD + j) * LD + c];
          sv += (double)xb[i * LD + c] * wv[j * LD + c];
        }
        q[i * LD + j] = sq;
        k[i * LD + j] = sk;
        v[i * LD + j] = sv;
      }
    for (h = 0; h < LH; ++h) {
      const double lam = 1.0 / (1.0 + exp(-(double)gating[h]));
      dense_position(LR, LC, pw + 3 * h, 0.0, pos);
      for (i = 0; i < LN; ++i) {
        double a[LN], m = -HUGE_VAL, s = 0.0, t = 0.0;
        for (j = 0; j < LN; ++j) {
          double d = 0.0;
          for (c = 0; c < LHD; ++c) d += q[i * LD + h * LHD + c] * k[j * LD + h * LHD + c];
          a[j] = d / sqrt((double)LHD);
          if (a[j] > m) m = a[j];
        }
        for (j = 0; j < LN; ++j) s += a[j] = exp(a[j] - m);
        for (j = 0; j < LN; ++j) t += a[j] = (1 - lam) * a[j] / s + lam * pos[i * LN + j];
        for (c = 0; c < LHD; ++c) { /* the blended row renormalised by its sum t */
          double u = 0.0;
          for (j = 0; j < LN; ++j) u += a[j] / t * v[j * LD + h * LHD + c];
          o[i * LD + h * LHD + c] = u;
        }
      }
    }
    for (i = 0; i < LN; ++i)
      for (j = 0; j < LD; ++j) {
        double t = bp[j];
        for (c = 0; c < LD; ++c) t += o[i * LD + c] * wp[j * LD + c];
        y[(b * LN + i) * LD + j] = t;
      }
  }
}

static void test_layer(void) {
  float wqk[2 * LD * LD], bqk[2 * LD], wv[LD * LD], bv[LD], wp[LD * LD], bp[LD], pw[LH * 3];
  float g[LH], fx[LH * LC * LC], gy[LH * LR * LR], lam[LH];
  float x[LB * LN * LD], y[LB * LN * LD], y2[LB * LN * LD], attn[LB * LH * LN * LN];
  float scratch[1024];
  double ref[LB * LN * LD], ymax = 0.0, err = 0.0, rowsum;
  const size_t XL = LB * LN * LD, AL = LB * LH * LN * LN;
  const size_t big = (size_t)1 << (sizeof(size_t) * 2); /* rows = cols = big: N*N overflows */
  size_t x_len = 7, attn_len = 7, scratch_len = 7, i, j;
  gpsa_layer_dims dims = {LH, LD, LR, LC, LB}, bad;
  gpsa_layer_weights w, wbad;
  gpsa_folded f, fbad;

  for (i = 0; i < 2 * LD * LD; ++i) wqk[i] = uniform(-0.6f, 0.6f);
  for (i = 0; i < LD * LD; ++i) wv[i] = uniform(-0.5f, 0.5f), wp[i] = uniform(-0.5f, 0.5f);
  for (i = 0; i < 2 * LD; ++i) bqk[i] = uniform(-0.2f, 0.2f);
  for (i = 0; i < LD; ++i) bv[i] = uniform(-0.2f, 0.2f), bp[i] = uniform(-0.2f, 0.2f);
  for (i = 0; i < LH * 3; ++i) pw[i] = uniform(-2, 1);
  for (i = 0; i < LH; ++i) g[i] = uniform(-2, 2);
  for (i = 0; i < XL; ++i) x[i] = uniform(-1, 1);
  CHECK(gpsa_fold(LH, LR, LC, pw, NULL, g, fx, sizeof fx / 4, gy, sizeof gy / 4, lam, LH) ==
        GPSA_OK);
  f.heads = LH;
  f.rows = LR;
  f.cols = LC;
  f.fx = fx;
  f.gy = gy;
  f.lambda = lam;
  w.qk_weight = wqk;
  w.qk_bias = bqk;
  w.v_weight = wv;
  w.v_bias = bv;
  w.proj_weight = wp;
  w.proj_bias = bp;

  /* sizes: the documented formulas */
  CHECK(gpsa_layer_size(&dims, &x_len, &attn_len, &scratch_len) == GPSA_OK);
  CHECK(x_len == XL && attn_len == AL);
  /* at least the q, k, v rows, one head's k and v and a block of score rows */
  CHECK(scratch_len >= LB * LN * 3 * LD + 2 * LN * LHD + LN * (LN + 1));
  CHECK(scratch_len <= sizeof scratch / sizeof scratch[0]);
  CHECK(gpsa_layer_size(&dims, NULL, NULL, NULL) == GPSA_OK);
  /* the compile-time macro bounds the query, here and on other shapes, by no more than the
     documented margin */
  CHECK(scratch_len <= GPSA_LAYER_SCRATCH_LEN(LH, LD, LR, LC, LB));
  {
    static const size_t shapes[][5] = {
        {1, 8, 1, 1, 1},     {4, 32, 4, 4, 1},    {9, 36, 3, 3, 2},  {4, 192, 14, 14, 1},
        {9, 432, 14, 14, 3}, {16, 768, 8, 32, 2}, {3, 12, 1, 64, 1}, {2, 6, 9, 9, 0}};
    size_t k, n;
    for (k = 0; k < sizeof shapes / sizeof shapes[0]; ++k) {
      const gpsa_layer_dims sd = {shapes[k][0], shapes[k][1], shapes[k][2], shapes[k][3],
                                  shapes[k][4]};
      n = 0;
      CHECK(gpsa_layer_size(&sd, NULL, NULL, &n) == GPSA_OK);
      {
        const size_t m = GPSA_LAYER_SCRATCH_LEN(shapes[k][0], shapes[k][1], shapes[k][2],
                                                shapes[k][3], shapes[k][4]);
        const size_t N = shapes[k][2] * shapes[k][3], d = shapes[k][1] / shapes[k][0];
        CHECK(n <= m);
        CHECK(m - n <= 47 * (N + d) + 64 * (N + 1) + 76);
      }
    }
  }

  /* forward (fused and with attn, rectangular grid, qkv bias, batch 2) vs double */
  layer_reference(x, wqk, bqk, wv, bv, wp, bp, pw, g, ref);
  CHECK(gpsa_layer_forward(&dims, &w, &f, x, XL, y, XL, NULL, 0, scratch, scratch_len) == GPSA_OK);
  CHECK(gpsa_layer_forward(&dims, &w, &f, x, XL, y2, XL, attn, AL, scratch, scratch_len) ==
        GPSA_OK);
  for (i = 0; i < XL; ++i) {
    if (fabs(ref[i]) > ymax) ymax = fabs(ref[i]);
    if (fabs(y[i] - ref[i]) > err) err = fabs(y[i] - ref[i]);
    if (fabs(y2[i] - ref[i]) > err) err = fabs(y2[i] - ref[i]);
  }
  CHECK(ymax > 0.1 && err <= 1e-5 * ymax);
  for (i = 0; i < LB * LH * LN; ++i) { /* attention rows are distributions */
    for (j = 0, rowsum = 0.0; j < LN; ++j) rowsum += attn[i * LN + j];
    CHECK(fabs(rowsum - 1.0) <= 1e-6);
  }
  /* in place; batch 0 is a no-op that looks at no buffer */
  memcpy(y2, x, sizeof x);
  CHECK(gpsa_layer_forward(&dims, &w, &f, y2, XL, y2, XL, NULL, 0, scratch, scratch_len) ==
        GPSA_OK);
  CHECK(memcmp(y, y2, sizeof y) == 0);
  bad = dims;
  bad.batch = 0;
  CHECK(gpsa_layer_forward(&bad, &w, &f, NULL, 0, NULL, 0, NULL, 0, NULL, 0) == GPSA_OK);
  /* without qkv bias and proj bias (NULL): against the reference with zero biases */
  {
    static const float zeros[2 * LD];
    gpsa_layer_weights nb = w;
    nb.qk_bias = NULL;
    nb.v_bias = NULL;
    nb.proj_bias = NULL;
    layer_reference(x, wqk, zeros, wv, zeros, wp, zeros, pw, g, ref);
    CHECK(gpsa_layer_forward(&dims, &nb, &f, x, XL, y, XL, NULL, 0, scratch, scratch_len) ==
          GPSA_OK);
    for (i = 0, err = 0.0; i < XL; ++i)
      if (fabs(y[i] - ref[i]) > err) err = fabs(y[i] - ref[i]);
    CHECK(err <= 1e-5 * ymax);
  }

  /* bad arguments: NULL pointers */
  CHECK(gpsa_layer_size(NULL, &x_len, NULL, NULL) == GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_layer_forward(NULL, &w, &f, x, XL, y, XL, NULL, 0, scratch, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_layer_forward(&dims, NULL, &f, x, XL, y, XL, NULL, 0, scratch, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_layer_forward(&dims, &w, NULL, x, XL, y, XL, NULL, 0, scratch, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_layer_forward(&dims, &w, &f, NULL, XL, y, XL, NULL, 0, scratch, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_layer_forward(&dims, &w, &f, x, XL, NULL, XL, NULL, 0, scratch, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_layer_forward(&dims, &w, &f, x, XL, y, XL, NULL, AL, scratch, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_layer_forward(&dims, &w, &f, x, XL, y, XL, NULL, 0, NULL, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_layer_forward(&dims, &w, &f, x, XL, y, XL, NULL, 0, NULL, 0) == GPSA_BUFFER_TOO_SMALL);
  wbad = w;
  wbad.qk_weight = NULL;
  CHECK(gpsa_layer_forward(&dims, &wbad, &f, x, XL, y, XL, NULL, 0, scratch, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  wbad = w;
  wbad.v_weight = NULL;
  CHECK(gpsa_layer_forward(&dims, &wbad, &f, x, XL, y, XL, NULL, 0, scratch, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  wbad = w;
  wbad.proj_weight = NULL;
  CHECK(gpsa_layer_forward(&dims, &wbad, &f, x, XL, y, XL, NULL, 0, scratch, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  fbad = f;
  fbad.gy = NULL;
  CHECK(gpsa_layer_forward(&dims, &w, &fbad, x, XL, y, XL, NULL, 0, scratch, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  /* zero dims, D % H != 0 */
  bad = dims;
  bad.heads = 0;
  CHECK(gpsa_layer_size(&bad, &x_len, NULL, NULL) == GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_layer_forward(&bad, &w, &f, x, XL, y, XL, NULL, 0, scratch, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  bad = dims;
  bad.dim = 0;
  CHECK(gpsa_layer_size(&bad, &x_len, NULL, NULL) == GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_layer_forward(&bad, &w, &f, x, 0, y, 0, NULL, 0, scratch, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  bad = dims;
  bad.rows = 0;
  CHECK(gpsa_layer_size(&bad, &x_len, NULL, NULL) == GPSA_EMPTY_GRID);
  CHECK(gpsa_layer_forward(&bad, &w, &f, x, XL, y, XL, NULL, 0, scratch, scratch_len) ==
        GPSA_EMPTY_GRID);
  bad = dims;
  bad.cols = 0;
  CHECK(gpsa_layer_size(&bad, NULL, NULL, &scratch_len) == GPSA_EMPTY_GRID);
  bad = dims;
  bad.dim = LD + 1; /* 9 % 2 */
  CHECK(gpsa_layer_size(&bad, &x_len, NULL, NULL) == GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_layer_forward(&bad, &w, &f, x, XL, y, XL, NULL, 0, scratch, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  /* the folded state of another shape */
  bad = dims;
  bad.rows = LC;
  bad.cols = LR;
  CHECK(gpsa_layer_forward(&bad, &w, &f, x, XL, y, XL, NULL, 0, scratch, scratch_len) ==
        GPSA_SHAPE_MISMATCH);
  fbad = f;
  fbad.heads = 1;
  CHECK(gpsa_layer_forward(&dims, &w, &fbad, x, XL, y, XL, NULL, 0, scratch, scratch_len) ==
        GPSA_SHAPE_MISMATCH);
  /* buffer lengths */
  CHECK(gpsa_layer_forward(&dims, &w, &f, x, XL - 1, y, XL, NULL, 0, scratch, scratch_len) ==
        GPSA_SHAPE_MISMATCH);
  CHECK(gpsa_layer_forward(&dims, &w, &f, x, XL, y, XL + 1, NULL, 0, scratch, scratch_len) ==
        GPSA_SHAPE_MISMATCH);
  CHECK(gpsa_layer_forward(&dims, &w, &f, x, XL, y, XL, attn, AL - 1, scratch, scratch_len) ==
        GPSA_SHAPE_MISMATCH);
  CHECK(gpsa_layer_forward(&dims, &w, &f, x, XL, y, XL, NULL, 0, scratch, scratch_len - 1) ==
        GPSA_BUFFER_TOO_SMALL);

  /* overflow: a status, never a wrapped size, and nothing written */
  x_len = attn_len = scratch_len = 7;
  bad = dims;
  bad.rows = bad.cols = (size_t)-1 / 2;
  CHECK(gpsa_layer_size(&bad, &x_len, NULL, NULL) == GPSA_SIZE_OVERFLOW);
  CHECK(gpsa_layer_size(&bad, NULL, NULL, &scratch_len) == GPSA_SIZE_OVERFLOW);
  bad = dims;
  bad.batch = (size_t)-1 / 4;
  CHECK(gpsa_layer_size(&bad, &x_len, NULL, NULL) == GPSA_SIZE_OVERFLOW);
  CHECK(gpsa_layer_size(&bad, NULL, NULL, &scratch_len) == GPSA_SIZE_OVERFLOW);
  CHECK(gpsa_layer_size(&bad, NULL, &attn_len, NULL) == GPSA_SIZE_OVERFLOW);
  CHECK(gpsa_layer_forward(&bad, &w, &f, x, XL, y, XL, NULL, 0, scratch, 1024) ==
        GPSA_SIZE_OVERFLOW);
  bad = dims;
  bad.rows = bad.cols = big; /* N*N overflows, B*N*D and the scratch do not */
  CHECK(gpsa_layer_size(&bad, NULL, &attn_len, NULL) == GPSA_SIZE_OVERFLOW);
  CHECK(gpsa_layer_size(&bad, &x_len, &attn_len, &scratch_len) == GPSA_SIZE_OVERFLOW);
  CHECK(x_len == 7 && attn_len == 7 && scratch_len == 7);
  CHECK(gpsa_layer_size(&bad, &x_len, NULL, &scratch_len) == GPSA_OK);
  CHECK(x_len == LB * big * big * LD);
  fbad = f;
  fbad.rows = fbad.cols = big;
  CHECK(gpsa_layer_forward(&bad, &w, &fbad, x, XL, y, XL, NULL, 0, scratch, 1024) ==
        GPSA_SIZE_OVERFLOW);
}

static void test_status(void) {
  int s;
  for (s = GPSA_OK; s <= GPSA_INVALID_ARGUMENT; ++s)
    CHECK(gpsa_status_message((gpsa_status)s) != NULL);
  CHECK(strcmp(gpsa_status_message(GPSA_OK), "ok") == 0);
  CHECK(strcmp(gpsa_status_message(GPSA_BUFFER_TOO_SMALL), "buffer too small") == 0);
  CHECK(strcmp(gpsa_version(), GPSA_EXPECTED_VERSION) == 0);
}

int main(void) {
  test_rel_indices();
  test_fold_and_expand();
  test_apply_and_blend();
  test_layer();
  test_status();
  if (failures != 0) {
    fprintf(stderr, "c_api_test: %d check(s) failed\n", failures);
    return 1;
  }
  printf("c_api_test: all checks passed\n");
  return 0;
}
