// The largest task data the contract allows, and one number more. In a binary of their own:
// a worker process started with posix_spawn (vfork) reports the parent's peak RSS as its own
// ru_maxrss, so the megabytes these tests use would skew the worker memory tests run after
// them in the same process.

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/executor_harness.hpp"

using namespace factorial::testing::executor;

namespace {

std::string Count(int count) {
  std::string data;
  for (int i = 0; i < count; ++i) data += (i > 0 ? " " : "") + std::to_string(i);
  return data;
}

}  // namespace

TEST_CASE("a million-number batch is accepted, one more number is not", "[executor][batch]") {
  Harness h;
  h.Deliver({Subscribed(), Launch("million", Count(1000000), 2, 0), Launch("more", Count(1000001), 2, 0)});
  auto updates = h.Updates();
  REQUIRE(updates.size() == 2);
  CHECK(updates[0].task_id.value == "million");
  CHECK(updates[0].state == TaskState::kRunning);
  CHECK(updates[1].task_id.value == "more");
  CHECK(updates[1].state == TaskState::kFailed);
  CHECK(updates[1].reason == v1::TaskReason::kTaskInvalid);
  CHECK(*updates[1].message == "task data holds more than 1000000 numbers");
  // Largest first, one per lane, all through the (fake) worker runner.
  CHECK(h.runner.started == std::vector<std::string>{"million/999999", "million/999998"});
  h.Deliver({Kill("million")});
  auto killed = h.Terminal("million");
  CHECK(killed.state == TaskState::kKilled);
  CHECK(h.runner.killed == std::vector<std::string>{"million/999998", "million/999999"});
  CHECK(h.runner.started.size() == 2);  // nothing started after the KILL
}
