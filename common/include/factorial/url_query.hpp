#pragma once

// A value in a URL's query string, percent-encoded: the agents' /files endpoints take sandbox
// paths, which may hold any byte a task ID or file name allows.

#include <string>
#include <string_view>

namespace factorial {

// Letters, digits and "/-_." as they are; every other byte as %XX (uppercase hex).
inline std::string EscapeQueryValue(std::string_view text) {
  constexpr char kHex[] = "0123456789ABCDEF";
  std::string escaped;
  escaped.reserve(text.size());
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    bool plain = (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') || (byte >= '0' && byte <= '9') ||
                 c == '/' || c == '-' || c == '_' || c == '.';
    if (plain) {
      escaped.push_back(c);
    } else {
      escaped.push_back('%');
      escaped.push_back(kHex[byte >> 4]);
      escaped.push_back(kHex[byte & 0xF]);
    }
  }
  return escaped;
}

}  // namespace factorial
