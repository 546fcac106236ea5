#pragma once

#include <string>
#include <string_view>

namespace factorial {

// Lowercase hex SHA-256 of `bytes` (OpenSSL). Names large results in the sandbox.
std::string Sha256Hex(std::string_view bytes);

}  // namespace factorial
