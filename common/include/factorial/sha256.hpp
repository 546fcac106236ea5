#pragma once

#include <string>
#include <string_view>

namespace factorial {

// Lowercase hex SHA-256 of `bytes` (OpenSSL): the --state-dir input fingerprint, and tests of
// FRF1 result files (result files are XXH3-128 since FRF2: digest.hpp).
std::string Sha256Hex(std::string_view bytes);

}  // namespace factorial
