/* SPDX-License-Identifier: MIT */
/* Firmware image: the trained digits ConViT classifies its 360 test images on the Cortex-M4,
 * linked against a real part's memory map (part_1m_128k.ld: 1 MB flash, 128 KB RAM; the link
 * fails if model, code, scratch, heap or stack do not fit), as a C firmware would run it.
 *
 * The model is golden/digits_model.h, exactly what `gpsa export --weights
 * tests/golden/digits/convit_digits/model.safetensors --name digits_model --flash 1M --ram 128K`
 * writes: every parameter and the folded positional state as const data in flash, used in place
 * through digits_model_weights. The test images, their labels and timm's logits are
 * digits_testdata.h (written at build time from tests/golden/digits, section .testdata: outside
 * the part's flash). Each image is copied into a RAM buffer (as a sensor's frame would be) and
 * classified with GPSA_CONVIT_LOW_MEMORY and a static scratch of DIGITS_MODEL_SCRATCH_LEN floats.
 * Checked:
 *   - the scratch query equals the header's constant; gpsa_convit_fold on the target (soft
 *     double) gives the header's folded state bit for bit (the x86 host's fold);
 *   - every image's top-1 equals timm's, max |logits - timm| <= 1e-5 * max |timm's logits|,
 *     and the accuracy equals timm's on these labels (351/360, as the host C API test shows);
 *   - RAM: .data + .bss + heap used + stack used (painted) within what the part has.
 * Measured: instructions per image, read from SysTick while QEMU runs with -icount shift=0
 * (its virtual clock then advances 1 ns per instruction; the image calibrates ticks against a
 * loop of known length). An instruction count, not a cycle count: QEMU models no pipeline,
 * wait states or memory timing. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "digits_model.h" /* gpsa export output; includes gpsa/gpsa.h */
#include "digits_testdata.h"
#include "fw_check.h"
#include "fw_measure.h"

#if !defined(FW_DIGITS_COUNT)
#define FW_DIGITS_COUNT DIGITS_TEST_COUNT
#endif
enum { K = DIGITS_MODEL_CLASSES, IMG = DIGITS_MODEL_IMAGE_LEN, COUNT = FW_DIGITS_COUNT };

/* RAM of the application: the forward's scratch, one image, its logits. */
static float scratch[DIGITS_MODEL_SCRATCH_LEN];
static float image[IMG];
static float logits[K];

enum { STACK_WINDOW = 11 * 1024 };

static size_t argmax(const float* v, size_t n) {
  size_t i, best = 0;
  for (i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

int main(void) {
  size_t len = 0, i, j, same_top1 = 0, correct = 0, timm_correct = 0, mismatch = 0;
  double ref_max = 0.0, err = 0.0, per_tick;
  uint64_t total_ticks = 0;
  uint32_t t0, t1, min_ticks = 0xFFFFFFFFu, max_ticks = 0;
  gpsa_status s;

  fw_paint_stack((uintptr_t)__builtin_frame_address(0), STACK_WINDOW);
  printf("convit_digits: %d test images, model %dx%dx%d, D = %d, H = %d, depth %d (%d GPSA)\n",
         COUNT, DIGITS_MODEL_CHANNELS, DIGITS_MODEL_IMAGE_SIZE, DIGITS_MODEL_IMAGE_SIZE,
         DIGITS_MODEL_DIM, DIGITS_MODEL_HEADS, DIGITS_MODEL_DEPTH, DIGITS_MODEL_LOCAL_UP_TO_LAYER);
  fw_check_true("test data shape == the model's (image length, classes)",
                DIGITS_TEST_IMAGE_LEN == IMG && DIGITS_TEST_CLASSES == K);

  s = gpsa_convit_scratch_size(&digits_model_weights.config, GPSA_CONVIT_LOW_MEMORY, 1, &len);
  fw_check_true("gpsa_convit_scratch_size == DIGITS_MODEL_SCRATCH_LEN (GPSA_CONVIT_SCRATCH_LEN)",
                s == GPSA_OK && len == DIGITS_MODEL_SCRATCH_LEN);
  /* the fold on the target, in the scratch buffer (free before the forward) */
  s = gpsa_convit_fold(&digits_model_weights, scratch, DIGITS_MODEL_FOLDED_LEN);
  for (i = 0; i < DIGITS_MODEL_FOLDED_LEN; ++i)
    mismatch += memcmp(&scratch[i], &digits_model_folded[i], sizeof(float)) != 0;
  fw_check_true("gpsa_convit_fold returns GPSA_OK", s == GPSA_OK);
  fw_check_bits("fold on the target == the exported header's (host)", mismatch,
                DIGITS_MODEL_FOLDED_LEN);

  per_tick = fw_ticks_start();

  for (i = 0; i < (size_t)COUNT * K; ++i)
    if (digits_test_logits[i] > ref_max || -digits_test_logits[i] > ref_max)
      ref_max = digits_test_logits[i] > 0 ? digits_test_logits[i] : -digits_test_logits[i];
  for (i = 0; i < COUNT; ++i) {
    uint32_t dt;
    const float* ref = digits_test_logits + i * K;
    size_t top;
    memcpy(image, digits_test_x + i * IMG, sizeof image);
    t0 = fw_ticks_now();
    s = gpsa_convit_forward(&digits_model_weights, digits_model_folded, DIGITS_MODEL_FOLDED_LEN,
                            GPSA_CONVIT_LOW_MEMORY, 1, image, IMG, logits, K, NULL, 0, scratch,
                            DIGITS_MODEL_SCRATCH_LEN);
    t1 = fw_ticks_now();
    dt = fw_ticks_between(t0, t1);
    total_ticks += dt;
    if (dt < min_ticks) min_ticks = dt;
    if (dt > max_ticks) max_ticks = dt;
    if (s != GPSA_OK) {
      printf("image %lu: %s\n", (unsigned long)i, gpsa_status_message(s));
      break;
    }
    top = argmax(logits, K);
    same_top1 += top == argmax(ref, K);
    correct += top == digits_test_labels[i];
    timm_correct += argmax(ref, K) == digits_test_labels[i];
    for (j = 0; j < K; ++j) {
      const double d = logits[j] > ref[j] ? (double)logits[j] - ref[j] : (double)ref[j] - logits[j];
      if (!(d <= err)) err = d;
    }
#if defined(FW_DIGITS_PRINT_LOGITS)
    printf("logits %lu:", (unsigned long)i);
    for (j = 0; j < K; ++j) printf(" %.9g", (double)logits[j]);
    printf("\n");
#endif
  }
  fw_check_true("gpsa_convit_forward returns GPSA_OK for every image", s == GPSA_OK && i == COUNT);
  printf("top-1 == timm's on %lu of %d images\n", (unsigned long)same_top1, COUNT);
  fw_check_true("every image's top-1 == timm's (the host C API's)", same_top1 == COUNT);
  printf("logits vs timm's logits.npy: max |logits.npy| %.3f, max abs err / max = %.3g\n", ref_max,
         err / ref_max);
  fw_check_err("logits vs timm's logits.npy: max abs err", err, 1e-5 * ref_max);
  printf("accuracy: %lu/%d = %.2f %% (timm on these labels: %lu/%d)\n", (unsigned long)correct,
         COUNT, 100.0 * (double)correct / COUNT, (unsigned long)timm_correct, COUNT);
  fw_check_true("accuracy == timm's", correct == timm_correct);
  if (per_tick > 0.0)
    printf("instructions per image: mean %.0f, min %.0f, max %.0f (%d images, %.4g in all)\n",
           per_tick * (double)total_ticks / COUNT, per_tick * (double)min_ticks,
           per_tick * (double)max_ticks, COUNT, per_tick * (double)total_ticks);

  fw_check_ram(sizeof scratch, sizeof image, sizeof logits);
  return fw_finish("convit_digits");
}
