/* SPDX-License-Identifier: MIT */
/* Reporting for the firmware test images: each check prints one line through semihosting
 * (newlib's printf with --specs=rdimon.specs); main returns fw_finish(), QEMU's exit status. */
#include "fw_check.h"

#include <stdio.h>

static unsigned fw_checks, fw_failures;

static void record(int ok) {
  ++fw_checks;
  if (!ok) ++fw_failures;
}

void fw_check_err(const char* what, double err, double tol) {
  const int ok = err <= tol; /* false for NaN */
  printf("%s: %.3g (bound %.3g) %s\n", what, err, tol, ok ? "ok" : "FAIL");
  record(ok);
}

void fw_check_bits(const char* what, size_t mismatches, size_t count) {
  printf("%s: %lu of %lu elements differ (bit-exact) %s\n", what, (unsigned long)mismatches,
         (unsigned long)count, mismatches == 0 ? "ok" : "FAIL");
  record(mismatches == 0);
}

void fw_check_true(const char* what, int ok) {
  printf("%s: %s\n", what, ok ? "ok" : "FAIL");
  record(ok);
}

int fw_finish(const char* image) {
  printf("%s: %u checks, %u failed\n", image, fw_checks, fw_failures);
  return fw_failures == 0 && fw_checks > 0 ? 0 : 1;
}
