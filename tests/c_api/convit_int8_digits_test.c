/* SPDX-License-Identifier: MIT */
/* The int8 ConViT through the C API (gpsa_convit_int8_*), from C99, on the trained digits model:
 * the quantised model comes from the header the freshly built
 * `gpsa export --int8 --calibration x_calib.npy --weights model.safetensors --name g_digits_int8`
 * wrote (build folder), as a firmware would use it; the 360 test images and labels are read
 * from tests/golden/digits/convit_digits/, the NumPy reference's amax and int8 logits from
 * tests/golden/int8/digits_model.safetensors (tools/int8_reference.py model).
 *
 * Checked: the header's 18 amax and the logits of all 360 images equal the reference's bit for
 * bit (the whole batch, and one image at a time); the accuracy is the reference's;
 * GPSA_CONVIT_INT8_SCRATCH_LEN == gpsa_convit_int8_scratch_size; every error status. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c_test_util.h"
#include "g_digits_int8.h" /* gpsa export --int8 output (includes gpsa/gpsa.h) */

enum { B = 360, K = G_DIGITS_INT8_CLASSES, IMG = G_DIGITS_INT8_IMAGE_LEN };

static void* read_digits(const char* name, const char* descr, size_t size, size_t* count) {
  char path[1024];
  snprintf(path, sizeof path, "%s/digits/convit_digits/%s", GPSA_GOLDEN_DIR, name);
  return read_npy(path, descr, size, count);
}

/* The F32 tensor `key` of the reference's safetensors file (malloc'd), or NULL after a message:
 * 8-byte header length, JSON header, data; the key's "data_offsets":[a,b] read from the JSON. */
static float* read_reference(const char* key, size_t* count) {
  char path[1024], pattern[64];
  unsigned char len8[8];
  unsigned long long hlen = 0, a = 0, b = 0;
  char* header;
  const char* at;
  float* data = NULL;
  int i;
  FILE* f;
  snprintf(path, sizeof path, "%s/int8/digits_model.safetensors", GPSA_GOLDEN_DIR);
  f = fopen(path, "rb");
  if (f == NULL || fread(len8, 1, 8, f) != 8) {
    fprintf(stderr, "%s: cannot read\n", path);
    if (f != NULL) fclose(f);
    return NULL;
  }
  for (i = 7; i >= 0; --i) hlen = hlen << 8 | len8[i];
  header = malloc((size_t)hlen + 1);
  if (header == NULL || hlen > 1000000 || fread(header, 1, (size_t)hlen, f) != hlen) {
    fprintf(stderr, "%s: bad header\n", path);
    free(header);
    fclose(f);
    return NULL;
  }
  header[hlen] = '\0';
  snprintf(pattern, sizeof pattern, "\"%s\":", key);
  at = strstr(header, pattern);
  at = at != NULL ? strstr(at, "\"data_offsets\":[") : NULL;
  if (at == NULL || sscanf(at, "\"data_offsets\":[%llu,%llu]", &a, &b) != 2 || b < a ||
      (b - a) % 4 != 0) {
    fprintf(stderr, "%s: no F32 tensor %s\n", path, key);
  } else {
    *count = (size_t)(b - a) / 4;
    data = malloc((size_t)(b - a));
    if (data == NULL || fseek(f, (long)(8 + hlen + a), SEEK_SET) != 0 ||
        fread(data, 4, *count, f) != *count) {
      fprintf(stderr, "%s: %s: cannot read its data\n", path, key);
      free(data);
      data = NULL;
    }
  }
  free(header);
  fclose(f);
  return data;
}

static size_t argmax(const float* v, size_t n) {
  size_t i, best = 0;
  for (i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

static void check_errors(const float* x, float* logits, float* scratch) {
  gpsa_convit_int8_weights w = g_digits_int8_weights;
  float amax[G_DIGITS_INT8_POINTS];
  const size_t S = G_DIGITS_INT8_SCRATCH_LEN;
#define FWD(wp, batch, xl, ll, sl) \
  gpsa_convit_int8_forward(wp, batch, x, xl, logits, ll, scratch, sl)
  CHECK(FWD(NULL, 1, IMG, K, S) == GPSA_INVALID_ARGUMENT);
  CHECK(FWD(&w, 1, IMG - 1, K, S) == GPSA_SHAPE_MISMATCH);
  CHECK(FWD(&w, 1, IMG, K - 1, S) == GPSA_SHAPE_MISMATCH);
  CHECK(FWD(&w, 1, IMG, K, S - 1) == GPSA_BUFFER_TOO_SMALL);
  CHECK(FWD(&w, 0, 0, 0, S) == GPSA_OK);
  CHECK(gpsa_convit_int8_forward(&w, 1, NULL, 0, logits, K, scratch, S) == GPSA_INVALID_ARGUMENT);
  w.block_count = G_DIGITS_INT8_DEPTH - 1;
  CHECK(FWD(&w, 1, IMG, K, S) == GPSA_SHAPE_MISMATCH);
  w = g_digits_int8_weights;
  w.activation_count = G_DIGITS_INT8_POINTS - 1;
  CHECK(FWD(&w, 1, IMG, K, S) == GPSA_SHAPE_MISMATCH);
  w = g_digits_int8_weights;
  w.folded_len = G_DIGITS_INT8_FOLDED_LEN - 1;
  CHECK(FWD(&w, 1, IMG, K, S) == GPSA_SHAPE_MISMATCH);
  w = g_digits_int8_weights;
  w.head.weight = NULL;
  CHECK(FWD(&w, 1, IMG, K, S) == GPSA_INVALID_ARGUMENT);
  w = g_digits_int8_weights;
  memcpy(amax, g_digits_int8_amax, sizeof amax);
  amax[3] = -1.0f;
  w.activation_amax = amax;
  CHECK(FWD(&w, 1, IMG, K, S) == GPSA_INVALID_ARGUMENT);
  w = g_digits_int8_weights;
  w.config.heads = 3; /* 64 % 3 != 0 */
  CHECK(FWD(&w, 1, IMG, K, S) == GPSA_INVALID_ARGUMENT);
#undef FWD
  CHECK(gpsa_convit_int8_scratch_size(NULL, NULL) == GPSA_INVALID_ARGUMENT);
  CHECK(strcmp(gpsa_int8_backend(), "portable") == 0 || strcmp(gpsa_int8_backend(), "dsp") == 0);
}

int main(void) {
  size_t nx = 0, nlab = 0, nref = 0, namax = 0, len = 0, i, correct = 0, ref_correct = 0;
  float* x = read_digits("x_test.npy", "<f4", 4, &nx);
  long long* labels = read_digits("y_test.npy", "<i8", 8, &nlab);
  float* ref = read_reference("logits", &nref);
  float* ref_amax = read_reference("amax", &namax);
  float* logits = malloc((size_t)B * K * sizeof(float));
  static float scratch[G_DIGITS_INT8_SCRATCH_LEN];
  float one[K];

  CHECK(x != NULL && labels != NULL && ref != NULL && ref_amax != NULL && logits != NULL);
  if (x == NULL || labels == NULL || ref == NULL || ref_amax == NULL || logits == NULL) return 1;
  CHECK(nx == (size_t)B * IMG && nlab == B && nref == (size_t)B * K &&
        namax == G_DIGITS_INT8_POINTS);
  if (nx != (size_t)B * IMG || nlab != B || nref != (size_t)B * K || namax != G_DIGITS_INT8_POINTS)
    return 1;

  CHECK(memcmp(g_digits_int8_amax, ref_amax, sizeof g_digits_int8_amax) == 0);
  CHECK(gpsa_convit_int8_scratch_size(&g_digits_int8_weights.config, &len) == GPSA_OK);
  CHECK(len == G_DIGITS_INT8_SCRATCH_LEN);
  printf("int8 scratch: %lu floats (%lu bytes, any batch); flash: codes %d B, floats %d B\n",
         (unsigned long)len, (unsigned long)len * 4, G_DIGITS_INT8_CODE_BYTES,
         G_DIGITS_INT8_FLOAT_BYTES);

  CHECK(gpsa_convit_int8_forward(&g_digits_int8_weights, B, x, (size_t)B * IMG, logits,
                                 (size_t)B * K, scratch, G_DIGITS_INT8_SCRATCH_LEN) == GPSA_OK);
  CHECK(memcmp(logits, ref, (size_t)B * K * sizeof(float)) == 0);
  for (i = 0; i < B; ++i) {
    correct += (long long)argmax(logits + i * K, K) == labels[i];
    ref_correct += (long long)argmax(ref + i * K, K) == labels[i];
  }
  printf("int8 digits through the exported header: accuracy %lu/%d (reference %lu/%d)\n",
         (unsigned long)correct, B, (unsigned long)ref_correct, B);
  CHECK(correct == ref_correct);
  for (i = 0; i < B; i += 41) {
    CHECK(gpsa_convit_int8_forward(&g_digits_int8_weights, 1, x + i * IMG, IMG, one, K, scratch,
                                   G_DIGITS_INT8_SCRATCH_LEN) == GPSA_OK);
    CHECK(memcmp(one, logits + i * K, sizeof one) == 0);
  }
  check_errors(x, logits, scratch);

  free(x);
  free(labels);
  free(ref);
  free(ref_amax);
  free(logits);
  if (failures != 0) {
    fprintf(stderr, "convit_int8_digits_test: %d check(s) failed\n", failures);
    return 1;
  }
  printf("convit_int8_digits_test: all checks passed\n");
  return 0;
}
