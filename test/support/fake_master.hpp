#pragma once

// A fake Mesos master on 127.0.0.1, for faults mesos-sim cannot produce on demand (a stream
// that never says SUBSCRIBED, a corrupt record, an update that crosses a KILL). Every request
// to /api/v1/scheduler is recorded by type. SUBSCRIBE is answered 200 with the chunks the
// script returns for that attempt (1, 2, ...; an empty chunk is a 100 ms pause); then the
// stream stays open (`hold`), sending what Push() queues as it falls due, until the client goes
// away or the master is destroyed, or it ends. Every other call is answered 202, after
// `on_call` has seen it.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "support/e2e.hpp"

namespace factorial::testing {

// One RecordIO record.
inline std::string Framed(const std::string& record) { return std::to_string(record.size()) + "\n" + record; }

// SUBSCRIBED to the framework "fake-framework", heartbeats every 600 s (none come).
inline std::string SubscribedRecord() {
  return Json{{"type", "SUBSCRIBED"},
              {"subscribed", {{"framework_id", {{"value", "fake-framework"}}}, {"heartbeat_interval_seconds", 600}}}}
      .dump();
}

class FakeMaster {
 public:
  using Script = std::function<std::vector<std::string>(int attempt)>;
  using OnCall = std::function<void(const Json& call, FakeMaster& master)>;

  // The usual script: SUBSCRIBED, then `events` (JSON records), the same at every attempt.
  static Script SubscribedThen(std::vector<std::string> events) {
    return [events = std::move(events)](int) {
      std::vector<std::string> chunks = {Framed(SubscribedRecord())};
      for (const auto& e : events) chunks.push_back(Framed(e));
      return chunks;
    };
  }

  explicit FakeMaster(Script script, bool hold = true, OnCall on_call = {})
      : script_(std::move(script)), hold_(hold), on_call_(std::move(on_call)) {
    server_.Post("/api/v1/scheduler", [this](const httplib::Request& req, httplib::Response& res) {
      Json call = Json::parse(req.body, nullptr, false);
      std::string type = call.is_object() ? call.value("type", "") : "";
      int attempt = 0;
      {
        std::lock_guard lock(mu_);
        calls_.push_back(type);
        attempt = static_cast<int>(std::count(calls_.begin(), calls_.end(), "SUBSCRIBE"));
      }
      if (type != "SUBSCRIBE") {
        if (on_call_) on_call_(call, *this);
        res.status = 202;
        return;
      }
      res.status = 200;
      res.set_header("Mesos-Stream-Id", "fake-stream");
      auto chunks = std::make_shared<std::vector<std::string>>(script_(attempt));
      res.set_chunked_content_provider("application/json", [this, chunks](std::size_t, httplib::DataSink& sink) {
        return Stream(*chunks, sink);
      });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeMaster() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    server_.stop();
    thread_.join();
  }
  FakeMaster(const FakeMaster&) = delete;
  FakeMaster& operator=(const FakeMaster&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The type of every call so far, in arrival order ("" for a body that is no JSON object).
  std::vector<std::string> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int subscribes() {
    auto all = calls();
    return static_cast<int>(std::count(all.begin(), all.end(), "SUBSCRIBE"));
  }
  // `event` goes out on the held stream `delay` from now.
  void Push(const Json& event, std::chrono::milliseconds delay = 0ms) {
    std::lock_guard lock(mu_);
    pushed_.emplace(std::chrono::steady_clock::now() + delay, event.dump());
    cv_.notify_all();
  }

 private:
  // The body of one SUBSCRIBE answer; false ends the connection.
  bool Stream(const std::vector<std::string>& chunks, httplib::DataSink& sink) {
    for (const auto& chunk : chunks) {
      if (chunk.empty()) {
        std::unique_lock lock(mu_);
        if (cv_.wait_for(lock, 100ms, [&] { return stopping_; })) return false;
        continue;
      }
      if (!sink.write(chunk.data(), chunk.size())) return false;
    }
    if (!hold_) {
      sink.done();
      return true;
    }
    // Pushed events as they fall due, until the scheduler goes away or the test ends.
    std::unique_lock lock(mu_);
    while (!stopping_ && sink.is_writable()) {
      auto now = std::chrono::steady_clock::now();
      if (!pushed_.empty() && pushed_.begin()->first <= now) {
        std::string framed = Framed(pushed_.begin()->second);
        pushed_.erase(pushed_.begin());
        lock.unlock();
        bool sent = sink.write(framed.data(), framed.size());
        lock.lock();
        if (!sent) break;
        continue;
      }
      if (pushed_.empty()) {
        cv_.wait_for(lock, 100ms);
      } else {
        cv_.wait_until(lock, pushed_.begin()->first);
      }
    }
    return false;
  }

  Script script_;
  bool hold_;
  OnCall on_call_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<std::string> calls_;
  std::multimap<std::chrono::steady_clock::time_point, std::string> pushed_;
};

}  // namespace factorial::testing
