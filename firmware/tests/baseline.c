/* SPDX-License-Identifier: MIT */
/* The baseline image: start-up code, newlib with semihosting, the report functions, no gpsa.
 * The other images' sizes minus this one's are what their tests and gpsa add (docs/firmware.md). */
#include "fw_check.h"

int main(void) {
  fw_check_true("baseline image runs", 1);
  return fw_finish("baseline");
}
