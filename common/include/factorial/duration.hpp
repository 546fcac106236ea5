#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "factorial/status.hpp"

namespace factorial {

using Duration = std::chrono::nanoseconds;

// Parses a Mesos duration string ("5secs", "15mins", "1.5mins", "250ms"; stout/duration.hpp).
Result<Duration> ParseMesosDuration(std::string_view text);

// Seconds for a command-line option: a plain number of seconds ("90", "2.5", "-1": the range
// is the caller's to check) or a Mesos duration ("10secs", "500ms", "2mins", "3hrs", "1days",
// "1weeks"), as Mesos' own flags take them.
Result<double> ParseSeconds(std::string_view text);

// Formats like the agent: the largest unit that represents the value exactly ("5secs").
std::string FormatMesosDuration(Duration d);

}  // namespace factorial
