#pragma once

// The seam between protocol logic and the outside world: HTTP requests, timers, and a
// thread-safe way to hand work to the loop. Production code runs on CurlLoop; unit tests
// drive the same logic with a fake that records requests and advances a manual clock.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "factorial/duration.hpp"
#include "factorial/status.hpp"

namespace factorial {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

// Response or request headers; names compare case-insensitively, as HTTP requires.
class Headers {
 public:
  void Add(std::string name, std::string value);
  // Replaces every header called `name`.
  void Set(std::string name, std::string value);
  std::optional<std::string> Get(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }
  void Clear() { items_.clear(); }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

struct TlsOptions {
  bool verify_peer = true;
  std::string ca_file;  // empty: the system's CA store
};

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  Headers headers;
  std::string body;
  Duration connect_timeout = std::chrono::seconds(10);
  // Whole-request limit for ordinary calls; zero means none (never set it on a stream).
  Duration timeout = std::chrono::seconds(75);
  // Abort if no byte arrives for this long; zero means none. Whole seconds (libcurl).
  Duration idle_timeout{0};
  TlsOptions tls;
  // HTTP Basic credentials; the secret is never logged.
  std::optional<std::pair<std::string, std::string>> basic_auth;
};

struct HttpResponse {
  long status = 0;
  Headers headers;
  std::string body;
  std::string effective_url;
};

using ResponseCallback = std::function<void(Result<HttpResponse>)>;

struct StreamCallbacks {
  // Status line and headers are in. Return true to receive the body through `on_data`
  // (a subscription stream), false to have it buffered into the final response (an error).
  std::function<bool(const HttpResponse& head)> on_head;
  // Body bytes in arrival order, in arbitrary chunks. Return false to abort the transfer.
  std::function<bool(std::string_view bytes)> on_data;
  // The transfer ended: the response (body empty if it was streamed) or a transport error.
  // Not called after Cancel().
  ResponseCallback on_done;
  // on_head (once body bytes come) and on_data run as libcurl hands over the bytes, from
  // inside its callbacks: each byte is copied once less, which counts for downloads of
  // hundreds of MB. They must not call the loop then (no Cancel, OpenStream or Send; Post is
  // fine). A loop that has no such place calls them as it would otherwise. The curl loop
  // reads such a stream from its socket 256 KiB at a time instead of 16 KiB: fewer receive
  // calls, and nothing of it accumulates in the loop (on_data still gets pieces of 16 KiB at
  // most: libcurl splits what it read).
  bool inline_data = false;
};

class EventLoop {
 public:
  using RequestId = std::uint64_t;
  using TimerId = std::uint64_t;

  virtual ~EventLoop() = default;

  // Every method except Post() must be called on the loop thread (from a callback) or before
  // the loop runs. Callbacks run on the loop thread, one at a time, never re-entrantly.
  virtual TimePoint Now() const = 0;
  virtual TimerId After(Duration delay, std::function<void()> fn) = 0;
  virtual void CancelTimer(TimerId id) = 0;
  virtual RequestId Send(HttpRequest request, ResponseCallback done) = 0;
  virtual RequestId OpenStream(HttpRequest request, StreamCallbacks callbacks) = 0;
  // Aborts a request; its callbacks will not run. Unknown or finished ids are ignored.
  virtual void Cancel(RequestId id) = 0;
  // Thread-safe: runs `fn` on the loop thread soon.
  virtual void Post(std::function<void()> fn) = 0;
};

}  // namespace factorial
