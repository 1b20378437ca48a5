# SPDX-License-Identifier: MIT
# Boost.Hana for a cross build (the registry, include/gpsa/registry.hpp, is header-only Hana).
#
# Boost's headers do not depend on the target, but the host's Boost::headers target points at
# /usr/include, which would put glibc's headers (and Debian's newlib headers under
# /usr/include/newlib) on the cross compiler's search path ahead of its own. So this stages only
# the boost/ folder (a symbolic link in the build tree) and defines Boost::headers on it.
# GPSA_BOOST_INCLUDE_DIR may point at any folder holding boost/hana.hpp.
# (A Generic cross system has no default prefixes: name the host's usual ones.)
find_path(GPSA_BOOST_INCLUDE_DIR NAMES boost/hana.hpp PATHS /usr/local/include /usr/include
          NO_CMAKE_FIND_ROOT_PATH
          DOC "Folder holding boost/hana.hpp (host headers, used by the cross build)")
if(NOT GPSA_BOOST_INCLUDE_DIR)
  message(FATAL_ERROR "Boost.Hana headers not found (install libboost-dev or set GPSA_BOOST_INCLUDE_DIR)")
endif()
file(STRINGS ${GPSA_BOOST_INCLUDE_DIR}/boost/version.hpp _gpsa_boost_version
     REGEX "^#define BOOST_VERSION [0-9]+$")
string(REGEX REPLACE "^#define BOOST_VERSION " "" _gpsa_boost_version "${_gpsa_boost_version}")
if(NOT _gpsa_boost_version OR _gpsa_boost_version LESS 107400)
  message(FATAL_ERROR "${GPSA_BOOST_INCLUDE_DIR}/boost: Boost ${_gpsa_boost_version} found, 1.74 or newer needed")
endif()
set(_gpsa_boost_stage ${PROJECT_BINARY_DIR}/gpsa_boost_headers)
file(MAKE_DIRECTORY ${_gpsa_boost_stage})
file(CREATE_LINK ${GPSA_BOOST_INCLUDE_DIR}/boost ${_gpsa_boost_stage}/boost SYMBOLIC)
add_library(Boost::headers INTERFACE IMPORTED)
set_target_properties(Boost::headers PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${_gpsa_boost_stage})
