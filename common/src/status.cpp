#include "factorial/status.hpp"

namespace factorial {

std::string_view ErrcName(Errc code) {
  switch (code) {
    case Errc::kInvalidArgument: return "invalid argument";
    case Errc::kCorruption: return "corruption";
    case Errc::kUnavailable: return "unavailable";
    case Errc::kDeadlineExceeded: return "deadline exceeded";
    case Errc::kHttp: return "http";
    case Errc::kNotFound: return "not found";
    case Errc::kInternal: return "internal";
  }
  return "unknown";
}

std::string Error::ToString() const {
  std::string out(ErrcName(code));
  out += ": ";
  out += message;
  return out;
}

}  // namespace factorial
