#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "factorial/status.hpp"

namespace factorial {

using Duration = std::chrono::nanoseconds;

// Parses a Mesos duration string ("5secs", "15mins", "1.5mins", "250ms"; stout/duration.hpp).
Result<Duration> ParseMesosDuration(std::string_view text);

// Formats like the agent: the largest unit that represents the value exactly ("5secs").
std::string FormatMesosDuration(Duration d);

}  // namespace factorial
