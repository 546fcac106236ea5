#include "factorial/call_queue.hpp"

#include <algorithm>

namespace factorial {

CallQueue::~CallQueue() { Clear(); }

CallQueue::Ticket CallQueue::Send(HttpRequest request, ResponseCallback done) {
  Ticket ticket = next_ticket_++;
  queue_.push_back({ticket, std::move(request), std::move(done)});
  if (in_flight_ == 0) Next();
  return ticket;
}

bool CallQueue::Withdraw(Ticket ticket) {
  auto it = std::find_if(queue_.begin(), queue_.end(), [ticket](const Queued& q) { return q.ticket == ticket; });
  if (it == queue_.end()) return false;
  queue_.erase(it);
  return true;
}

void CallQueue::Clear() {
  queue_.clear();
  if (in_flight_ != 0) loop_.Cancel(in_flight_);
  in_flight_ = 0;
}

void CallQueue::Next() {
  if (queue_.empty()) return;
  Queued next = std::move(queue_.front());
  queue_.pop_front();
  in_flight_ = loop_.Send(std::move(next.request), [this, done = std::move(next.done)](Result<HttpResponse> result) {
    in_flight_ = 0;
    // Start the next one first: `done` may destroy the owner of this queue.
    Next();
    if (done) done(std::move(result));
  });
}

}  // namespace factorial
