#pragma once

// Sends HTTP requests in the order given, as far as that order matters, several at a time.
// Each request names what it must not overtake (CallOrder): requests that share a key go out
// strictly one after another (the next starts only once the previous one is answered), and a
// barrier waits for every earlier request while every later one waits for it. Requests with
// nothing in common run concurrently, up to `max_in_flight`, each on a connection of its own
// (the master handles each connection's requests in order, but not across connections).
//
// The Mesos libraries send every call on one connection, one at a time, which is the order
// of barriers (the default): an executor's TASK_RUNNING cannot reach the agent after its
// TASK_FINISHED, nor a scheduler's SUPPRESS overtake its later REVIVE. A scheduler that keys
// its calls by task and offer keeps the orders that matter (an ACCEPT before the KILL of its
// task, a task's acknowledgements in order) and no others, so one slow answer no longer
// holds up every other call. Loop thread only.

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "factorial/event_loop.hpp"

namespace factorial {

// What a request must not overtake, and what must not overtake it.
struct CallOrder {
  // Requests that share a key go out one after another, in the order given.
  std::vector<std::string> keys;
  // Waits for every earlier request; every later one waits for it. The default.
  bool barrier = true;

  static CallOrder Barrier() { return {}; }
  static CallOrder Keyed(std::vector<std::string> keys) { return {std::move(keys), false}; }
};

class CallQueue {
 public:
  // Names a request given to Send, so it can be withdrawn while it waits its turn.
  using Ticket = std::uint64_t;

  // `max_in_flight`: requests sent and not yet answered at once (at least 1). The loop's cap
  // on connections per host must leave room for them (plus any stream to the same peer).
  explicit CallQueue(EventLoop& loop, std::size_t max_in_flight = 1);
  ~CallQueue();
  CallQueue(const CallQueue&) = delete;
  CallQueue& operator=(const CallQueue&) = delete;

  Ticket Send(HttpRequest request, ResponseCallback done, CallOrder order = {});
  // Drops a request that has not been sent yet; its callback never runs. False if it is in
  // flight or already answered (too late: the peer may have it).
  bool Withdraw(Ticket ticket);
  // Cancels the requests in flight and drops the queued ones; their callbacks never run.
  void Clear();
  std::size_t pending() const { return queue_.size() + in_flight_.size(); }
  std::size_t in_flight() const { return in_flight_.size(); }

 private:
  struct Queued {
    Ticket ticket;
    HttpRequest request;
    ResponseCallback done;
    CallOrder order;
  };
  struct InFlight {
    EventLoop::RequestId request = 0;
    CallOrder order;
  };
  void Next();
  void Start(Queued queued);
  void Answered(Ticket ticket);

  EventLoop& loop_;
  std::size_t max_in_flight_;
  std::list<Queued> queue_;
  std::unordered_map<Ticket, InFlight> in_flight_;
  std::unordered_map<std::string, int> keys_in_flight_;
  int barriers_in_flight_ = 0;
  Ticket next_ticket_ = 1;
};

}  // namespace factorial
