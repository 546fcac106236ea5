#pragma once

#include <string>
#include <string_view>

#include "factorial/status.hpp"

namespace factorial {

// Standard alphabet with '=' padding, as Mesos emits `bytes` fields.
std::string Base64Encode(std::string_view bytes);

// Decodes like Mesos' JSON parser: padding optional, whitespace skipped, stops at the first
// '='; any other character outside the standard alphabet is an error.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace factorial
