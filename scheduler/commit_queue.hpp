#pragma once

// --state-dir: results appended to the journal but not yet durable, and what waits for them
// (the acknowledgements of the updates that carried them), grouped into commits. One commit is
// in flight at a time; what comes meanwhile waits for the next. A waiter runs only once every
// result appended before it is durable: with the commit in flight when nothing was appended
// since that commit began, else with the next one. No I/O here: the caller syncs, and says
// when a commit ended.

#include <functional>
#include <optional>
#include <utility>
#include <vector>

namespace factorial::scheduler {

template <typename Item>
class CommitQueue {
 public:
  struct Commit {
    std::vector<Item> items;
    std::vector<std::function<void()>> waiters;
  };

  void Append(Item item) { pending_.items.push_back(std::move(item)); }
  void Wait(std::function<void()> then) {
    if (in_flight_ && pending_.items.empty()) {
      in_flight_->waiters.push_back(std::move(then));
    } else {
      pending_.waiters.push_back(std::move(then));
    }
  }

  bool in_flight() const { return in_flight_.has_value(); }
  // Items appended since the commit in flight began (or since the last one ended).
  bool has_items() const { return !pending_.items.empty(); }
  // Something waits for the next commit: items, or waiters behind them.
  bool next_due() const { return !pending_.items.empty() || !pending_.waiters.empty(); }

  // Waiters that wait for nothing (no commit in flight, nothing appended): to run now.
  std::vector<std::function<void()>> Ready() {
    if (in_flight_ || !pending_.items.empty()) return {};
    return std::exchange(pending_.waiters, {});
  }
  // Everything pending becomes the commit in flight. Only when !in_flight() and has_items().
  const Commit& Begin() {
    in_flight_ = std::exchange(pending_, Commit{});
    return *in_flight_;
  }
  // The commit in flight ended: it, with its items to resolve and its waiters to run (or to
  // drop, after an error); nullopt if none was in flight.
  std::optional<Commit> End() { return std::exchange(in_flight_, std::nullopt); }
  // The last commit, made by the caller at once: every pending item. Their waiters are
  // dropped: the job is over, nothing can act on them.
  std::vector<Item> TakeItems() {
    pending_.waiters.clear();
    return std::exchange(pending_.items, {});
  }

 private:
  Commit pending_;
  std::optional<Commit> in_flight_;
};

}  // namespace factorial::scheduler
