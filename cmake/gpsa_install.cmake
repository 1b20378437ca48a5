# SPDX-License-Identifier: MIT
# Install rules and the package config that makes find_package(gpsa CONFIG) work.
include(CMakePackageConfigHelpers)

set(_gpsa_targets gpsa gpsa_core)
if(TARGET gpsa_runtime)
  list(APPEND _gpsa_targets gpsa_runtime gpsa_codegen)
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
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/include/gpsa/version.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/gpsa)

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

# pkg-config (gpsa.pc, see cmake/gpsa.pc.in) for builds without CMake, C programs included. The
# core is static: Libs carries the libraries it was built with (from src/CMakeLists.txt's
# GPSA_CORE_USES_*) and the C++ runtime a C link needs (CXX minus C implicit link libraries).
set(_gpsa_pc_libs "")
if(GPSA_CORE_USES_HWY)
  list(APPEND _gpsa_pc_libs -lhwy)
endif()
foreach(lib IN LISTS CMAKE_CXX_IMPLICIT_LINK_LIBRARIES)
  if(NOT lib IN_LIST CMAKE_C_IMPLICIT_LINK_LIBRARIES AND NOT "-l${lib}" IN_LIST _gpsa_pc_libs)
    list(APPEND _gpsa_pc_libs "-l${lib}")
  endif()
endforeach()
if(UNIX AND NOT "-lm" IN_LIST _gpsa_pc_libs)
  list(APPEND _gpsa_pc_libs -lm)  # the core calls exp/sqrt (some C drivers add libm anyway)
endif()
list(JOIN _gpsa_pc_libs " " GPSA_PC_LIBS)
# Relocatable: the prefix is found from the .pc file's own folder (pkg-config's ${pcfiledir}).
file(RELATIVE_PATH GPSA_PC_PREFIX_FROM_PCDIR "/gpsa_prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/gpsa_prefix")
string(REGEX REPLACE "/$" "" GPSA_PC_PREFIX_FROM_PCDIR "${GPSA_PC_PREFIX_FROM_PCDIR}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/gpsa.pc.in ${PROJECT_BINARY_DIR}/gpsa.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/gpsa.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
