# SPDX-License-Identifier: MIT
# Cross toolchain: Debian's arm-none-eabi GCC 12 with newlib, bare metal (no OS).
#
#   cmake --preset cortex-m4            (this file + Cortex-M4F flags, see CMakePresets.json)
#   cmake -B build/m7 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/arm-none-eabi.cmake \
#         "-DGPSA_ARM_CPU_FLAGS=-mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard"
#
# GPSA_ARM_CPU_FLAGS picks the core and float ABI for compiling and linking; it also selects
# newlib's multilib (arm-none-eabi-gcc <flags> -print-multi-directory). Packages: gcc-arm-none-eabi,
# libnewlib-arm-none-eabi, libstdc++-arm-none-eabi-dev (C++ headers; gpsa needs no libstdc++.a).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(GPSA_ARM_CPU_FLAGS "-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard"
    CACHE STRING "arm-none-eabi core and float-ABI flags (default: Cortex-M4F, hard float)")
# try_compile projects re-read this file: hand them the same flags.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES GPSA_ARM_CPU_FLAGS)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
# Linking a test program needs a linker script and start-up code: compiler checks build a library.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

foreach(lang C CXX ASM)
  # Every function and object in its own section, so --gc-sections keeps only what is used.
  set(CMAKE_${lang}_FLAGS_INIT "${GPSA_ARM_CPU_FLAGS} -ffunction-sections -fdata-sections")
endforeach()
set(CMAKE_EXE_LINKER_FLAGS_INIT "${GPSA_ARM_CPU_FLAGS} -Wl,--gc-sections")

# Libraries and headers come from the cross sysroot only, programs from the host.
set(CMAKE_FIND_ROOT_PATH /usr/lib/arm-none-eabi)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
