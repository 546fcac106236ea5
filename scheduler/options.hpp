#pragma once

// Command-line and input validation for factorial-scheduler. Nothing here touches the
// network: every problem is found before the first request.

#include <cstdint>
#include <string>
#include <vector>

#include "factorial/status.hpp"

namespace factorial::scheduler {

// Each N must be plain decimal digits and at most `max_n`. Every bad token is named in the
// one returned error. `source` labels tokens ("argument", "input line 7").
struct NumberToken {
  std::string text;
  std::string source;
};
Result<std::vector<std::uint64_t>> ParseNumbers(const std::vector<NumberToken>& tokens, std::uint64_t max_n);

// Reads one number per line (blank lines and '#' comments skipped) from `path` ("-": stdin).
Result<std::vector<NumberToken>> ReadNumberFile(const std::string& path);

}  // namespace factorial::scheduler
