# SPDX-License-Identifier: MIT
# Baking large relative-index tables (gpsa::rel_indices_v<S> for S >= 22).
#
# GCC 12 and Clang 14 cap constant evaluation: Clang's default -fconstexpr-steps (1048576) is
# enough up to 21x21, GCC's default -fconstexpr-ops-limit (2^33) up to 24x24. Larger tables
# need higher limits, given only to the targets that bake them:
#
#   gpsa_bake_large(my_firmware_tables)            # PRIVATE by default
#   gpsa_bake_large(my_interface_lib INTERFACE)
#
# Cost per baked grid: "Compile cost" in docs/tables.md (tools/compile_cost.sh).
# The flags only raise limits: TUs that bake nothing large compile exactly as before.

# Largest square grid that bakes with both compilers' default limits.
set(GPSA_DEFAULT_LIMIT_MAX_GRID 21)

function(gpsa_bake_large target)
  set(scope PRIVATE)
  if(ARGC GREATER 1)
    set(scope ${ARGV1})
  endif()
  target_compile_options(${target} ${scope}
    "$<$<COMPILE_LANG_AND_ID:CXX,GNU>:-fconstexpr-ops-limit=1099511627776>"
    "$<$<COMPILE_LANG_AND_ID:CXX,Clang,AppleClang>:-fconstexpr-steps=4294967295>")
endfunction()

# gpsa_check_baked_grids(<target>): validates the cache list GPSA_BAKED_GRIDS (the registry's
# grids, include/gpsa/registry.hpp) and gives <target>'s users the large-table flags when the
# list holds a grid above GPSA_DEFAULT_LIMIT_MAX_GRID.
function(gpsa_check_baked_grids target)
  set(seen "")
  set(large OFF)
  foreach(s IN LISTS GPSA_BAKED_GRIDS)
    if(NOT s MATCHES "^[1-9][0-9]*$")
      message(FATAL_ERROR "GPSA_BAKED_GRIDS: '${s}' is not a positive grid size S (the list holds square grids, e.g. 7;14;16)")
    endif()
    if(s IN_LIST seen)
      message(FATAL_ERROR "GPSA_BAKED_GRIDS: ${s} is listed twice")
    endif()
    list(APPEND seen ${s})
    if(s GREATER GPSA_DEFAULT_LIMIT_MAX_GRID)
      set(large ON)
    endif()
  endforeach()
  if(large)
    gpsa_bake_large(${target} INTERFACE)
    message(STATUS "gpsa: baked grids ${GPSA_BAKED_GRIDS} include S > ${GPSA_DEFAULT_LIMIT_MAX_GRID}: raising constexpr limits for users of ${target}")
  endif()
endfunction()
