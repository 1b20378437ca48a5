/* SPDX-License-Identifier: MIT */
/* fw_measure.c: SysTick instruction counts and RAM checks of the firmware images (fw_measure.h). */
#include "fw_measure.h"

#include <malloc.h>
#include <stdio.h>

#include "fw_check.h"

#define SYST_CSR (*(volatile uint32_t*)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t*)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t*)0xE000E018u)

uint32_t fw_ticks_now(void) { return SYST_CVR; }
uint32_t fw_ticks_between(uint32_t a, uint32_t b) { return (a - b) & 0xFFFFFFu; }

/* A loop of exactly 2 * n + 2 instructions (subs, bne per iteration; mov and the last bne). */
static void __attribute__((noinline)) spin(uint32_t n) {
  __asm__ volatile(
      "mov r0, %0\n"
      "1: subs r0, r0, #1\n"
      "bne 1b\n"
      :
      : "r"(n)
      : "r0", "cc");
}

double fw_ticks_start(void) {
  uint32_t t0, t1, calib;
  double per_tick;
  SYST_RVR = 0xFFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = 5u; /* enable, processor clock, no interrupt */
  t0 = fw_ticks_now();
  spin(1000000u);
  t1 = fw_ticks_now();
  calib = fw_ticks_between(t0, t1);
  per_tick = calib != 0 ? 2000002.0 / (double)calib : 0.0;
  printf("SysTick: %lu ticks for 2000002 instructions: %.3f instructions per tick%s\n",
         (unsigned long)calib, per_tick,
         per_tick > 39.0 && per_tick < 41.0 ? " (QEMU -icount shift=0: 1 ns each, 25 MHz SysTick)"
                                            : " (not -icount shift=0: not instruction counts)");
  return per_tick;
}

static const uint32_t paint = 0xC0FFEE11u;
static uintptr_t stack_base;
static size_t stack_window;

void __attribute__((noinline)) fw_paint_stack(uintptr_t base, size_t window) {
  uintptr_t a = (base - 256 - window) & ~(uintptr_t)3;
  stack_base = base;
  stack_window = window;
  for (; a < base - 256; a += sizeof(uint32_t)) *(volatile uint32_t*)a = paint;
}

size_t fw_stack_high_water(void) {
  uintptr_t a = (stack_base - 256 - stack_window) & ~(uintptr_t)3;
  while (a < stack_base && *(const volatile uint32_t*)a == paint) a += sizeof(uint32_t);
  return (size_t)(stack_base - a);
}

extern char __data_start__[], __bss_end__[], __ram_start__[], __ram_end__[], __stack_size__[],
    __heap_size__[];

void fw_check_ram(size_t scratch, size_t image, size_t logits) {
  const size_t used = (size_t)(__bss_end__ - __data_start__);
  const size_t stack_used = fw_stack_high_water();
  const size_t stack_reserved = (size_t)(uintptr_t)__stack_size__;
  const size_t heap_reserved = (size_t)(uintptr_t)__heap_size__;
  const struct mallinfo mi = mallinfo();
  const size_t heap_used = (size_t)mi.arena;
  const size_t ram = (size_t)(__ram_end__ - __ram_start__);
  printf(
      "RAM: .data + .bss %lu bytes (scratch %lu, image %lu, logits %lu); heap %lu bytes in use "
      "(reserved %lu); stack below main %lu bytes (reserved %lu); part RAM %lu bytes\n",
      (unsigned long)used, (unsigned long)scratch, (unsigned long)image, (unsigned long)logits,
      (unsigned long)heap_used, (unsigned long)heap_reserved, (unsigned long)stack_used,
      (unsigned long)stack_reserved, (unsigned long)ram);
  fw_check_true("RAM fit: heap in use <= the heap the linker script reserves",
                heap_used <= heap_reserved);
  fw_check_true("RAM fit: stack used < the stack the linker script reserves",
                stack_used < stack_reserved && stack_used < stack_window);
  fw_check_true("RAM fit: .data + .bss + reserved heap + reserved stack <= the part's RAM",
                used + heap_reserved + stack_reserved <= ram);
  printf("RAM: .data + .bss + reserved heap and stack = %lu of %lu bytes (%.1f %%)\n",
         (unsigned long)(used + heap_reserved + stack_reserved), (unsigned long)ram,
         100.0 * (double)(used + heap_reserved + stack_reserved) / (double)ram);
}
