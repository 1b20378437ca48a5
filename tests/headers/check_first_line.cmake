# Every public header starts with a one-line comment saying what it is for.
#   cmake "-DHEADERS=a.hpp;b.hpp" -P check_first_line.cmake
set(bad "")
foreach(h IN LISTS HEADERS)
  file(STRINGS ${h} first LIMIT_COUNT 1)
  if(NOT first MATCHES "^// [^ ]")
    string(APPEND bad "\n  ${h}: '${first}'")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "public headers without a leading one-line comment:${bad}")
endif()
list(LENGTH HEADERS n)
message(STATUS "ok: ${n} public headers")
