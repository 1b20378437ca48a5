// SPDX-License-Identifier: MIT
// Library version, so a firmware image can report which gpsa it was built with.
#include "gpsa/version.hpp"

namespace gpsa {
const char* version() noexcept { return GPSA_VERSION_STRING; }
}  // namespace gpsa
