/* SPDX-License-Identifier: MIT */
/* fw_measure.h: what the whole-model firmware images measure on the target -- instructions per
 * call (SysTick under QEMU -icount shift=0) and RAM (.data + .bss, heap in use, stack depth by
 * painting), checked against the linker script's reservations. */
#ifndef FW_MEASURE_H
#define FW_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Starts SysTick (24-bit, processor clock) and calibrates it against a loop of known length:
 * returns instructions per tick (40 under -icount shift=0, where QEMU's virtual clock advances
 * 1 ns per instruction and SysTick runs at 25 MHz), after printing the calibration line; 0 when
 * the counter did not move. */
double fw_ticks_start(void);
uint32_t fw_ticks_now(void);
/* Ticks from a to b (the counter counts down and wraps at 2^24: exact below one wrap). */
uint32_t fw_ticks_between(uint32_t a, uint32_t b);

/* Paints `window` bytes of stack below the caller's frame `base` (main's), leaving 256 bytes;
 * fw_stack_high_water then returns the bytes used below base since. */
void fw_paint_stack(uintptr_t base, size_t window);
size_t fw_stack_high_water(void);

/* Prints the image's RAM (.data + .bss with the application's buffers: the forward's scratch,
 * one image, its logits, in bytes; heap in use; stack used) and checks that heap and stack stay
 * within the linker script's reservations and that .data + .bss + the reservations fit the
 * part's RAM. */
void fw_check_ram(size_t scratch, size_t image, size_t logits);

#ifdef __cplusplus
}
#endif

#endif /* FW_MEASURE_H */
