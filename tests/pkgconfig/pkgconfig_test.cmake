# SPDX-License-Identifier: MIT
# Installs a gpsa build into PREFIX, then builds and runs a program against it with pkg-config
# only (no CMake package):
#   cmake -DBUILD_DIR=build/default -DCONFIG=Release -DPREFIX=... -DLIBDIR=lib -DPKG_CONFIG=pkgconf
#         -DCC=cc -DSOURCE=x.c -DOUT=x -DVERSION=0.1.0 [-DCFLAGS=...] [-DLDFLAGS=...]
#         [-DPACKAGES=gpsa-image;gpsa-codegen] [-DSTD=-std=c++20] [-DLIBS_ORDER=gpsa_codegen;gpsa_runtime]
#         -P pkgconfig_test.cmake
# PACKAGES: the .pc files asked for (default gpsa); STD: the language flag (default -std=c99);
# LIBS_ORDER: libraries --libs must name in this order (default gpsa_core).
# CFLAGS/LDFLAGS are the build's own (e.g. the asan preset's -fsanitize=...: an instrumented
# libgpsa_core needs an instrumented link).
file(REMOVE_RECURSE ${PREFIX})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX} --config ${CONFIG}
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} --prefix ${PREFIX} failed:\n${err}")
endif()
if(NOT PACKAGES)
  set(PACKAGES gpsa)
endif()
if(NOT STD)
  set(STD -std=c99)
endif()
if(NOT LIBS_ORDER)
  set(LIBS_ORDER gpsa_core)
endif()
set(PC_DIR ${PREFIX}/${LIBDIR}/pkgconfig)
foreach(p IN LISTS PACKAGES)
  if(NOT EXISTS ${PC_DIR}/${p}.pc)
    message(FATAL_ERROR "the install has no ${LIBDIR}/pkgconfig/${p}.pc")
  endif()
endforeach()
# This install's .pc files come first (never a gpsa installed on the machine); the system's
# libpng / libjpeg (gpsa-image's Requires) after them.
set(ENV{PKG_CONFIG_PATH} "${PC_DIR}")

function(pc out)
  execute_process(COMMAND ${PKG_CONFIG} ${ARGN} ${PACKAGES} OUTPUT_VARIABLE o ERROR_VARIABLE e RESULT_VARIABLE rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config ${ARGN} ${PACKAGES} failed (PKG_CONFIG_PATH=${PC_DIR}): ${e}")
  endif()
  set(${out} "${o}" PARENT_SCOPE)
endfunction()

pc(version --modversion)
string(REPLACE "\n" ";" version "${version}")
foreach(v IN LISTS version)
  if(NOT v STREQUAL VERSION)
    message(FATAL_ERROR "pkg-config --modversion ${PACKAGES}: '${v}', expected '${VERSION}'")
  endif()
endforeach()
pc(flags --cflags --libs)
message(STATUS "pkg-config --cflags --libs ${PACKAGES}: ${flags}")
# A static library before the ones it uses: each of LIBS_ORDER after the previous one.
set(rest "${flags}")
foreach(lib IN LISTS LIBS_ORDER)
  string(FIND "${rest}" "-l${lib} " at)
  if(at EQUAL -1)
    string(FIND "${rest} " "-l${lib} " at)
  endif()
  if(at EQUAL -1)
    message(FATAL_ERROR "pkg-config --libs ${PACKAGES} does not name -l${lib} after the libraries before it (${LIBS_ORDER}): ${flags}")
  endif()
  string(SUBSTRING "${rest}" ${at} -1 rest)
endforeach()

separate_arguments(flag_list UNIX_COMMAND "${flags}")
separate_arguments(cflag_list UNIX_COMMAND "${CFLAGS}")
separate_arguments(ldflag_list UNIX_COMMAND "${LDFLAGS}")
set(cmd ${CC} ${STD} -Wall -Wextra -Wpedantic -Werror ${cflag_list} ${SOURCE} ${flag_list} ${ldflag_list} -o ${OUT})
list(JOIN cmd " " shown)
message(STATUS "${shown}")
execute_process(COMMAND ${cmd} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building ${SOURCE} with pkg-config's flags failed:\n${err}")
endif()
execute_process(COMMAND ${OUT} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "${OUT}: ${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${OUT} exited with ${rc}")
endif()
