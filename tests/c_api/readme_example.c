/* SPDX-License-Identifier: MIT */
/* The C example of docs/firmware.md, compiled as C99 and run by ctest. */
#include <stdio.h>

#include "gpsa/gpsa.h"

enum { H = 4, R = 14, C = 14, N = R * C, D = 8 }; /* 4 heads of width 8 on a 14x14 grid */

static float fx[H * C * C], gy[H * R * R], lambda[H]; /* the folded state: 1572 floats */
static float v[N * H * D], out[N * H * D], scratch[N * D];

int main(void) {
  /* pos_proj.weight (H,3) and gating_param (H) of one layer, e.g. copied from a checkpoint */
  const float pos_weight[H * 3] = {-1, -1, -0.5f, 1, -1, -0.5f, -1, 1, -0.5f, 1, 1, -0.5f};
  const float gating[H] = {1, 1, 1, 1};
  gpsa_folded_view f = {H, R, C, fx, gy, lambda};
  gpsa_status s;
  size_t i;

  s = gpsa_layer_fold(R, C, H, pos_weight, NULL, gating, fx, H * C * C, gy, H * R * R, lambda, H);
  if (s != GPSA_OK) {
    fprintf(stderr, "fold: %s\n", gpsa_status_message(s));
    return 1;
  }
  for (i = 0; i < N * H * D; ++i) v[i] = (float)(i % 7) - 3.0f; /* the values v = x W_v^T */
  /* positional branch of attn . v for all heads: O(N (R + C) d), no N x N matrix */
  s = gpsa_positional_apply(&f, D, v, H * D, out, H * D, scratch, N * D);
  if (s != GPSA_OK) {
    fprintf(stderr, "apply: %s\n", gpsa_status_message(s));
    return 1;
  }
  printf("lambda[0] = %.4f, out[0] = %.4f\n", lambda[0], out[0]);
  return 0;
}
