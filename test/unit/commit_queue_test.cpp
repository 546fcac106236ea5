#include "commit_queue.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

using factorial::scheduler::CommitQueue;

namespace {

// Waiters that record their name when run.
struct Log {
  std::vector<std::string> ran;
  std::function<void()> Waiter(std::string name) {
    return [this, name] { ran.push_back(name); };
  }
  static void Run(std::vector<std::function<void()>> waiters) {
    for (auto& then : waiters) then();
  }
};

}  // namespace

TEST_CASE("CommitQueue: a waiter waits for every item appended before it, the commit in flight included") {
  CommitQueue<int> queue;
  Log log;
  queue.Append(1);
  REQUIRE(queue.has_items());
  CHECK(queue.Ready().empty());  // nothing runs before item 1 is durable
  CHECK(queue.Begin().items == std::vector<int>{1});
  CHECK(queue.in_flight());
  CHECK_FALSE(queue.next_due());
  queue.Wait(log.Waiter("w1"));  // nothing appended since the commit began: it joins that commit
  CHECK_FALSE(queue.next_due());
  queue.Append(2);
  queue.Wait(log.Waiter("w2"));  // behind item 2: the next commit
  queue.Append(3);
  CHECK(queue.Ready().empty());
  auto first = queue.End();
  REQUIRE(first);
  CHECK(first->items == std::vector<int>{1});
  Log::Run(std::move(first->waiters));
  CHECK(log.ran == std::vector<std::string>{"w1"});
  CHECK(queue.next_due());
  CHECK(queue.Begin().items == std::vector<int>{2, 3});
  auto second = queue.End();
  REQUIRE(second);
  Log::Run(std::move(second->waiters));
  CHECK(log.ran == std::vector<std::string>{"w1", "w2"});
  CHECK_FALSE(queue.next_due());
  CHECK_FALSE(queue.End());  // none in flight
}

TEST_CASE("CommitQueue: a waiter with nothing to wait for is ready at once, and a failed commit's waiters are dropped") {
  CommitQueue<int> queue;
  Log log;
  queue.Wait(log.Waiter("idle"));
  CHECK(queue.next_due());
  Log::Run(queue.Ready());
  CHECK(log.ran == std::vector<std::string>{"idle"});
  CHECK_FALSE(queue.next_due());

  queue.Append(7);
  queue.Wait(log.Waiter("after 7"));
  CHECK(queue.Begin().waiters.size() == 1);
  queue.Append(8);
  queue.Wait(log.Waiter("after 8"));
  auto failed = queue.End();  // the caller drops its waiters: nothing of it is durable
  REQUIRE(failed);
  CHECK(failed->items == std::vector<int>{7});
  // The end of the job: the rest is committed at once; its waiters are dropped.
  CHECK(queue.TakeItems() == std::vector<int>{8});
  CHECK_FALSE(queue.next_due());
  CHECK(queue.Ready().empty());
  CHECK(log.ran == std::vector<std::string>{"idle"});
}
