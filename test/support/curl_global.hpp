#pragma once

// libcurl's global set-up for a test program: curl_global_init must run before any thread
// uses libcurl and is not thread-safe, so it happens once, during static initialisation,
// before Catch2 starts a test; curl_global_cleanup runs at exit. An inline variable: one
// instance per program however many of its files include this.

#include "factorial/curl_loop.hpp"

namespace factorial::testing {

inline CurlGlobal curl_global;

}  // namespace factorial::testing
