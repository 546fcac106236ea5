#pragma once

// Sends HTTP requests strictly one after another, in the order given: the next request starts
// only when the previous one has completed. The Mesos libraries give calls this guarantee (one
// connection, requests answered in order); without it an executor's TASK_RUNNING can reach the
// agent after its TASK_FINISHED, or a scheduler's SUPPRESS overtake its later REVIVE.
// Loop thread only.

#include <cstddef>
#include <deque>
#include <utility>

#include "factorial/event_loop.hpp"

namespace factorial {

class CallQueue {
 public:
  explicit CallQueue(EventLoop& loop) : loop_(loop) {}
  ~CallQueue();
  CallQueue(const CallQueue&) = delete;
  CallQueue& operator=(const CallQueue&) = delete;

  void Send(HttpRequest request, ResponseCallback done);
  // Cancels the request in flight and drops the queued ones; their callbacks never run.
  void Clear();
  std::size_t pending() const { return queue_.size() + (in_flight_ != 0 ? 1 : 0); }

 private:
  void Next();

  EventLoop& loop_;
  std::deque<std::pair<HttpRequest, ResponseCallback>> queue_;
  EventLoop::RequestId in_flight_ = 0;
};

}  // namespace factorial
