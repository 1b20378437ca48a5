# SPDX-License-Identifier: MIT
# Every public header starts with a one-line comment saying what it is for (after its SPDX line).
#   cmake "-DHEADERS=a.hpp;b.hpp" -P check_first_line.cmake
set(bad "")
foreach(h IN LISTS HEADERS)
  file(STRINGS ${h} lines LIMIT_COUNT 2)
  list(GET lines 0 first)
  if(first MATCHES "^// SPDX-License-Identifier: ")
    list(GET lines 1 first)
  endif()
  if(NOT first MATCHES "^// [^ ]" OR first MATCHES "^// SPDX")
    string(APPEND bad "\n  ${h}: '${first}'")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "public headers without a leading one-line comment:${bad}")
endif()
list(LENGTH HEADERS n)
message(STATUS "ok: ${n} public headers")
