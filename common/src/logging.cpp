#include "factorial/logging.hpp"

#include <string>

#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace factorial {

Status InitLogging(std::string_view program, std::string_view level) {
  auto parsed = spdlog::level::from_str(std::string(level));
  // from_str maps unknown names to "off"; only accept "off" when asked for.
  if (parsed == spdlog::level::off && level != "off") {
    return MakeError(Errc::kInvalidArgument, "unknown log level '" + std::string(level) + "'");
  }
  spdlog::drop(std::string(program));  // allow re-initialisation (tests)
  auto logger = spdlog::stderr_color_mt(std::string(program));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ %n: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(parsed);
  spdlog::cfg::load_env_levels();
  return OkStatus();
}

}  // namespace factorial
