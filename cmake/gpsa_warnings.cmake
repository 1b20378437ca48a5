# SPDX-License-Identifier: MIT
# Warning flags for gpsa's own targets (never forced on consumers). -Werror only with GPSA_WERROR
# (ON in every preset, OFF for a packager's plain configure).
#
# Every target: -Wall -Wextra -Wpedantic. The libraries (gpsa::core, runtime, codegen, image, the
# Python module) and the CLI also get the flags the SIMD libraries gpsa learns from build with
# (Highway, XNNPACK): a local that hides another (-Wshadow), a float silently widened to double
# (-Wdouble-promotion), a variable-length array (-Wvla: no unbounded stack in the core) and an
# implicit conversion that may change a value (-Wconversion; with Clang it includes
# -Wsign-conversion). Tests, benchmarks, fuzz targets and firmware images do not get these four yet
# (docs/building.md).
set(_gpsa_warning_flags "")
set(_gpsa_library_warning_flags "")
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set(_gpsa_warning_flags -Wall -Wextra -Wpedantic)
  if(GPSA_WERROR)
    list(APPEND _gpsa_warning_flags -Werror)
  endif()
  set(_gpsa_library_warning_flags ${_gpsa_warning_flags} -Wshadow -Wdouble-promotion -Wvla -Wconversion)
endif()
add_library(gpsa_warnings INTERFACE)  # for executables (tests, benchmarks, fuzz targets, firmware)
target_compile_options(gpsa_warnings INTERFACE ${_gpsa_warning_flags})

# gpsa_target_warnings(TARGET): the library flags as PRIVATE options (keeps them out of exports).
function(gpsa_target_warnings target)
  target_compile_options(${target} PRIVATE ${_gpsa_library_warning_flags})
endfunction()

# gpsa_target_freestanding(TARGET): proves a target needs neither exceptions nor RTTI.
function(gpsa_target_freestanding target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fno-exceptions -fno-rtti>)
  endif()
endfunction()
