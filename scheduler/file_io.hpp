#pragma once

// Reading a whole range of a file at an offset: pread returns less than asked at its whim.

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <unistd.h>

#include "factorial/status.hpp"

namespace factorial::scheduler {

// Reads `size` bytes of `fd` at `offset` into `out`. An error (kInternal) names `what` and
// says why: errno's text, or that the file ended first.
inline Status ReadFullyAt(int fd, char* out, std::uint64_t size, std::uint64_t offset, std::string_view what) {
  while (size > 0) {
    ssize_t n = ::pread(fd, out, static_cast<std::size_t>(size), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return MakeError(Errc::kInternal, std::string(what) + ": " + (n < 0 ? std::strerror(errno) : "the file is shorter"));
    }
    out += n;
    size -= static_cast<std::uint64_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return OkStatus();
}

}  // namespace factorial::scheduler
