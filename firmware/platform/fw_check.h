/* SPDX-License-Identifier: MIT */
/* fw_check.h: how the firmware test images report (printf through semihosting, exit status). */
#ifndef FW_CHECK_H
#define FW_CHECK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A measured error against its bound: prints "<what>: ERR (bound TOL) ok|FAIL" and records a
 * failure unless err <= tol (NaN fails). `what` says which error, e.g. "... max abs err". */
void fw_check_err(const char* what, double err, double tol);

/* A bit-exact comparison: prints "<what>: M of COUNT elements differ" (ok when M == 0). */
void fw_check_bits(const char* what, size_t mismatches, size_t count);

/* A condition that must hold: prints "<what>: ok|FAIL". */
void fw_check_true(const char* what, int ok);

/* Prints the summary line and returns main's exit status: 0 when every check passed. */
int fw_finish(const char* image);

#ifdef __cplusplus
}
#endif

#endif /* FW_CHECK_H */
