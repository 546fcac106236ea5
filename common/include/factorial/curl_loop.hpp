#pragma once

#include <memory>

#include "factorial/event_loop.hpp"

namespace factorial {

// Owns libcurl's global state; create exactly one, in main(), before any CurlLoop.
class CurlGlobal {
 public:
  CurlGlobal();
  ~CurlGlobal();
  CurlGlobal(const CurlGlobal&) = delete;
  CurlGlobal& operator=(const CurlGlobal&) = delete;
};

// EventLoop over one libcurl multi handle, driven by the thread that calls Run(). Every
// transfer (the subscription stream and each call) is an easy handle in that multi, so
// connections are reused (keep-alive) and no other thread ever touches curl. Redirects are
// not followed: callers see 3xx with `Location`. Curl never calls user code directly: bytes
// are collected in curl's callbacks and dispatched after curl_multi_perform returns, so
// callbacks may freely start, cancel and finish transfers.
class CurlLoop final : public EventLoop {
 public:
  // At most `max_connections_per_host` connections to one host:port; further requests wait,
  // first in first out (curl queues them). The default, 2, is the Mesos libraries' design:
  // the event stream plus ONE connection for calls, so calls reach the master or agent in
  // the order they were made. With more, an executor's TASK_RUNNING can overtake its
  // TASK_FINISHED, or a scheduler's SUPPRESS its later REVIVE. Without a cap, every burst of
  // calls also leaves a connection per call open on the server.
  static constexpr long kDefaultMaxConnectionsPerHost = 2;
  explicit CurlLoop(long max_connections_per_host = kDefaultMaxConnectionsPerHost);
  ~CurlLoop() override;
  CurlLoop(const CurlLoop&) = delete;
  CurlLoop& operator=(const CurlLoop&) = delete;

  // Runs until Stop(). Returns immediately if Stop() was already called.
  void Run();
  // Thread-safe; async-signal-unsafe (use Post from a self-pipe or signalfd reader instead).
  void Stop();

  TimePoint Now() const override;
  TimerId After(Duration delay, std::function<void()> fn) override;
  void CancelTimer(TimerId id) override;
  RequestId Send(HttpRequest request, ResponseCallback done) override;
  RequestId OpenStream(HttpRequest request, StreamCallbacks callbacks) override;
  void Cancel(RequestId id) override;
  void Post(std::function<void()> fn) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace factorial
