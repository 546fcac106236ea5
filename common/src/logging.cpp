#include "factorial/logging.hpp"

#include <algorithm>
#include <cstdio>
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

std::string Excerpt(std::string_view text, std::size_t max_bytes) {
  std::size_t keep = std::min(text.size(), max_bytes);
  // Do not cut a multi-byte UTF-8 character: back up over its continuation bytes.
  if (keep < text.size()) {
    while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80) --keep;
  }
  std::string out;
  out.reserve(keep + 32);
  for (std::size_t i = 0; i < keep; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02X", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (std::size_t left = text.size() - keep; left > 0) {
    out += "... (" + std::to_string(left) + (left == 1 ? " more byte)" : " more bytes)");
  }
  return out;
}

}  // namespace factorial
