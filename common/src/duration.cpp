#include "factorial/duration.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include "factorial/logging.hpp"

namespace factorial {
namespace {
struct Unit {
  std::string_view name;
  std::int64_t nanos;
};
// Longest suffix first is not needed: we split digits from letters.
constexpr std::array<Unit, 8> kUnits{{{"weeks", 604800LL * 1000000000LL},
                                      {"days", 86400LL * 1000000000LL},
                                      {"hrs", 3600LL * 1000000000LL},
                                      {"mins", 60LL * 1000000000LL},
                                      {"secs", 1000000000LL},
                                      {"ms", 1000000LL},
                                      {"us", 1000LL},
                                      {"ns", 1LL}}};
}  // namespace

Result<Duration> ParseMesosDuration(std::string_view text) {
  std::size_t split = 0;
  while (split < text.size() &&
         ((text[split] >= '0' && text[split] <= '9') || text[split] == '.' || text[split] == '-')) {
    ++split;
  }
  std::string number(text.substr(0, split));
  std::string_view unit = text.substr(split);
  if (number.empty()) {
    return MakeError(Errc::kInvalidArgument, "not a duration: '" + std::string(text) + "'");
  }
  char* end = nullptr;
  double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(value) || value < 0) {
    return MakeError(Errc::kInvalidArgument, "not a duration: '" + std::string(text) + "'");
  }
  for (const auto& u : kUnits) {
    if (u.name == unit) {
      double nanos = value * static_cast<double>(u.nanos);
      if (nanos > 9.2e18) return MakeError(Errc::kInvalidArgument, "duration out of range");
      return Duration(static_cast<std::int64_t>(std::llround(nanos)));
    }
  }
  return MakeError(Errc::kInvalidArgument,
                   "unknown duration unit in '" + std::string(text) + "'");
}

Result<double> ParseSeconds(std::string_view text) {
  std::string plain(text);
  char* end = nullptr;
  double value = std::strtod(plain.c_str(), &end);
  bool only_number = !plain.empty() && end == plain.c_str() + plain.size() &&
                     plain.find_first_not_of("0123456789.-+eE") == std::string::npos;
  if (only_number) {
    if (!std::isfinite(value)) return MakeError(Errc::kInvalidArgument, "'" + Excerpt(text, 64) + "' is not a number");
    return value;
  }
  auto duration = ParseMesosDuration(text);
  if (!duration.ok()) {
    return MakeError(Errc::kInvalidArgument,
                     "'" + Excerpt(text, 64) +
                         "' is neither seconds nor a duration (10secs, 500ms, 2mins, 3hrs, 1days, 1weeks)");
  }
  return std::chrono::duration<double>(duration.value()).count();
}

std::string FormatMesosDuration(Duration d) {
  std::int64_t n = d.count();
  for (const auto& u : kUnits) {
    if (n != 0 && n % u.nanos == 0) return std::to_string(n / u.nanos) + std::string(u.name);
  }
  if (n == 0) return "0ns";
  // Not exact in any unit: fractional seconds, as stout prints them.
  std::string s = std::to_string(static_cast<double>(n) / 1e9);
  while (!s.empty() && s.back() == '0') s.pop_back();
  return s + "secs";
}

}  // namespace factorial
