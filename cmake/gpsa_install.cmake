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
