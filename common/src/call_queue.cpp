#include "factorial/call_queue.hpp"

namespace factorial {

CallQueue::~CallQueue() { Clear(); }

void CallQueue::Send(HttpRequest request, ResponseCallback done) {
  queue_.emplace_back(std::move(request), std::move(done));
  if (in_flight_ == 0) Next();
}

void CallQueue::Clear() {
  queue_.clear();
  if (in_flight_ != 0) loop_.Cancel(in_flight_);
  in_flight_ = 0;
}

void CallQueue::Next() {
  if (queue_.empty()) return;
  auto [request, done] = std::move(queue_.front());
  queue_.pop_front();
  in_flight_ = loop_.Send(std::move(request), [this, done = std::move(done)](Result<HttpResponse> result) {
    in_flight_ = 0;
    // Start the next one first: `done` may destroy the owner of this queue.
    Next();
    if (done) done(std::move(result));
  });
}

}  // namespace factorial
