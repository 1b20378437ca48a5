/* SPDX-License-Identifier: MIT */
/* A C99 firmware-style consumer of a header written by `gpsa fold --format c`, compiled and run
 * by tests/fold/fold_cli_test.cpp. It checks, from C:
 *   - the header's storage is exactly H*(R^2 + C^2) + H floats per layer;
 *   - every position value gy*fx equals, bit for bit, the dense .npy `gpsa fold --format npy`
 *     wrote for the same checkpoint (argv[1]);
 *   - the factors match softmax(P) recomputed here in double from the raw weights
 *     (fold_weights.h, written by the test), and lambda matches sigmoid(gating);
 *   - with gpsa.h included first, gpsa_fold_layers[] holds gpsa_folded_view views of those arrays
 *     (the C API itself is tested by tests/c_api; this program links nothing of gpsa).
 * Exit status 0 when everything holds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fold_weights.h" /* test_w[L][H][3], test_b[L][H], test_g[L][H] */
#include "gpsa/gpsa.h"    /* first, so the header also defines gpsa_fold_layers[] */
#include "gpsa_fold.h"

#define L GPSA_FOLD_LAYERS
#define H GPSA_FOLD_HEADS
#define R GPSA_FOLD_ROWS
#define C GPSA_FOLD_COLS
#define N GPSA_FOLD_PATCHES

static int failures = 0;
#define CHECK(cond)                                                                       \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      if (failures < 10) fprintf(stderr, "c_consumer:%d: failed: %s\n", __LINE__, #cond); \
      ++failures;                                                                         \
    }                                                                                     \
  } while (0)

/* Reads a float32 .npy written by gpsa (format 1.0, little-endian host assumed), returns data. */
static float* read_npy(const char* path, size_t want) {
  FILE* f = fopen(path, "rb");
  unsigned char pre[10];
  size_t hl;
  char* header;
  float* data;
  if (f == NULL || fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) return NULL;
  hl = (size_t)pre[8] | ((size_t)pre[9] << 8);
  header = malloc(hl + 1);
  if (fread(header, 1, hl, f) != hl) return NULL;
  header[hl] = '\0';
  if (strstr(header, "'<f4'") == NULL) return NULL;
  free(header);
  data = malloc(want * sizeof(float));
  if (fread(data, sizeof(float), want, f) != want || fgetc(f) != EOF) return NULL;
  fclose(f);
  return data;
}

int main(int argc, char** argv) {
  static double ref[N * N];
  const float* dense;
  size_t l, h, p, q;
  if (argc != 2) return 2;
  dense = read_npy(argv[1], (size_t)L * H * N * N);
  if (dense == NULL) {
    fprintf(stderr, "c_consumer: cannot read %s\n", argv[1]);
    return 1;
  }
  CHECK(sizeof gpsa_fold_l0_fx + sizeof gpsa_fold_l0_gy + sizeof gpsa_fold_l0_lambda ==
        (size_t)(H * (R * R + C * C) + H) * sizeof(float));
  CHECK(GPSA_FOLD_FLOATS_PER_LAYER == H * (R * R + C * C) + H);
  for (l = 0; l < L; ++l) {
    const float* fx = gpsa_fold_fx[l];
    const float* gy = gpsa_fold_gy[l];
    for (h = 0; h < H; ++h) {
      const float* w = test_w[l][h];
      double g = test_g[l][h];
      double sig = g >= 0 ? 1.0 / (1.0 + exp(-g)) : exp(g) / (1.0 + exp(g));
      CHECK(fabs(gpsa_fold_lambda[l][h] - sig) <= 6e-8 * sig + 1e-45);
      /* dense softmax(P) in double, bias included (it must cancel) */
      for (p = 0; p < N; ++p) {
        double m = -HUGE_VAL, s = 0;
        for (q = 0; q < N; ++q) {
          double dx = (double)(q % C) - (double)(p % C), dy = (double)(q / C) - (double)(p / C);
          double v = w[0] * dx + w[1] * dy + w[2] * (dx * dx + dy * dy) + test_b[l][h];
          ref[p * N + q] = v;
          if (v > m) m = v;
        }
        for (q = 0; q < N; ++q) s += (ref[p * N + q] = exp(ref[p * N + q] - m));
        for (q = 0; q < N; ++q) ref[p * N + q] /= s;
      }
      for (p = 0; p < N; ++p)
        for (q = 0; q < N; ++q) {
          float pos = gy[(h * R + p / C) * R + q / C] * fx[(h * C + p % C) * C + q % C];
          float from_npy = dense[((l * H + h) * N + p) * N + q];
          CHECK(memcmp(&pos, &from_npy, sizeof pos) == 0);
          CHECK(fabs(pos - ref[p * N + q]) <= 2.5e-7 * ref[p * N + q] + 1e-44);
        }
    }
    /* the gpsa_folded_view view handed to the C API describes the same arrays */
    CHECK(gpsa_fold_layers[l].heads == H && gpsa_fold_layers[l].rows == R &&
          gpsa_fold_layers[l].cols == C);
    CHECK(gpsa_fold_layers[l].fx == fx && gpsa_fold_layers[l].gy == gy &&
          gpsa_fold_layers[l].lambda == gpsa_fold_lambda[l]);
  }
  if (failures != 0) {
    fprintf(stderr, "c_consumer: %d check(s) failed\n", failures);
    return 1;
  }
  printf("c_consumer: %d layer(s), %d heads, %dx%d grid: header == npy == float64 reference\n", L,
         H, R, C);
  return 0;
}
