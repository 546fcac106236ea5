#include "factorial/sha256.hpp"

#include <openssl/evp.h>

#include "factorial/digits.hpp"

namespace factorial {

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  return LowerHex(std::span(digest, length));
}

}  // namespace factorial
