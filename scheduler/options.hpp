#pragma once

// Input validation for factorial-scheduler. Nothing here touches the network: every problem
// is found before the first request.

#include <cstdint>
#include <string>
#include <vector>

#include "factorial/status.hpp"
#include "workload.hpp"

namespace factorial::scheduler {

// Each N must be plain decimal digits and at most `max_n`. Every bad token is named in the
// one returned error (at most 20 quoted). `source` labels tokens ("argument", "input line 7").
struct NumberToken {
  std::string text;
  std::string source;
};
Result<std::vector<std::uint64_t>> ParseNumbers(const std::vector<NumberToken>& tokens, std::uint64_t max_n);

// The job's numbers: `arguments`, then one per line from `input` ("": none; "-": the
// descriptor `stdin_fd`), streamed into a Workload without keeping their text.
Result<Workload> ReadWorkload(const std::vector<std::string>& arguments, const std::string& input,
                              std::uint64_t max_n, int stdin_fd);

}  // namespace factorial::scheduler
