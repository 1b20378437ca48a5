# SPDX-License-Identifier: MIT
# Install rules and the package config that makes find_package(gpsa CONFIG) work; a pkg-config
# file per installed library. Each library installs its own headers, so a prefix holds only the
# headers of the libraries this build made.
include(CMakePackageConfigHelpers)

set(_gpsa_targets gpsa_headers gpsa gpsa_core)
set(GPSA_HAVE_RUNTIME OFF)
if(TARGET gpsa_runtime)
  list(APPEND _gpsa_targets gpsa_runtime gpsa_codegen)
  set(GPSA_HAVE_RUNTIME ON)  # the package config then re-finds the threads library
  find_package(Threads REQUIRED)  # found in src/ already; here for CMAKE_THREAD_LIBS_INIT
endif()
set(GPSA_HAVE_IMAGE OFF)
if(TARGET gpsa_image)
  list(APPEND _gpsa_targets gpsa_image)
  set(GPSA_HAVE_IMAGE ON)  # the package config then re-finds libpng and libjpeg
endif()
if(TARGET gpsa_cli)
  install(TARGETS gpsa_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(TARGETS ${_gpsa_targets} EXPORT gpsaTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# Headers, per library (include/gpsa/...):
#   gpsa::headers / gpsa::gpsa  grid, rel_indices, status, registry, version, detail/
#   gpsa::core                  core/, gpsa.h (the C API)
#   gpsa::runtime               runtime/
#   gpsa::codegen               codegen.hpp
#   gpsa::image                 image.hpp
#   all of them                 gpsa.hpp (the umbrella includes every library's headers)
set(_gpsa_inc ${PROJECT_SOURCE_DIR}/include/gpsa)
set(_gpsa_inc_dest ${CMAKE_INSTALL_INCLUDEDIR}/gpsa)
install(FILES ${_gpsa_inc}/grid.hpp ${_gpsa_inc}/rel_indices.hpp ${_gpsa_inc}/status.hpp
  ${_gpsa_inc}/registry.hpp ${PROJECT_BINARY_DIR}/include/gpsa/version.hpp DESTINATION ${_gpsa_inc_dest})
install(DIRECTORY ${_gpsa_inc}/detail DESTINATION ${_gpsa_inc_dest})
install(DIRECTORY ${_gpsa_inc}/core DESTINATION ${_gpsa_inc_dest})
install(FILES ${_gpsa_inc}/gpsa.h DESTINATION ${_gpsa_inc_dest})
if(TARGET gpsa_runtime)
  install(DIRECTORY ${_gpsa_inc}/runtime DESTINATION ${_gpsa_inc_dest})
  install(FILES ${_gpsa_inc}/codegen.hpp DESTINATION ${_gpsa_inc_dest})
endif()
if(TARGET gpsa_image)
  install(FILES ${_gpsa_inc}/image.hpp ${_gpsa_inc}/gpsa.hpp DESTINATION ${_gpsa_inc_dest})
endif()

set(_gpsa_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/gpsa)
install(EXPORT gpsaTargets NAMESPACE gpsa:: DESTINATION ${_gpsa_cmake_dir})
# Build-tree export: find_package(gpsa) can also point at a build folder.
export(EXPORT gpsaTargets NAMESPACE gpsa:: FILE ${PROJECT_BINARY_DIR}/gpsaTargets.cmake)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/gpsaConfig.cmake.in
  ${PROJECT_BINARY_DIR}/gpsaConfig.cmake INSTALL_DESTINATION ${_gpsa_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/gpsaConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/gpsaConfig.cmake ${PROJECT_BINARY_DIR}/gpsaConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/gpsa_bake.cmake
  DESTINATION ${_gpsa_cmake_dir})
# The build-tree config includes it from beside itself too.
configure_file(${PROJECT_SOURCE_DIR}/cmake/gpsa_bake.cmake ${PROJECT_BINARY_DIR}/gpsa_bake.cmake COPYONLY)

# pkg-config (cmake/gpsa-LIB.pc.in) for builds without CMake, C programs included: one file per
# installed library, each Requires the library below it; gpsa.pc is the core's old name. The
# libraries are static: Libs carries what each was built with.
#   gpsa-core     -lgpsa_core [-lhwy] -lm   (C++ inside, but no C++ runtime: a C link works)
#   gpsa-runtime  gpsa-core + -lgpsa_runtime and the threads library
#   gpsa-codegen  gpsa-runtime + -lgpsa_codegen
#   gpsa-image    gpsa-runtime, libpng, libjpeg + -lgpsa_image
set(GPSA_PC_CORE_LIBS "")
if(GPSA_CORE_USES_HWY)
  string(APPEND GPSA_PC_CORE_LIBS " -lhwy")
endif()
if(UNIX)
  string(APPEND GPSA_PC_CORE_LIBS " -lm")  # the core calls exp/sqrt (some C drivers add libm anyway)
endif()
set(GPSA_PC_THREAD_LIBS "")
if(TARGET gpsa_runtime AND CMAKE_THREAD_LIBS_INIT)
  set(GPSA_PC_THREAD_LIBS " ${CMAKE_THREAD_LIBS_INIT}")
endif()
# Relocatable: the prefix is found from the .pc file's own folder (pkg-config's ${pcfiledir}).
file(RELATIVE_PATH GPSA_PC_PREFIX_FROM_PCDIR "/gpsa_prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/gpsa_prefix")
string(REGEX REPLACE "/$" "" GPSA_PC_PREFIX_FROM_PCDIR "${GPSA_PC_PREFIX_FROM_PCDIR}")
set(_gpsa_pc_names gpsa gpsa-core)
if(TARGET gpsa_runtime)
  list(APPEND _gpsa_pc_names gpsa-runtime gpsa-codegen)
endif()
if(TARGET gpsa_image)
  list(APPEND _gpsa_pc_names gpsa-image)
endif()
foreach(name IN LISTS _gpsa_pc_names)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/pkgconfig/${name}.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/${name}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/${name}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()
