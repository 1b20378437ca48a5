// SHA-256 (FIPS 180-4) of a byte string, for the provenance line of generated headers.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace gpsa::cli {

// The 32-byte digest of `bytes`.
std::array<std::uint8_t, 32> sha256(std::string_view bytes);
// The same as 64 lowercase hex digits (what `sha256sum` prints).
std::string sha256_hex(std::string_view bytes);

}  // namespace gpsa::cli
