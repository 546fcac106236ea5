#include "factorial/status.hpp"

#include <cstdio>
#include <cstdlib>

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

namespace detail {

void AbortOnValueOfError(const Error& error) {
  std::fprintf(stderr, "Result::value() called on an error: %s\n", error.ToString().c_str());
  std::abort();
}

void AbortOnErrorOfValue() {
  std::fprintf(stderr, "Result::error() called on a value\n");
  std::abort();
}

}  // namespace detail

}  // namespace factorial
