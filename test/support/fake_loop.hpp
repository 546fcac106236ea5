#pragma once

// A deterministic EventLoop for unit tests: requests are recorded, never sent; time moves
// only when the test calls Advance(); replies and stream bytes are delivered when the test
// says so. Like the real loop, no callback ever runs inside a call that scheduled it.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "factorial/event_loop.hpp"

namespace factorial::testing {

class FakeLoop final : public EventLoop {
 public:
  struct Request {
    RequestId id = 0;
    HttpRequest http;
    bool stream = false;
    bool open = true;  // not answered, not cancelled
    StreamCallbacks callbacks;
    ResponseCallback done;
  };

  TimePoint Now() const override { return now_; }

  TimerId After(Duration delay, std::function<void()> fn) override {
    TimerId id = ++next_timer_;
    timers_.emplace(id, Timer{now_ + std::chrono::duration_cast<Clock::duration>(delay), seq_++, std::move(fn)});
    return id;
  }
  void CancelTimer(TimerId id) override { timers_.erase(id); }

  RequestId Send(HttpRequest request, ResponseCallback done) override {
    auto& r = requests_.emplace_back();
    r.id = ++next_request_;
    r.http = std::move(request);
    r.done = std::move(done);
    if (auto_reply_) {
      RequestId id = r.id;
      long status = *auto_reply_;
      Post([this, id, status] { Reply(id, status); });
    }
    return r.id;
  }
  RequestId OpenStream(HttpRequest request, StreamCallbacks callbacks) override {
    auto& r = requests_.emplace_back();
    r.id = ++next_request_;
    r.http = std::move(request);
    r.stream = true;
    r.callbacks = std::move(callbacks);
    return r.id;
  }
  void Cancel(RequestId id) override {
    if (auto* r = Find(id)) r->open = false;
  }
  void Post(std::function<void()> fn) override {
    {
      std::lock_guard lock(mu_);
      posted_.push_back(std::move(fn));
    }
    posted_cv_.notify_all();
  }

  // ---- Test controls ----

  // Answer every later ordinary call with `status` (on the next Pump), or stop doing so.
  void AutoReply(std::optional<long> status) { auto_reply_ = status; }

  // Runs posted work until none is left.
  void Pump() {
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard lock(mu_);
        if (posted_.empty()) return;
        fn = std::move(posted_.front());
        posted_.pop_front();
      }
      fn();
    }
  }

  // Runs posted work until `done()` holds, waking for work other threads post (real compute
  // workers, lane threads). False if `timeout` of real time passes first.
  bool PumpUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      Pump();
      if (done()) return true;
      std::unique_lock lock(mu_);
      if (!posted_cv_.wait_until(lock, deadline, [this] { return !posted_.empty(); })) return false;
    }
  }

  // Moves the clock forward, firing due timers in deadline order (and posted work between).
  void Advance(Duration d) {
    TimePoint until = now_ + std::chrono::duration_cast<Clock::duration>(d);
    Pump();
    for (;;) {
      auto next = std::min_element(timers_.begin(), timers_.end(), [](const auto& a, const auto& b) {
        return std::tie(a.second.when, a.second.seq) < std::tie(b.second.when, b.second.seq);
      });
      if (next == timers_.end() || next->second.when > until) break;
      now_ = std::max(now_, next->second.when);
      auto fn = std::move(next->second.fn);
      timers_.erase(next);
      fn();
      Pump();
    }
    now_ = until;
  }

  void Reply(RequestId id, long status, std::string body = {}, Headers headers = {}) {
    Request* r = Find(id);
    if (r == nullptr || !r->open) return;
    r->open = false;
    HttpResponse response;
    response.status = status;
    response.body = std::move(body);
    response.headers = std::move(headers);
    if (r->stream) {
      if (r->callbacks.on_done) r->callbacks.on_done(std::move(response));
    } else if (r->done) {
      r->done(std::move(response));
    }
    Pump();
  }
  void Fail(RequestId id, Error error) {
    Request* r = Find(id);
    if (r == nullptr || !r->open) return;
    r->open = false;
    auto& done = r->stream ? r->callbacks.on_done : r->done;
    if (done) done(std::move(error));
    Pump();
  }
  // Starts a 200 stream and delivers `bytes`; returns false if the receiver aborted.
  bool StreamBytes(RequestId id, std::string_view bytes, Headers headers = {}) {
    Request* r = Find(id);
    if (r == nullptr || !r->open) return false;
    if (!head_sent_[id]) {
      head_sent_[id] = true;
      HttpResponse head;
      head.status = 200;
      head.headers = std::move(headers);
      if (r->callbacks.on_head && !r->callbacks.on_head(head)) return false;
    }
    bool keep = r->callbacks.on_data ? r->callbacks.on_data(bytes) : true;
    if (!keep && r->open) Fail(id, Error{Errc::kInternal, "transfer aborted by the receiver"});
    Pump();
    return keep;
  }
  // Ends a stream as EOF (status 200) from the server.
  void EndStream(RequestId id) { Reply(id, 200); }

  std::vector<Request*> All() {
    std::vector<Request*> out;
    for (auto& r : requests_) out.push_back(&r);
    return out;
  }
  std::vector<Request*> OpenCalls() {
    std::vector<Request*> out;
    for (auto& r : requests_) {
      if (!r.stream && r.open) out.push_back(&r);
    }
    return out;
  }
  Request* LastStream() {
    for (auto it = requests_.rbegin(); it != requests_.rend(); ++it) {
      if (it->stream) return &*it;
    }
    return nullptr;
  }
  std::size_t open_streams() const {
    return static_cast<std::size_t>(std::count_if(requests_.begin(), requests_.end(),
                                                   [](const Request& r) { return r.stream && r.open; }));
  }
  std::size_t pending_timers() const { return timers_.size(); }

 private:
  struct Timer {
    TimePoint when;
    std::uint64_t seq;
    std::function<void()> fn;
  };
  Request* Find(RequestId id) {
    for (auto& r : requests_) {
      if (r.id == id) return &r;
    }
    return nullptr;
  }

  TimePoint now_{};
  std::deque<Request> requests_;  // deque: stable addresses
  std::map<RequestId, bool> head_sent_;
  std::map<TimerId, Timer> timers_;
  std::uint64_t seq_ = 0;
  TimerId next_timer_ = 0;
  RequestId next_request_ = 0;
  std::optional<long> auto_reply_;
  std::mutex mu_;
  std::condition_variable posted_cv_;
  std::deque<std::function<void()>> posted_;
};

}  // namespace factorial::testing
