#include "factorial/call_queue.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_set>

namespace factorial {

CallQueue::CallQueue(EventLoop& loop, std::size_t max_in_flight)
    : loop_(loop), max_in_flight_(std::max<std::size_t>(1, max_in_flight)) {}

CallQueue::~CallQueue() { Clear(); }

CallQueue::Ticket CallQueue::Send(HttpRequest request, ResponseCallback done, CallOrder order) {
  Ticket ticket = next_ticket_++;
  queue_.push_back({ticket, std::move(request), std::move(done), std::move(order)});
  Next();
  return ticket;
}

bool CallQueue::Withdraw(Ticket ticket) {
  auto it = std::find_if(queue_.begin(), queue_.end(), [ticket](const Queued& q) { return q.ticket == ticket; });
  if (it == queue_.end()) return false;
  queue_.erase(it);
  // What waited behind it (a shared key, or a barrier) may go now.
  Next();
  return true;
}

void CallQueue::Clear() {
  queue_.clear();
  auto in_flight = std::move(in_flight_);
  in_flight_.clear();
  keys_in_flight_.clear();
  barriers_in_flight_ = 0;
  for (const auto& [ticket, call] : in_flight) loop_.Cancel(call.request);
}

// One pass over the queue in order: a request goes out when nothing before it, sent or
// waiting, shares a key with it and no barrier is before it. A barrier goes out only from the
// front, with nothing in flight.
void CallQueue::Next() {
  if (barriers_in_flight_ > 0) return;
  std::unordered_set<std::string_view> waiting_keys;
  for (auto it = queue_.begin(); it != queue_.end() && in_flight_.size() < max_in_flight_;) {
    if (it->order.barrier) {
      if (it == queue_.begin() && in_flight_.empty()) {
        Queued call = std::move(*it);
        queue_.erase(it);
        Start(std::move(call));
      }
      return;
    }
    bool blocked = std::any_of(it->order.keys.begin(), it->order.keys.end(), [&](const std::string& key) {
      return keys_in_flight_.count(key) > 0 || waiting_keys.count(key) > 0;
    });
    if (blocked) {
      for (const auto& key : it->order.keys) waiting_keys.insert(key);
      ++it;
      continue;
    }
    Queued call = std::move(*it);
    it = queue_.erase(it);
    Start(std::move(call));
  }
}

void CallQueue::Start(Queued queued) {
  Ticket ticket = queued.ticket;
  InFlight& call = in_flight_[ticket];
  call.order = std::move(queued.order);
  if (call.order.barrier) ++barriers_in_flight_;
  for (const auto& key : call.order.keys) ++keys_in_flight_[key];
  call.request = loop_.Send(std::move(queued.request), [this, ticket, done = std::move(queued.done)](Result<HttpResponse> result) {
    Answered(ticket);
    // Start the next ones first: `done` may destroy the owner of this queue.
    Next();
    if (done) done(std::move(result));
  });
}

void CallQueue::Answered(Ticket ticket) {
  auto it = in_flight_.find(ticket);
  if (it == in_flight_.end()) return;
  if (it->second.order.barrier) --barriers_in_flight_;
  for (const auto& key : it->second.order.keys) {
    auto k = keys_in_flight_.find(key);
    if (k != keys_in_flight_.end() && --k->second == 0) keys_in_flight_.erase(k);
  }
  in_flight_.erase(it);
}

}  // namespace factorial
