/* SPDX-License-Identifier: MIT */
/* Start-up code for the firmware test images on QEMU's mps2-an386 (Cortex-M4F).
 *
 * The vector table sits at 0x0 (section .vectors, placed first by mps2_an386.ld). On reset the
 * core loads the stack pointer from entry 0 and jumps to Reset_Handler, which enables the FPU,
 * copies .data from flash to RAM, zeroes .bss and calls newlib's _start (rdimon-crt0: semihosting
 * set-up, constructors, main, exit(main's status)). Faults print a line through semihosting and
 * stop QEMU with a failure status, so a crashing image fails its test instead of hanging. */
#include <stdint.h>
#include <string.h>

extern uint32_t __data_start__[], __data_end__[], __data_load__[];
extern uint32_t __bss_start__[], __bss_end__[];
extern uint32_t __stack[];
extern void _start(void) __attribute__((noreturn));

void Reset_Handler(void) __attribute__((noreturn));
void Fault_Handler(void) __attribute__((noreturn));

/* ARM semihosting call: operation in r0, argument in r1, result in r0 (BKPT 0xAB on M-profile). */
static uint32_t semihost(uint32_t op, const void* arg) {
  register uint32_t r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

enum { SYS_WRITE0 = 0x04, SYS_EXIT = 0x18 };
enum { ADP_Stopped_RunTimeErrorUnknown = 0x20023 }; /* QEMU then exits with status 1 */

void Fault_Handler(void) {
  semihost(SYS_WRITE0, "firmware: fault (HardFault/MemManage/BusFault/UsageFault/NMI)\n");
  for (;;) semihost(SYS_EXIT, (const void*)(uintptr_t)ADP_Stopped_RunTimeErrorUnknown);
}

void Reset_Handler(void) {
  /* CPACR: full access to coprocessors CP10 and CP11 (the FPU) before any float instruction. */
  volatile uint32_t* const cpacr = (volatile uint32_t*)0xE000ED88u;
  *cpacr |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  memcpy(__data_start__, __data_load__, (size_t)((char*)__data_end__ - (char*)__data_start__));
  memset(__bss_start__, 0, (size_t)((char*)__bss_end__ - (char*)__bss_start__));
  _start();
}

/* Entry 0 is the initial stack pointer, the others handler addresses (Thumb bit set by the
 * linker). External interrupts stay disabled in these images, so the 16 system entries suffice. */
typedef union vector_entry {
  void (*handler)(void);
  uint32_t* stack;
} vector_entry;

__attribute__((section(".vectors"), used)) const vector_entry fw_vectors[16] = {
    {.stack = __stack},         /* initial SP: top of RAM */
    {.handler = Reset_Handler}, /* reset */
    {.handler = Fault_Handler}, /* NMI */
    {.handler = Fault_Handler}, /* HardFault */
    {.handler = Fault_Handler}, /* MemManage */
    {.handler = Fault_Handler}, /* BusFault */
    {.handler = Fault_Handler}, /* UsageFault */
    {0},
    {0},
    {0},
    {0},
    {.handler = Fault_Handler}, /* SVCall: unused */
    {.handler = Fault_Handler}, /* DebugMonitor */
    {0},
    {.handler = Fault_Handler}, /* PendSV: unused */
    {.handler = Fault_Handler}, /* SysTick: unused */
};
