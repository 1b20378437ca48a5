/* SPDX-License-Identifier: MIT */
/* A C99 program linked with the C compiler against gpsa::core: the size queries, a fold and one
 * whole-layer forward (which runs the GEMM and its SIMD dispatch), each checked against an
 * independent computation. */
#include <stdio.h>
#include <string.h>

#include "gpsa/gpsa.h"

/* GPSA_EXPECTED_VERSION: the version the build defines, as tokens (-DGPSA_EXPECTED_VERSION=0.1.0)
 */
#define GPSA_STR_(x) #x
#define GPSA_STR(x) GPSA_STR_(x)
#define EXPECTED_VERSION GPSA_STR(GPSA_EXPECTED_VERSION)

enum { H = 2, D = 4, R = 3, C = 3, N = R * C, B = 1 };

static int fail(const char* what, gpsa_status s) {
  fprintf(stderr, "c_consumer: %s: %s\n", what, gpsa_status_message(s));
  return 1;
}

int main(void) {
  /* timm's convit_tiny (224/16 = 14 x 14 patches, 4 heads, 10 GPSA blocks of 12) */
  const gpsa_convit_config tiny = {224, 16, 3, 192, 4, 12, 10, 768, 1000, 1e-6f};
  size_t fx_len = 0, gy_len = 0, lambda_len = 0, folded_len = 0, scratch_len = 0, i;
  static float fx[H * C * C], gy[H * R * R], lambda[H], scratch[4096];
  static float zero_dd[2 * D * D], x[B * N * D], y[B * N * D];
  const float pos_weight[H * 3] = {-1, -1, -0.5f, 1, 1, -0.5f}, gating[H] = {1, 1};
  const float proj_bias[D] = {0.25f, -1.5f, 3.0f, 0.0f};
  gpsa_layer_weights w;
  gpsa_layer_dims dims = {H, D, R, C, B};
  gpsa_folded_view pos = {H, R, C, fx, gy, lambda};
  gpsa_status s;

  if (strcmp(gpsa_version(), EXPECTED_VERSION) != 0) {
    fprintf(stderr, "c_consumer: gpsa_version() = %s, expected %s\n", gpsa_version(),
            EXPECTED_VERSION);
    return 1;
  }
  s = gpsa_layer_folded_size(14, 14, 4, &fx_len, &gy_len, &lambda_len);
  if (s != GPSA_OK) return fail("gpsa_layer_folded_size", s);
  if (fx_len != 4 * 14 * 14 || gy_len != 4 * 14 * 14 || lambda_len != 4) {
    fprintf(stderr, "c_consumer: layer folded sizes %zu %zu %zu\n", fx_len, gy_len, lambda_len);
    return 1;
  }
  s = gpsa_convit_folded_size(&tiny, &folded_len);
  if (s != GPSA_OK) return fail("gpsa_convit_folded_size", s);
  if (folded_len != 10 * (4 * (14 * 14 + 14 * 14) + 4)) { /* L (H (R^2 + C^2) + H) */
    fprintf(stderr, "c_consumer: convit folded size %zu\n", folded_len);
    return 1;
  }

  /* A layer whose qk, v and proj weights are zero: v = 0, so y = proj(attn v) + bias = bias for
   * every token whatever the attention. */
  s = gpsa_layer_fold(R, C, H, pos_weight, NULL, gating, fx, H * C * C, gy, H * R * R, lambda, H);
  if (s != GPSA_OK) return fail("gpsa_layer_fold", s);
  memset(&w, 0, sizeof w);
  w.heads = H;
  w.dim = D;
  w.qk_weight = zero_dd;
  w.v_weight = zero_dd;
  w.proj_weight = zero_dd;
  w.proj_bias = proj_bias;
  for (i = 0; i < B * N * D; ++i) x[i] = (float)(i % 5) - 2.0f;
  s = gpsa_layer_scratch_size(&dims, 1, &scratch_len);
  if (s != GPSA_OK) return fail("gpsa_layer_scratch_size", s);
  if (scratch_len > sizeof scratch / sizeof scratch[0]) {
    fprintf(stderr, "c_consumer: scratch %zu floats\n", scratch_len);
    return 1;
  }
  s = gpsa_layer_forward(&w, &pos, B, x, B * N * D, y, B * N * D, NULL, 0, scratch, scratch_len);
  if (s != GPSA_OK) return fail("gpsa_layer_forward", s);
  for (i = 0; i < B * N * D; ++i)
    if (y[i] != proj_bias[i % D]) {
      fprintf(stderr, "c_consumer: y[%zu] = %g, expected %g\n", i, (double)y[i],
              (double)proj_bias[i % D]);
      return 1;
    }
  printf("c consumer ok: gpsa %s, convit_tiny folded %zu floats, layer scratch %zu floats\n",
         gpsa_version(), folded_len, scratch_len);
  return 0;
}
