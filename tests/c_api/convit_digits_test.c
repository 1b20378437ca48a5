/* SPDX-License-Identifier: MIT */
/* The whole ConViT through the C API (gpsa_convit_*), from C99, on the trained digits model:
 * the weights, folded state and scratch size come from the header the freshly built
 * `gpsa export --weights tests/golden/digits/convit_digits/model.safetensors --name g_digits`
 * wrote (build folder), as a firmware would use it; the 360 test images, their labels and timm's
 * logits are read from tests/golden/digits/convit_digits/ (.npy).
 *
 * Checked, for both plans (GPSA_CONVIT_LOW_MEMORY, the firmware's, and GPSA_CONVIT_FAST):
 *   - every image's top-1 equals timm's (argmax of logits.npy);
 *   - max |logits - logits.npy| <= 1e-5 * max |logits.npy|;
 *   - the accuracy against y_test.npy equals timm's, DIGITS_TIMM_CORRECT of 360 (info.json);
 * and: gpsa_convit_fold at run time == the header's folded state (bit for bit);
 * GPSA_CONVIT_SCRATCH_LEN == gpsa_convit_scratch_size (LOW_MEMORY, any batch); one image at a
 * time == the whole batch (bit for bit); features (B, T, D): the head applied in double to the
 * class token's row gives the logits;
 * and every error status of the four functions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c_test_util.h"
#include "g_digits.h" /* gpsa export output (includes gpsa/gpsa.h) */

/* A .npy of the digits folder, or NULL after a message. */
static void* read_digits(const char* name, const char* descr, size_t size, size_t* count) {
  char path[1024];
  snprintf(path, sizeof path, "%s/digits/convit_digits/%s", GPSA_GOLDEN_DIR, name);
  return read_npy(path, descr, size, count);
}

static size_t argmax(const float* v, size_t n) {
  size_t i, best = 0;
  for (i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

enum { B = 360, K = G_DIGITS_CLASSES, IMG = G_DIGITS_IMAGE_LEN };

/* The checks against timm of one plan; returns the accuracy count. */
static size_t check_plan(gpsa_convit_plan plan, const char* name, const float* x, const float* ref,
                         const long long* labels, float* logits, float* scratch,
                         size_t scratch_len) {
  size_t i, correct = 0, same_top1 = 0;
  double ref_max = 0.0, err = 0.0;
  CHECK(gpsa_convit_forward(&g_digits_weights, g_digits_folded, G_DIGITS_FOLDED_LEN, plan, B, x,
                            (size_t)B * IMG, logits, (size_t)B * K, NULL, 0, scratch,
                            scratch_len) == GPSA_OK);
  for (i = 0; i < (size_t)B * K; ++i) {
    const double d = fabs((double)logits[i] - (double)ref[i]);
    if (fabs(ref[i]) > ref_max) ref_max = fabs(ref[i]);
    if (!(d <= err)) err = d;
  }
  for (i = 0; i < B; ++i) {
    const size_t top = argmax(logits + i * K, K);
    same_top1 += top == argmax(ref + i * K, K);
    correct += (long long)top == labels[i];
  }
  printf(
      "%-10s top-1 = timm's on %lu of %d images; accuracy %lu/%d; max |logits - timm| %.3g = "
      "%.3g of max |logits.npy| %.3g (bound 1e-05)\n",
      name, (unsigned long)same_top1, B, (unsigned long)correct, B, err, err / ref_max, ref_max);
  CHECK(same_top1 == B);
  CHECK(err <= 1e-5 * ref_max);
  return correct;
}

static void check_errors(const float* x, float* logits, float* scratch, size_t scratch_len) {
  gpsa_convit_weights w = g_digits_weights;
  gpsa_convit_config bad = g_digits_weights.config;
  size_t n = 0;
  const gpsa_convit_plan LOW = GPSA_CONVIT_LOW_MEMORY;
#define FWD(wp, folded_len, plan, batch, xl, ll, feat, fl, sl)                                   \
  gpsa_convit_forward(wp, g_digits_folded, folded_len, plan, batch, x, xl, logits, ll, feat, fl, \
                      scratch, sl)
  CHECK(FWD(NULL, G_DIGITS_FOLDED_LEN, LOW, 1, IMG, K, NULL, 0, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  CHECK(FWD(&w, G_DIGITS_FOLDED_LEN, (gpsa_convit_plan)7, 1, IMG, K, NULL, 0, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  CHECK(FWD(&w, G_DIGITS_FOLDED_LEN, LOW, 1, IMG - 1, K, NULL, 0, scratch_len) ==
        GPSA_SHAPE_MISMATCH);
  CHECK(FWD(&w, G_DIGITS_FOLDED_LEN, LOW, 1, IMG, K + 1, NULL, 0, scratch_len) ==
        GPSA_SHAPE_MISMATCH);
  CHECK(FWD(&w, G_DIGITS_FOLDED_LEN, LOW, 1, IMG, K, NULL, 5, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  CHECK(FWD(&w, G_DIGITS_FOLDED_LEN, LOW, 1, IMG, K, scratch, 5, scratch_len) ==
        GPSA_SHAPE_MISMATCH);
  CHECK(FWD(&w, G_DIGITS_FOLDED_LEN, LOW, 1, IMG, K, NULL, 0, scratch_len - 1) ==
        GPSA_BUFFER_TOO_SMALL);
  CHECK(FWD(&w, G_DIGITS_FOLDED_LEN - 1, LOW, 1, IMG, K, NULL, 0, scratch_len) ==
        GPSA_BUFFER_TOO_SMALL);
  CHECK(FWD(&w, G_DIGITS_FOLDED_LEN, LOW, 0, 0, 0, NULL, 0, scratch_len) == GPSA_OK);
  CHECK(gpsa_convit_forward(&w, g_digits_folded, G_DIGITS_FOLDED_LEN, LOW, 1, NULL, 0, logits, K,
                            NULL, 0, scratch, scratch_len) == GPSA_INVALID_ARGUMENT);
  w.block_count = G_DIGITS_DEPTH - 1;
  CHECK(FWD(&w, G_DIGITS_FOLDED_LEN, LOW, 1, IMG, K, NULL, 0, scratch_len) == GPSA_SHAPE_MISMATCH);
  w = g_digits_weights;
  w.head_weight = NULL;
  CHECK(FWD(&w, G_DIGITS_FOLDED_LEN, LOW, 1, IMG, K, NULL, 0, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
  w = g_digits_weights;
  w.config.heads = 3; /* 64 % 3 != 0 */
  CHECK(FWD(&w, G_DIGITS_FOLDED_LEN, LOW, 1, IMG, K, NULL, 0, scratch_len) ==
        GPSA_INVALID_ARGUMENT);
#undef FWD
  bad.patch_size = 3; /* 16 % 3 != 0 */
  CHECK(gpsa_convit_scratch_size(&bad, LOW, 1, &n) == GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_convit_folded_size(&bad, &n) == GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_convit_scratch_size(NULL, LOW, 1, &n) == GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_convit_scratch_size(&g_digits_weights.config, LOW, 1, NULL) == GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_convit_folded_size(NULL, &n) == GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_convit_fold(NULL, scratch, G_DIGITS_FOLDED_LEN) == GPSA_INVALID_ARGUMENT);
  CHECK(gpsa_convit_fold(&g_digits_weights, scratch, G_DIGITS_FOLDED_LEN - 1) ==
        GPSA_BUFFER_TOO_SMALL);
  CHECK(gpsa_convit_fold(&g_digits_weights, NULL, 3) == GPSA_INVALID_ARGUMENT);
}

int main(void) {
  size_t nx = 0, nref = 0, nlab = 0, len = 0, fast_len = 0, i, correct;
  float* x = read_digits("x_test.npy", "<f4", 4, &nx);
  float* ref = read_digits("logits.npy", "<f4", 4, &nref);
  long long* labels = read_digits("y_test.npy", "<i8", 8, &nlab);
  float *logits = malloc((size_t)B * K * sizeof(float)), *one = malloc(K * sizeof(float));
  float* folded = malloc(G_DIGITS_FOLDED_LEN * sizeof(float));
  float* features = malloc((size_t)G_DIGITS_TOKENS * G_DIGITS_DIM * sizeof(float));
  float* scratch = NULL;
  size_t timm_correct = 0;

  CHECK(x != NULL && ref != NULL && labels != NULL && logits != NULL && one != NULL &&
        folded != NULL && features != NULL);
  if (x == NULL || ref == NULL || labels == NULL || logits == NULL || one == NULL ||
      folded == NULL || features == NULL)
    return 1;
  CHECK(nx == (size_t)B * IMG && nref == (size_t)B * K && nlab == B);
  if (nx != (size_t)B * IMG || nref != (size_t)B * K || nlab != B) return 1;
  for (i = 0; i < B; ++i) timm_correct += (long long)argmax(ref + i * K, K) == labels[i];
  printf("timm: accuracy %lu/%d (info.json: %d)\n", (unsigned long)timm_correct, B,
         DIGITS_TIMM_CORRECT);
  CHECK(timm_correct == DIGITS_TIMM_CORRECT);

  /* the scratch: query == macro, independent of the batch, for the low-memory plan */
  CHECK(gpsa_convit_scratch_size(&g_digits_weights.config, GPSA_CONVIT_LOW_MEMORY, 1, &len) ==
        GPSA_OK);
  CHECK(len == G_DIGITS_SCRATCH_LEN);
  CHECK(gpsa_convit_scratch_size(&g_digits_weights.config, GPSA_CONVIT_LOW_MEMORY, B, &len) ==
        GPSA_OK);
  CHECK(len == G_DIGITS_SCRATCH_LEN);
  CHECK(gpsa_convit_scratch_size(&g_digits_weights.config, GPSA_CONVIT_FAST, B, &fast_len) ==
        GPSA_OK);
  printf("scratch: low memory %lu floats (%lu bytes, any batch); fast %lu floats for B = %d\n",
         (unsigned long)len, (unsigned long)len * 4, (unsigned long)fast_len, B);
  scratch = malloc((fast_len > len ? fast_len : len) * sizeof(float));
  CHECK(scratch != NULL);
  if (scratch == NULL) return 1;

  /* the header's folded state is what gpsa_convit_fold computes at run time, bit for bit */
  CHECK(gpsa_convit_folded_size(&g_digits_weights.config, &len) == GPSA_OK);
  CHECK(len == G_DIGITS_FOLDED_LEN);
  CHECK(gpsa_convit_fold(&g_digits_weights, folded, G_DIGITS_FOLDED_LEN) == GPSA_OK);
  CHECK(memcmp(folded, g_digits_folded, sizeof g_digits_folded) == 0);

  correct = check_plan(GPSA_CONVIT_LOW_MEMORY, "low memory", x, ref, labels, logits, scratch,
                       G_DIGITS_SCRATCH_LEN);
  CHECK(correct == DIGITS_TIMM_CORRECT);
  /* one image at a time gives the batch's bits; features: the head reads the class token */
  for (i = 0; i < B; i += 37) {
    CHECK(gpsa_convit_forward(&g_digits_weights, g_digits_folded, G_DIGITS_FOLDED_LEN,
                              GPSA_CONVIT_LOW_MEMORY, 1, x + i * IMG, IMG, one, K, features,
                              (size_t)G_DIGITS_TOKENS * G_DIGITS_DIM, scratch,
                              G_DIGITS_SCRATCH_LEN) == GPSA_OK);
    CHECK(memcmp(one, logits + i * K, sizeof(float) * K) == 0);
    { /* head(features[class token]) in double equals the logits */
      size_t k, j;
      for (k = 0; k < K; ++k) {
        double acc = g_digits_head_bias[k];
        for (j = 0; j < G_DIGITS_DIM; ++j)
          acc += (double)g_digits_head_weight[k * G_DIGITS_DIM + j] * (double)features[j];
        CHECK(fabs(acc - one[k]) <= 1e-5 * (fabs(acc) + 1.0));
      }
    }
  }
  check_errors(x, logits, scratch, G_DIGITS_SCRATCH_LEN);
  correct = check_plan(GPSA_CONVIT_FAST, "fast", x, ref, labels, logits, scratch, fast_len);
  CHECK(correct == DIGITS_TIMM_CORRECT);

  free(x);
  free(ref);
  free(labels);
  free(logits);
  free(one);
  free(folded);
  free(features);
  free(scratch);
  if (failures != 0) {
    fprintf(stderr, "convit_digits_test: %d check(s) failed\n", failures);
    return 1;
  }
  printf("convit_digits_test: all checks passed\n");
  return 0;
}
