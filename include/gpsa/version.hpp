// gpsa's version, as a macro and at run time.
#pragma once

#define GPSA_VERSION_MAJOR 0
#define GPSA_VERSION_MINOR 1
#define GPSA_VERSION_PATCH 0
#define GPSA_VERSION_STRING "0.1.0"

namespace gpsa {
const char* version() noexcept;  // defined in gpsa::core
}  // namespace gpsa
