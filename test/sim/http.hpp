#pragma once

// The HTTP surface mesos-sim shares between its master and agent servers: libprocess-style
// plain-text answers, the POST-only route, media-type negotiation, picojson's syntax-error
// text, and the RecordIO event streams the servers drain to their clients.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "factorial/recordio.hpp"
#include "factorial/status.hpp"

namespace factorial::sim {

using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using Time = SteadyClock::time_point;
using Millis = std::chrono::milliseconds;

inline constexpr const char* kJson = "application/json";
inline constexpr const char* kText = "text/plain; charset=utf-8";
inline constexpr const char* kVersion = "1.12.0";

// Seconds since the epoch, as TaskStatus.timestamp carries them.
double WallNow();
// The RFC 7231 date libprocess puts on every answer.
std::string HttpDate();

// Plain-text error answers, as libprocess renders them (§1.3).
void Text(httplib::Response& res, int status, const std::string& body);
// 202 with an empty body: a call accepted for processing (§5.3 step 19).
void Accepted(httplib::Response& res);
// §1.2: anything but POST is 405 with Allow: POST (real-mesos/err-get-method.*).
void NotAllowed(const httplib::Request& req, httplib::Response& res);
// A POST route whose body is read only when the request announces one. httplib otherwise
// reads a POST without Content-Length or chunked encoding until the peer closes (a `curl -X
// POST` without data hung for 75 s); HTTP/1.1, and Mesos, take it as an empty body.
void PostRoute(httplib::Server& server, const std::string& pattern,
               std::function<void(const httplib::Request&, httplib::Response&)> handler);

// libprocess Request::acceptsMediaType (§1.4): JSON is acceptable iff the most specific
// matching entry of `Accept` has q > 0; no header accepts everything.
bool AcceptsJson(const httplib::Request& req);
// picojson-style syntax error text: "syntax error at line N near: <rest of input>" (§5.3 6b,
// recorded in real-mesos/err-bad-json.body).
std::string JsonSyntaxError(const std::string& body);

// §5.3 steps 5-6 (the agent's §6.2 alike): a JSON body parsed by `parse`, or nullopt once
// the missing or wrong Content-Type (400, 415), the syntax error or the message that does not
// convert (400) is answered. Protobuf bodies are a documented deviation: 415 like any type.
template <class Call>
std::optional<Call> ReadJsonCall(const httplib::Request& req, httplib::Response& res,
                                 Result<Call> (*parse)(std::string_view)) {
  if (!req.has_header("Content-Type")) {
    Text(res, 400, "Expecting 'Content-Type' to be present");
    return std::nullopt;
  }
  if (req.get_header_value("Content-Type") != kJson) {
    Text(res, 415, "Expecting 'Content-Type' of application/json or application/x-protobuf");
    return std::nullopt;
  }
  Result<Call> parsed = parse(req.body);
  if (parsed.ok()) return std::move(parsed).value();
  if (parsed.error().code == Errc::kCorruption) {
    Text(res, 400, "Failed to parse body into JSON: " + JsonSyntaxError(req.body));
  } else {
    Text(res, 400, "Failed to convert JSON into Call protobuf: " + parsed.error().message);
  }
  return std::nullopt;
}

// One open event stream. Producers append whole records under the sim lock; the HTTP thread
// that owns the response drains it. Never lock the sim mutex while holding `mu`.
struct Stream {
  std::mutex mu;
  std::condition_variable cv;
  std::string buffer;
  bool closed = false;     // the sim ended it (EOF after the buffer drains)
  bool client_gone = false;

  void PushRecord(const std::string& payload) {
    std::lock_guard lock(mu);
    if (closed) return;
    AppendRecord(payload, &buffer);
    cv.notify_all();
  }
  void PushRaw(const std::string& bytes) {
    std::lock_guard lock(mu);
    if (closed) return;
    buffer += bytes;
    cv.notify_all();
  }
  void Close() {
    std::lock_guard lock(mu);
    closed = true;
    cv.notify_all();
  }
};

// Answers 200 and streams `stream` as chunked JSON until it is closed or the client leaves;
// `on_close` runs (without any lock held) once the response ends. A non-empty `stream_id` is
// sent as Mesos-Stream-Id.
void ServeStream(httplib::Response& res, std::shared_ptr<Stream> stream, std::function<void()> on_close,
                 const std::string& stream_id);

}  // namespace factorial::sim
