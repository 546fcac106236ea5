#pragma once

#include <string_view>

#include "factorial/status.hpp"

namespace factorial {

// Sets up the default spdlog logger on stderr, named `program`, at `level` ("trace", "debug",
// "info", "warn", "error", "critical", "off"). SPDLOG_LEVEL in the environment overrides it,
// so operators can raise verbosity under systemd without editing flags.
Status InitLogging(std::string_view program, std::string_view level);

}  // namespace factorial
