#pragma once

// Sends HTTP requests strictly one after another, in the order given: the next request starts
// only when the previous one has completed. The Mesos libraries give calls this guarantee (one
// connection, requests answered in order); without it an executor's TASK_RUNNING can reach the
// agent after its TASK_FINISHED, or a scheduler's SUPPRESS overtake its later REVIVE.
// Loop thread only.

#include <cstddef>
#include <cstdint>
#include <deque>

#include "factorial/event_loop.hpp"

namespace factorial {

class CallQueue {
 public:
  // Names a request given to Send, so it can be withdrawn while it waits its turn.
  using Ticket = std::uint64_t;

  explicit CallQueue(EventLoop& loop) : loop_(loop) {}
  ~CallQueue();
  CallQueue(const CallQueue&) = delete;
  CallQueue& operator=(const CallQueue&) = delete;

  Ticket Send(HttpRequest request, ResponseCallback done);
  // Drops a request that has not been sent yet; its callback never runs. False if it is in
  // flight or already answered (too late: the peer may have it).
  bool Withdraw(Ticket ticket);
  // Cancels the request in flight and drops the queued ones; their callbacks never run.
  void Clear();
  std::size_t pending() const { return queue_.size() + (in_flight_ != 0 ? 1 : 0); }

 private:
  void Next();

  EventLoop& loop_;
  struct Queued {
    Ticket ticket;
    HttpRequest request;
    ResponseCallback done;
  };
  std::deque<Queued> queue_;
  EventLoop::RequestId in_flight_ = 0;
  Ticket next_ticket_ = 1;
};

}  // namespace factorial
