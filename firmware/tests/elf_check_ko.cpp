// SPDX-License-Identifier: MIT
// Breaks, on purpose, each rule firmware/tools/elf_check.py enforces (firmware.elf_check_ko
// expects the check to fail and to name every violation): a gpsa object in .bss, a copy of a
// gpsa table in .data, and a C++ dynamic initialiser in .init_array. Built, never run.
#include <cstddef>

#include "gpsa/rel_indices.hpp"

namespace gpsa {
int ko_counter;                                               // writable state in namespace gpsa
float ko_table_copy[12] = {rel_indices_v<2>(0, 3, 2), 1.0f};  // a table in RAM (.data)
}  // namespace gpsa

volatile int ko_seed = 3;
int ko_dynamic = ko_seed * 2;  // not a constant: initialised by start-up code

int main() {
  gpsa::ko_counter += ko_dynamic;
  return static_cast<int>(gpsa::ko_table_copy[0]) + gpsa::ko_counter;
}
