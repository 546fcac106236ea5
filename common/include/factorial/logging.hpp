#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "factorial/status.hpp"

namespace factorial {

// Sets up the default spdlog logger on stderr, named `program`, at `level` ("trace", "debug",
// "info", "warn", "error", "critical", "off"). SPDLOG_LEVEL in the environment overrides it,
// so operators can raise verbosity under systemd without editing flags.
Status InitLogging(std::string_view program, std::string_view level);

// How much of one string from the network a log line quotes.
inline constexpr std::size_t kLogExcerptBytes = 256;

// `text` (anything a master, agent or executor sent) made fit for one log line: at most
// `max_bytes` of it, cut at a UTF-8 character boundary, with control characters escaped so
// it cannot forge or split log lines, and "... (N more bytes)" when it was cut. Every log
// line that quotes the network goes through this, so a hostile peer cannot flood the log.
std::string Excerpt(std::string_view text, std::size_t max_bytes = kLogExcerptBytes);

}  // namespace factorial
