# SPDX-License-Identifier: MIT
# The umbrella <gpsa/gpsa.hpp> includes every other public C++ header, and every public header is
# in the list the other checks use (a header on disk but not in the list fails too).
#   cmake -DINCLUDE_DIR=include "-DHEADERS=a.hpp;b.hpp" -P check_umbrella.cmake
cmake_minimum_required(VERSION 3.25)
file(READ ${INCLUDE_DIR}/gpsa/gpsa.hpp umbrella)
file(GLOB_RECURSE on_disk RELATIVE ${INCLUDE_DIR} ${INCLUDE_DIR}/gpsa/*.hpp)
set(bad "")
foreach(h IN LISTS on_disk)
  if(h MATCHES "^gpsa/detail/" OR h STREQUAL "gpsa/gpsa.hpp")
    continue()  # internals, and the umbrella itself
  endif()
  if(NOT umbrella MATCHES "#include \"${h}\"")
    string(APPEND bad "\n  <${h}> is not included by <gpsa/gpsa.hpp>")
  endif()
  if(NOT "${INCLUDE_DIR}/${h}" IN_LIST HEADERS)
    string(APPEND bad "\n  <${h}> is not in tests/headers/CMakeLists.txt's list")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "the umbrella header is not complete:${bad}")
endif()
list(LENGTH on_disk n)
message("umbrella ok: ${n} headers on disk")
