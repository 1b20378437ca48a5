# SPDX-License-Identifier: MIT
# Runs COMMAND (a list) and passes only if it fails (non-zero exit) and its output matches every
# regular expression in EXPECT (a list): a check that must catch what it is shown.
#   cmake "-DCOMMAND=prog;arg;..." "-DEXPECT=regex;..." -P expect_failure.cmake
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "expected a failure, the command succeeded")
endif()
foreach(re IN LISTS EXPECT)
  if(NOT "${out}${err}" MATCHES "${re}")
    message(FATAL_ERROR "the output does not match: ${re}")
  endif()
endforeach()
message(STATUS "failed as expected, with every expected message")
