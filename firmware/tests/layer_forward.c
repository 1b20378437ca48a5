/* SPDX-License-Identifier: MIT */
/* Firmware image: a whole GPSA layer forward on the Cortex-M4 through the C API
 * (gpsa_layer_scratch_size, gpsa_layer_forward), one golden case per image (FW_LAYER_S4_SHARP or
 * FW_LAYER_CONVIT_TINY).
 *
 * The layer's weights and folded positional state come from the header `gpsa fold
 * --with-weights` wrote on the host (golden/<case>_layer.h: const arrays, in flash, used in
 * place through its <name>_weights[] and <name>_layers[] views); x, PyTorch's y and some of
 * PyTorch's attention rows from golden/<case>_io.h (golden_headers.py, from the .npy files).
 * Checked, each within the tolerance the host tests use (cases.json):
 *   - the size query against the documented formula, computed here;
 *   - y of the fused forward (no N x N matrix) vs y.npy: max abs err <= 1e-4 * max |y.npy|;
 *   - the forward with the attention output: y again, and attn rows vs attn.npy (abs 1e-5);
 *   - in place (y = x in RAM): the same bits as the fused forward;
 *   - a few error statuses (the host test checks them all).
 * It prints the scratch it needs and the RAM it used: .data + .bss, and the stack's high-water
 * mark (the stack is painted before the calls), and checks that they fit the board's RAM. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fw_check.h"
#include "gpsa/gpsa.h"

#if defined(FW_LAYER_S4_SHARP)
#include "s4_sharp_io.h"
#include "s4_sharp_layer.h" /* after gpsa.h: s4_sharp_layer_weights[], _layers[] */
#define IMAGE "layer_s4_sharp"
#define IO_MAC(n) S4_SHARP_IO_##n
#define LAYER_MAC(n) S4_SHARP_LAYER_##n
#define golden_x s4_sharp_io_x
#define golden_y s4_sharp_io_y
#define golden_attn s4_sharp_io_attn
#define golden_attn_query s4_sharp_io_attn_query
#define layer_weights s4_sharp_layer_weights
#define layer_folded s4_sharp_layer_layers
#elif defined(FW_LAYER_CONVIT_TINY)
#include "convit_tiny_io.h"
#include "convit_tiny_layer.h"
#define IMAGE "layer_convit_tiny"
#define IO_MAC(n) CONVIT_TINY_IO_##n
#define LAYER_MAC(n) CONVIT_TINY_LAYER_##n
#define golden_x convit_tiny_io_x
#define golden_y convit_tiny_io_y
#define golden_attn convit_tiny_io_attn
#define golden_attn_query convit_tiny_io_attn_query
#define layer_weights convit_tiny_layer_weights
#define layer_folded convit_tiny_layer_layers
#else
#error "define FW_LAYER_S4_SHARP or FW_LAYER_CONVIT_TINY"
#endif

/* The shapes, from the golden case (cases.json via the io header). */
enum {
  S = IO_MAC(GRID),
  H = IO_MAC(HEADS),
  D = IO_MAC(DIM),
  B = IO_MAC(BATCH),
  N = S * S,
  HD = D / H,
  ROWS = IO_MAC(ATTN_ROWS)
};
/* Buffer lengths as docs/firmware.md gives them: x = y = B*N*D, attn = B*H*N*N; scratch at least
 * B*N*3D (q, k, v of the batch) + 2*N*d (one head's k and v, packed) + min(64, N)*(N + 1) (a
 * block of scores and their sums), the exact count depending on the build's GEMM panel width. */
#define X_LEN ((size_t)B * N * D)
#define ATTN_LEN ((size_t)B * H * N * N)
#define QKV_FLOATS ((size_t)B * N * 3 * D)
#define WORK_MIN_FLOATS ((size_t)2 * N * HD + (size_t)(N < 64 ? N : 64) * (N + 1))
/* the golden (B*N, D) arrays as flat float pointers */
#define X_REF ((const float*)golden_x)
#define Y_REF ((const float*)golden_y)

static float y[X_LEN];                                       /* fused forward */
static float y2[X_LEN];                                      /* with attn; then in place */
static float attn[ATTN_LEN];                                 /* (B, H, N, N) */
static float scratch[GPSA_LAYER_SCRATCH_LEN(H, D, S, S, B)]; /* gpsa.h's compile-time size */
#define SCRATCH_BUF (sizeof scratch / sizeof scratch[0])

/* Linker-script symbols (platform/mps2_an386.ld): addresses only. The board's data RAM is
 * [__ram_start__, __ram_end__) (4 MB on mps2-an386); __stack_size__'s address is the stack the
 * script reserves above .bss. */
extern char __data_start__[], __bss_end__[], __ram_start__[], __ram_end__[], __stack_size__[];

/* The stack's high-water mark below main's frame: a window under it is painted first, and
 * afterwards the lowest word no longer painted shows how deep the calls went. (rdimon's
 * start-up code puts the stack where QEMU's semihosting HEAPINFO says, not at the linker
 * script's __stack: the window is taken from the frame address, not from linker symbols.) */
enum { STACK_WINDOW = 48 * 1024 };
static const uint32_t paint = 0xC0FFEE11u;
static uintptr_t stack_base; /* main's frame */

static void paint_stack(uintptr_t base) {
  uintptr_t a = (base - 256 - STACK_WINDOW) & ~(uintptr_t)3;
  stack_base = base;
  for (; a < base - 256; a += sizeof(uint32_t)) *(volatile uint32_t*)a = paint;
}

static size_t stack_high_water(void) {
  uintptr_t a = (stack_base - 256 - STACK_WINDOW) & ~(uintptr_t)3;
  while (a < stack_base && *(const volatile uint32_t*)a == paint) a += sizeof(uint32_t);
  return (size_t)(stack_base - a);
}

static double max_abs(const float* a, size_t n) {
  double m = 0.0;
  size_t i;
  for (i = 0; i < n; ++i) {
    const double v = a[i] < 0 ? -(double)a[i] : (double)a[i];
    if (!(v <= m)) m = v; /* NaN propagates */
  }
  return m;
}

static double max_abs_diff(const float* a, const float* b, size_t n) {
  double m = 0.0;
  size_t i;
  for (i = 0; i < n; ++i) {
    const double d = (double)a[i] - (double)b[i];
    const double v = d < 0 ? -d : d;
    if (!(v <= m)) m = v;
  }
  return m;
}

static size_t bit_mismatches(const float* a, const float* b, size_t n) {
  size_t bad = 0, i;
  for (i = 0; i < n; ++i) bad += memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return bad;
}

/* y against y.npy: prints the error relative to max |y.npy| and checks the golden bound. */
static void check_y(const char* what, const float* got) {
  char line[160];
  const double ref_max = max_abs(Y_REF, X_LEN);
  const double err = max_abs_diff(got, Y_REF, X_LEN);
  printf("%s: max |y.npy| %.4g, max abs err / max |y.npy| = %.3g (bound %.0e)\n", what, ref_max,
         err / ref_max, IO_MAC(Y_REL_TOL));
  snprintf(line, sizeof line, "%s: max abs err", what);
  fw_check_err(line, err, IO_MAC(Y_REL_TOL) * ref_max);
}

int main(void) {
  const gpsa_layer_dims dims = {H, D, S, S, B};
  size_t scratch_len = 0, b, h, r;
  double attn_err = 0.0;
  gpsa_status s;

  paint_stack((uintptr_t)__builtin_frame_address(0));
  printf(IMAGE ": golden case %s, grid %dx%d, H = %d, D = %d, batch %d\n", IO_MAC(CASE), S, S, H, D,
         B);
  fw_check_true("generated header matches the case (heads, dim, grid)",
                LAYER_MAC(HEADS) == H && LAYER_MAC(DIM) == D && LAYER_MAC(ROWS) == S &&
                    LAYER_MAC(COLS) == S && LAYER_MAC(LAYERS) == 1);

  s = gpsa_layer_scratch_size(&dims, 1, &scratch_len);
  fw_check_true("gpsa_layer_scratch_size returns GPSA_OK", s == GPSA_OK);
  fw_check_true("gpsa_layer_scratch_size: at least the documented parts",
                scratch_len >= QKV_FLOATS + WORK_MIN_FLOATS);
  fw_check_true(
      "generated weights view: heads, dim, no pre-packed weights",
      layer_weights[0].heads == H && layer_weights[0].dim == D && layer_weights[0].packed == NULL);
  fw_check_true("GPSA_LAYER_SCRATCH_LEN (the static buffer's size) >= gpsa_layer_scratch_size's",
                SCRATCH_BUF >= scratch_len);
  printf(
      "scratch: %lu floats = %lu bytes (q, k, v of the batch %lu + per-head work %lu floats); "
      "static buffer %lu floats\n",
      (unsigned long)scratch_len, (unsigned long)(scratch_len * sizeof(float)),
      (unsigned long)QKV_FLOATS, (unsigned long)(scratch_len - QKV_FLOATS),
      (unsigned long)SCRATCH_BUF);

  /* the fused forward: no N x N matrix */
  s = gpsa_layer_forward(&layer_weights[0], &layer_folded[0], B, X_REF, X_LEN, y, X_LEN, NULL, 0,
                         scratch, SCRATCH_BUF);
  fw_check_true("gpsa_layer_forward (attn NULL) returns GPSA_OK", s == GPSA_OK);
  check_y("y (fused) vs PyTorch y.npy", y);

  /* with the attention output */
  s = gpsa_layer_forward(&layer_weights[0], &layer_folded[0], B, X_REF, X_LEN, y2, X_LEN, attn,
                         ATTN_LEN, scratch, SCRATCH_BUF);
  fw_check_true("gpsa_layer_forward (attn output) returns GPSA_OK", s == GPSA_OK);
  check_y("y (with attn) vs PyTorch y.npy", y2);
  for (b = 0; b < B; ++b)
    for (h = 0; h < H; ++h)
      for (r = 0; r < ROWS; ++r) {
        const float* got = attn + ((b * H + h) * N + (size_t)golden_attn_query[r]) * N;
        const double e = max_abs_diff(got, golden_attn[(b * H + h) * ROWS + r], N);
        if (!(e <= attn_err)) attn_err = e;
      }
  printf("attn rows compared: %d query patches x %d heads x %d items\n", ROWS, H, B);
  fw_check_err("attn vs PyTorch attn.npy rows: max abs err", attn_err, IO_MAC(ATTN_TOL));

  /* in place: x copied to RAM, y written over it */
  memcpy(y2, X_REF, sizeof y2);
  s = gpsa_layer_forward(&layer_weights[0], &layer_folded[0], B, y2, X_LEN, y2, X_LEN, NULL, 0,
                         scratch, SCRATCH_BUF);
  fw_check_true("gpsa_layer_forward in place returns GPSA_OK", s == GPSA_OK);
  fw_check_bits("in place == fused forward", bit_mismatches(y2, y, X_LEN), X_LEN);

  /* a few errors (tests/c_api checks every one on the host) */
  fw_check_true("scratch one float short: GPSA_BUFFER_TOO_SMALL",
                gpsa_layer_forward(&layer_weights[0], &layer_folded[0], B, X_REF, X_LEN, y2, X_LEN,
                                   NULL, 0, scratch, scratch_len - 1) == GPSA_BUFFER_TOO_SMALL);
  fw_check_true("NULL weights: GPSA_INVALID_ARGUMENT",
                gpsa_layer_forward(NULL, &layer_folded[0], B, X_REF, X_LEN, y2, X_LEN, NULL, 0,
                                   scratch, SCRATCH_BUF) == GPSA_INVALID_ARGUMENT);
  fw_check_true(
      "y one float short: GPSA_SHAPE_MISMATCH",
      gpsa_layer_forward(&layer_weights[0], &layer_folded[0], B, X_REF, X_LEN, y2, X_LEN - 1, NULL,
                         0, scratch, SCRATCH_BUF) == GPSA_SHAPE_MISMATCH);

  {
    const uintptr_t ram0 = (uintptr_t)__ram_start__, ram1 = (uintptr_t)__ram_end__;
    const size_t static_ram = (size_t)((uintptr_t)__bss_end__ - (uintptr_t)__data_start__);
    const size_t stack_used = stack_high_water(), reserved = (size_t)(uintptr_t)__stack_size__;
    const size_t total = static_ram + reserved;
    printf(
        "RAM: .data + .bss %lu bytes (this image's buffers: y, y2 %lu each, attn %lu, "
        "scratch %lu); stack below main %lu bytes%s (main's frame at 0x%08lx); board data "
        "RAM %lu bytes at 0x%08lx, stack reserved there %lu bytes\n",
        (unsigned long)static_ram, (unsigned long)(X_LEN * sizeof(float)),
        (unsigned long)(ATTN_LEN * sizeof(float)), (unsigned long)(SCRATCH_BUF * sizeof(float)),
        (unsigned long)stack_used,
        stack_used >= STACK_WINDOW ? " (the whole painted window: more)" : "",
        (unsigned long)stack_base, (unsigned long)(ram1 - ram0), (unsigned long)ram0,
        (unsigned long)reserved);
    /* RAM fit on the board: the static buffers (scratch included) are .data + .bss in the 4 MB
     * data RAM, and the linker script reserves __stack_size__ above them for the stack a device
     * starts with (vector table: SP = top of that RAM); the link fails if they do not fit. Under
     * QEMU, rdimon's start-up code moves the stack to where semihosting's HEAPINFO says (the
     * top of the board's 16 MB PSRAM at 0x21000000), so the measured depth is checked against
     * the reservation, and the live stack against .data/.bss (no overlap). */
    fw_check_true(
        "RAM fit: the scratch gpsa_layer_scratch_size asks for is a static buffer in RAM",
        (uintptr_t)scratch >= ram0 && (uintptr_t)(scratch + scratch_len) <= (uintptr_t)__bss_end__);
    fw_check_true("RAM fit: stack used < the stack the linker script reserves",
                  stack_used < reserved && stack_used < STACK_WINDOW);
    fw_check_true("RAM fit: the live stack does not overlap .data/.bss",
                  stack_base - stack_used >= (uintptr_t)__bss_end__ ||
                      stack_base <= (uintptr_t)__data_start__);
    fw_check_true("RAM fit: .data + .bss + reserved stack <= the board's data RAM",
                  static_ram + reserved <= ram1 - ram0);
    printf("RAM: .data + .bss + reserved stack = %lu of %lu bytes (%.1f %%)\n",
           (unsigned long)total, (unsigned long)(ram1 - ram0),
           100.0 * (double)total / (double)(ram1 - ram0));
  }
  return fw_finish(IMAGE);
}
