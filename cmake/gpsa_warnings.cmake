# SPDX-License-Identifier: MIT
# Warning flags for gpsa's own targets (never forced on consumers).
set(_gpsa_warning_flags "")
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set(_gpsa_warning_flags -Wall -Wextra -Wpedantic)
  if(GPSA_WERROR)
    list(APPEND _gpsa_warning_flags -Werror)
  endif()
endif()
add_library(gpsa_warnings INTERFACE)  # for executables (tests, bench, CLI)
target_compile_options(gpsa_warnings INTERFACE ${_gpsa_warning_flags})

# gpsa_target_warnings(TARGET): the same flags as PRIVATE options (keeps them out of exports).
function(gpsa_target_warnings target)
  target_compile_options(${target} PRIVATE ${_gpsa_warning_flags})
endfunction()

# gpsa_target_freestanding(TARGET): proves a target needs neither exceptions nor RTTI.
function(gpsa_target_freestanding target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fno-exceptions -fno-rtti>)
  endif()
endfunction()
