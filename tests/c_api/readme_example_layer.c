/* SPDX-License-Identifier: MIT */
/* The C layer example of docs/firmware.md, compiled as C99 and run by ctest (and built with
 * pkg-config's flags by tests/pkgconfig). */
#include <stdio.h>

#include "gpsa/gpsa.h"
/* One trained GPSA layer, written on the host by
 *   gpsa fold --weights weights.safetensors --grid 4 --name s4_sharp_layer --with-weights
 * (included after gpsa.h, it also defines s4_sharp_layer_weights[] and s4_sharp_layer_layers[]) */
#include "s4_sharp_layer.h"

enum { B = 1, N = S4_SHARP_LAYER_PATCHES, D = S4_SHARP_LAYER_DIM, LEN = B * N * D };

static float x[LEN], y[LEN];
/* sized at compile time; gpsa_layer_scratch_size gives the exact number at run time (checked
 * below) */
static float scratch[GPSA_LAYER_SCRATCH_LEN(S4_SHARP_LAYER_HEADS, D, S4_SHARP_LAYER_ROWS,
                                            S4_SHARP_LAYER_COLS, B)];

int main(void) {
  const gpsa_layer_dims dims = {S4_SHARP_LAYER_HEADS, D, S4_SHARP_LAYER_ROWS, S4_SHARP_LAYER_COLS,
                                B};
  size_t need = 0, i;
  gpsa_status s = gpsa_layer_scratch_size(&dims, 1, &need);
  if (s != GPSA_OK || need > sizeof scratch / sizeof scratch[0]) {
    fprintf(stderr, "scratch: %s, %lu floats needed\n", gpsa_status_message(s),
            (unsigned long)need);
    return 1;
  }
  for (i = 0; i < LEN; ++i) x[i] = (float)(i % 5) * 0.25f - 0.5f; /* the (B, N, D) tokens */
  /* weights and folded positional state are read in place (flash on a device): no file
   * system, no heap; attn NULL: no N x N matrix is formed */
  s = gpsa_layer_forward(&s4_sharp_layer_weights[0], &s4_sharp_layer_layers[0], B, x, LEN, y, LEN,
                         NULL, 0, scratch, need);
  if (s != GPSA_OK) {
    fprintf(stderr, "forward: %s\n", gpsa_status_message(s));
    return 1;
  }
  printf("scratch %lu floats, y[0] = %.4f\n", (unsigned long)need, y[0]);
  return 0;
}
