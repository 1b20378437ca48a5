# SPDX-License-Identifier: MIT
# The core alone: configures and builds gpsa with every optional library off, installs it, checks
# that the prefix holds the core's headers and pkg-config files and nothing of the libraries that
# were not built, then builds and runs the C consumer (consumer_c/main.c) against the prefix with
# find_package(gpsa) and with `pkg-config gpsa-core` only.
#   cmake -DSOURCE_DIR=... -DWORK_DIR=... -DGENERATOR=Ninja -DMAKE_PROGRAM=ninja -DCC=cc -DCXX=c++
#         [-DCFLAGS=...] [-DCXXFLAGS=...] [-DLDFLAGS=...] -DLIBDIR=lib -DPKG_CONFIG=pkgconf
#         -DVERSION=0.1.0 -P core_only.cmake
cmake_minimum_required(VERSION 3.25)
set(build ${WORK_DIR}/build)
set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${prefix} ${WORK_DIR}/find)

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(run_output "${out}${err}" PARENT_SCOPE)
endfunction()

run("configuring the core-only build" ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${build} -G ${GENERATOR}
    -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM} -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_C_COMPILER=${CC} -DCMAKE_CXX_COMPILER=${CXX} "-DCMAKE_C_FLAGS=${CFLAGS}"
    "-DCMAKE_CXX_FLAGS=${CXXFLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LDFLAGS}"
    -DGPSA_BUILD_RUNTIME=OFF -DGPSA_BUILD_IMAGE=OFF -DGPSA_BUILD_CLI=OFF -DGPSA_BUILD_PYTHON=OFF
    -DGPSA_BUILD_TESTS=OFF -DGPSA_BUILD_BENCH=OFF -DGPSA_SIMD=OFF -DGPSA_INSTALL=ON)
if(NOT run_output MATCHES "gpsa::runtime, gpsa::codegen: not built: GPSA_BUILD_RUNTIME is OFF")
  message(FATAL_ERROR "the configure output does not say why gpsa::runtime is not built:\n${run_output}")
endif()
# A packager's plain configure (no preset, no GPSA_WERROR given) must not get -Werror.
file(STRINGS ${build}/CMakeCache.txt werror REGEX "^GPSA_WERROR:")
if(NOT werror STREQUAL "GPSA_WERROR:BOOL=OFF")
  message(FATAL_ERROR "a configure without a preset should leave GPSA_WERROR OFF, got '${werror}'")
endif()
run("building the core" ${CMAKE_COMMAND} --build ${build})
run("installing the core" ${CMAKE_COMMAND} --install ${build} --prefix ${prefix})

# The prefix: the core's headers and pkg-config files, nothing else of gpsa's.
set(inc ${prefix}/include/gpsa)
foreach(f core/layer.hpp core/convit.hpp gpsa.h grid.hpp rel_indices.hpp status.hpp registry.hpp
          version.hpp detail/checked.hpp ../../${LIBDIR}/pkgconfig/gpsa-core.pc
          ../../${LIBDIR}/pkgconfig/gpsa.pc ../../${LIBDIR}/libgpsa_core.a)
  if(NOT EXISTS ${inc}/${f})
    message(FATAL_ERROR "the core-only install lacks ${inc}/${f}")
  endif()
endforeach()
foreach(f runtime codegen.hpp image.hpp gpsa.hpp ../../${LIBDIR}/pkgconfig/gpsa-runtime.pc
          ../../${LIBDIR}/pkgconfig/gpsa-codegen.pc ../../${LIBDIR}/pkgconfig/gpsa-image.pc
          ../../${LIBDIR}/libgpsa_runtime.a)
  if(EXISTS ${inc}/${f})
    message(FATAL_ERROR "the core-only install has ${inc}/${f}, of a library it did not build")
  endif()
endforeach()

# find_package(gpsa) from a C-only project.
run("building the C consumer with find_package" ${CMAKE_CTEST_COMMAND}
    --build-and-test ${CMAKE_CURRENT_LIST_DIR}/consumer_c ${WORK_DIR}/find
    --build-generator ${GENERATOR} --build-makeprogram ${MAKE_PROGRAM}
    --build-options -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=${CC} "-DCMAKE_C_FLAGS=${CFLAGS}"
                    "-DCMAKE_EXE_LINKER_FLAGS=${LDFLAGS}" -DGPSA_EXPECTED_VERSION=${VERSION}
                    -DGPSA_CONSUMER_MODE=find -DCMAKE_PREFIX_PATH=${prefix}
    --test-command c_consumer)
if(NOT run_output MATCHES "c consumer ok: gpsa ${VERSION}")
  message(FATAL_ERROR "the C consumer (find_package) did not report success:\n${run_output}")
endif()

# pkg-config gpsa-core only (no other .pc on the path).
set(ENV{PKG_CONFIG_PATH} "${prefix}/${LIBDIR}/pkgconfig")
set(ENV{PKG_CONFIG_LIBDIR} "${prefix}/${LIBDIR}/pkgconfig")
run("pkg-config --cflags --libs gpsa-core" ${PKG_CONFIG} --cflags --libs gpsa-core)
string(STRIP "${run_output}" flags)
if(flags MATCHES "-lstdc\\+\\+|-lc\\+\\+|-lhwy")
  message(FATAL_ERROR "pkg-config --libs gpsa-core of a portable core names a C++ runtime or Highway: ${flags}")
endif()
separate_arguments(flag_list UNIX_COMMAND "${flags}")
separate_arguments(cflag_list UNIX_COMMAND "${CFLAGS}")
separate_arguments(ldflag_list UNIX_COMMAND "${LDFLAGS}")
run("compiling the C consumer with pkg-config's flags" ${CC} -std=c99 -Wall -Wextra -Wpedantic -Werror
    -DGPSA_EXPECTED_VERSION=${VERSION} ${cflag_list} ${CMAKE_CURRENT_LIST_DIR}/consumer_c/main.c
    ${flag_list} ${ldflag_list} -o ${WORK_DIR}/c_consumer_pkgconfig)
run("running the pkg-config C consumer" ${WORK_DIR}/c_consumer_pkgconfig)
if(NOT run_output MATCHES "c consumer ok: gpsa ${VERSION}")
  message(FATAL_ERROR "the C consumer (pkg-config) did not report success:\n${run_output}")
endif()
message("core-only install ok: ${flags}")
