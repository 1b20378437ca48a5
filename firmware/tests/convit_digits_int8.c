/* SPDX-License-Identifier: MIT */
/* Firmware image: the trained digits ConViT in int8 classifies its 360 test images on the
 * Cortex-M4, linked against a small part's memory map (part_256k_64k.ld: 256 KB flash, 64 KB
 * RAM; the link fails if model, code, scratch, heap or stack do not fit).
 *
 * The model is golden/digits_int8_model.h, exactly what `gpsa export --int8 --calibration
 * tests/golden/digits/convit_digits/x_calib.npy --weights .../model.safetensors --name
 * digits_int8 --flash 256K --ram 64K` writes: int8 weight codes, scales, float parameters, the
 * calibration's amax and the folded state as const data in flash. The test images, labels and
 * the host's int8 logits (tools/int8_reference.py model, which the host's gpsa gives bit for
 * bit) are digits_int8_testdata.h (section .testdata, outside the part's flash). Each image is
 * copied into a RAM buffer and classified with gpsa_convit_int8_forward (the inner products on
 * the DSP extension: SXTB16 + SMLAD) in a static scratch of DIGITS_INT8_SCRATCH_LEN floats.
 * Checked:
 *   - the scratch query equals the header's constant; the int8 backend is "dsp";
 *   - every image's logits equal the host's int8 logits bit for bit, so the accuracy is the
 *     host's (353/360);
 *   - RAM: .data + .bss + heap used + stack used (painted) within what the part has.
 * Measured: instructions per image (SysTick under QEMU -icount shift=0, as convit_digits). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "digits_int8_model.h" /* gpsa export --int8 output; includes gpsa/gpsa.h */
#include "digits_int8_testdata.h"
#include "fw_check.h"
#include "fw_measure.h"

enum { K = DIGITS_INT8_CLASSES, IMG = DIGITS_INT8_IMAGE_LEN, COUNT = DIGITS_TEST_COUNT };

/* RAM of the application: the forward's scratch, one image, its logits. */
static float scratch[DIGITS_INT8_SCRATCH_LEN];
static float image[IMG];
static float logits[K];

static size_t argmax(const float* v, size_t n) {
  size_t i, best = 0;
  for (i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

int main(void) {
  size_t len = 0, i, mismatch = 0, images_differing = 0, correct = 0, host_correct = 0;
  uint64_t total_ticks = 0;
  uint32_t t0, t1, min_ticks = 0xFFFFFFFFu, max_ticks = 0;
  double per_tick;
  gpsa_status s = GPSA_OK;

  fw_paint_stack((uintptr_t)__builtin_frame_address(0), 7 * 1024);
  printf(
      "convit_digits_int8: %d test images, model %dx%dx%d, D = %d, H = %d, depth %d (%d GPSA), "
      "int8 codes %d B, floats %d B\n",
      COUNT, DIGITS_INT8_CHANNELS, DIGITS_INT8_IMAGE_SIZE, DIGITS_INT8_IMAGE_SIZE, DIGITS_INT8_DIM,
      DIGITS_INT8_HEADS, DIGITS_INT8_DEPTH, DIGITS_INT8_LOCAL_UP_TO_LAYER, DIGITS_INT8_CODE_BYTES,
      DIGITS_INT8_FLOAT_BYTES);
  fw_check_true("test data shape == the model's (image length, classes)",
                DIGITS_TEST_IMAGE_LEN == IMG && DIGITS_TEST_CLASSES == K);
  s = gpsa_convit_int8_scratch_size(&digits_int8_weights.config, &len);
  fw_check_true("gpsa_convit_int8_scratch_size == DIGITS_INT8_SCRATCH_LEN",
                s == GPSA_OK && len == DIGITS_INT8_SCRATCH_LEN);
  printf("int8 inner products: %s\n", gpsa_int8_backend());
  fw_check_true("the int8 inner products use the DSP extension",
                strcmp(gpsa_int8_backend(), "dsp") == 0);

  per_tick = fw_ticks_start();
  for (i = 0; i < COUNT; ++i) {
    uint32_t dt;
    size_t m = 0, j;
    const float* host = digits_test_logits + i * K;
    memcpy(image, digits_test_x + i * IMG, sizeof image);
    t0 = fw_ticks_now();
    s = gpsa_convit_int8_forward(&digits_int8_weights, 1, image, IMG, logits, K, scratch,
                                 DIGITS_INT8_SCRATCH_LEN);
    t1 = fw_ticks_now();
    dt = fw_ticks_between(t0, t1);
    total_ticks += dt;
    if (dt < min_ticks) min_ticks = dt;
    if (dt > max_ticks) max_ticks = dt;
    if (s != GPSA_OK) {
      printf("image %lu: %s\n", (unsigned long)i, gpsa_status_message(s));
      break;
    }
    for (j = 0; j < K; ++j) m += memcmp(&logits[j], &host[j], sizeof(float)) != 0;
    mismatch += m;
    images_differing += m != 0;
    correct += argmax(logits, K) == digits_test_labels[i];
    host_correct += argmax(host, K) == digits_test_labels[i];
  }
  fw_check_true("gpsa_convit_int8_forward returns GPSA_OK for every image",
                s == GPSA_OK && i == COUNT);
  fw_check_bits("logits == the host's int8 logits", mismatch, (size_t)COUNT * K);
  printf("images whose logits differ from the host's: %lu\n", (unsigned long)images_differing);
  printf("accuracy: %lu/%d = %.2f %% (host int8: %lu/%d)\n", (unsigned long)correct, COUNT,
         100.0 * (double)correct / COUNT, (unsigned long)host_correct, COUNT);
  fw_check_true("accuracy == the host's int8 accuracy", correct == host_correct);
  if (per_tick > 0.0)
    printf("instructions per image: mean %.0f, min %.0f, max %.0f (%d images, %.4g in all)\n",
           per_tick * (double)total_ticks / COUNT, per_tick * (double)min_ticks,
           per_tick * (double)max_ticks, COUNT, per_tick * (double)total_ticks);
  fw_check_ram(sizeof scratch, sizeof image, sizeof logits);
  return fw_finish("convit_digits_int8");
}
