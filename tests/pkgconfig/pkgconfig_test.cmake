# SPDX-License-Identifier: MIT
# Installs a gpsa build into PREFIX, then builds and runs a C program against it with pkg-config
# only (no CMake package):
#   cmake -DBUILD_DIR=build/default -DCONFIG=Release -DPREFIX=... -DLIBDIR=lib -DPKG_CONFIG=pkgconf
#         -DCC=cc -DSOURCE=x.c -DOUT=x -DVERSION=0.1.0 [-DCFLAGS=...] [-DLDFLAGS=...]
#         -P pkgconfig_test.cmake
# CFLAGS/LDFLAGS are the build's own (e.g. the asan preset's -fsanitize=...: an instrumented
# libgpsa_core needs an instrumented link).
file(REMOVE_RECURSE ${PREFIX})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX} --config ${CONFIG}
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} --prefix ${PREFIX} failed:\n${err}")
endif()
set(PC_DIR ${PREFIX}/${LIBDIR}/pkgconfig)
if(NOT EXISTS ${PC_DIR}/gpsa.pc)
  message(FATAL_ERROR "the install has no ${LIBDIR}/pkgconfig/gpsa.pc")
endif()
set(ENV{PKG_CONFIG_PATH} "${PC_DIR}")
set(ENV{PKG_CONFIG_LIBDIR} "${PC_DIR}")  # only this gpsa.pc, never one installed on the machine

function(pc out)
  execute_process(COMMAND ${PKG_CONFIG} ${ARGN} gpsa OUTPUT_VARIABLE o ERROR_VARIABLE e RESULT_VARIABLE rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config ${ARGN} gpsa failed (PKG_CONFIG_PATH=${PC_DIR}): ${e}")
  endif()
  set(${out} "${o}" PARENT_SCOPE)
endfunction()

pc(version --modversion)
if(NOT version STREQUAL VERSION)
  message(FATAL_ERROR "pkg-config --modversion gpsa: '${version}', expected '${VERSION}'")
endif()
pc(flags --cflags --libs)
message(STATUS "pkg-config --cflags --libs gpsa: ${flags}")
if(NOT flags MATCHES "-lgpsa_core")
  message(FATAL_ERROR "pkg-config --libs gpsa does not name -lgpsa_core: ${flags}")
endif()

separate_arguments(flag_list UNIX_COMMAND "${flags}")
separate_arguments(cflag_list UNIX_COMMAND "${CFLAGS}")
separate_arguments(ldflag_list UNIX_COMMAND "${LDFLAGS}")
set(cmd ${CC} -std=c99 -Wall -Wextra -Wpedantic -Werror ${cflag_list} ${SOURCE} ${flag_list} ${ldflag_list} -o ${OUT})
list(JOIN cmd " " shown)
message(STATUS "${shown}")
execute_process(COMMAND ${cmd} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the C example with pkg-config's flags failed:\n${err}")
endif()
execute_process(COMMAND ${OUT} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "${OUT}: ${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${OUT} exited with ${rc}")
endif()
