// The set-aside policy of agents whose executor does not start (agent_health.hpp), with times
// given by the test: exact counts, periods and reasons.

#include "agent_health.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using factorial::Duration;
using factorial::TimePoint;
using factorial::scheduler::AgentHealth;
using factorial::scheduler::LaunchFailureCause;
namespace v1 = factorial::v1;

namespace {

const TimePoint kStart = TimePoint{} + 1000s;
const std::string kCause = "the executor failed to start";

TimePoint At(Duration d) { return kStart + std::chrono::duration_cast<factorial::Clock::duration>(d); }

v1::TaskStatus Failed(std::optional<v1::TaskReason> reason, v1::TaskState state = v1::TaskState::kFailed) {
  v1::TaskStatus status;
  status.task_id.value = "t";
  status.state = state;
  status.reason = reason;
  status.message = "Executor terminated";
  return status;
}

// Fails a launch made at `launched` and seen at `seen`; returns the set-aside period, if any.
std::optional<Duration> Fail(AgentHealth& health, const std::string& agent, Duration launched, Duration seen,
                             const std::string& cause = kCause) {
  return health.LaunchFailed(agent, cause, At(launched), At(seen)).set_aside;
}

}  // namespace

TEST_CASE("only failures of the executor to start count against an agent", "[agent_health]") {
  using R = v1::TaskReason;
  CHECK(LaunchFailureCause(Failed(R::kExecutorTerminated), false) == "the executor failed to start");
  // An executor that ran the task and died did start: the task's own failure.
  CHECK_FALSE(LaunchFailureCause(Failed(R::kExecutorTerminated), true));
  CHECK(LaunchFailureCause(Failed(R::kExecutorRegistrationTimeout), false) == "the executor did not register in time");
  CHECK(LaunchFailureCause(Failed(R::kContainerLaunchFailed), false) ==
        "the executor's container could not be launched");
  CHECK_FALSE(LaunchFailureCause(Failed(R::kContainerLimitationMemory), false));
  CHECK_FALSE(LaunchFailureCause(Failed(R::kTaskInvalid), false));
  CHECK_FALSE(LaunchFailureCause(Failed(std::nullopt), false));
  CHECK_FALSE(LaunchFailureCause(Failed(R::kExecutorTerminated, v1::TaskState::kLost), false));
}

TEST_CASE("two executor failures in a row set an agent aside for 30 s, then 60, 120... up to 10 min",
          "[agent_health]") {
  AgentHealth health;
  health.Offered("A-S1", "h1", At(0s));
  CHECK_FALSE(Fail(health, "A-S1", 0s, 1s));
  CHECK_FALSE(health.SetAsideFor("A-S1", At(1s)));
  CHECK(Fail(health, "A-S1", 2s, 3s) == Duration(30s));
  CHECK(health.SetAsideFor("A-S1", At(3s)) == Duration(30s));
  CHECK(health.SetAsideFor("A-S1", At(13s)) == Duration(20s));
  CHECK_FALSE(health.SetAsideFor("A-S1", At(33s)));  // the time is up: one more launch
  // Each further failure with the same cause doubles the period at once.
  std::vector<Duration> periods;
  Duration t = 40s;
  for (int i = 0; i < 7; ++i, t += 1000s) periods.push_back(*Fail(health, "A-S1", t, t + 1s));
  CHECK(periods == std::vector<Duration>{60s, 120s, 240s, 480s, 600s, 600s, 600s});
  const auto* agent = health.Find("A-S1");
  REQUIRE(agent);
  CHECK(agent->failures == 9);
  CHECK(agent->launch_failures == 9);
  CHECK(agent->hostname == "h1");
}

TEST_CASE("a task that reaches its executor ends a set-aside and starts the counts again", "[agent_health]") {
  AgentHealth health;
  Fail(health, "A-S1", 0s, 1s);
  REQUIRE(Fail(health, "A-S1", 2s, 3s) == Duration(30s));
  Fail(health, "A-S1", 40s, 41s);  // 60 s now
  health.TaskStarted("t-ok", "A-S1");  // launched before the set-aside, it reached its executor
  CHECK(health.Started("t-ok"));
  CHECK_FALSE(health.SetAsideFor("A-S1", At(42s)));
  CHECK(health.Find("A-S1")->failures == 0);
  CHECK_FALSE(Fail(health, "A-S1", 50s, 51s));
  CHECK(Fail(health, "A-S1", 52s, 53s) == Duration(30s));  // back to the first period
  health.TaskOver("t-ok");
  CHECK_FALSE(health.Started("t-ok"));
}

TEST_CASE("failures with different causes, or of one executor, are not in a row", "[agent_health]") {
  AgentHealth health;
  // Three tasks launched together (at 0 s) went to one executor that failed: one failure.
  CHECK(health.LaunchFailed("A-S1", kCause, At(0s), At(1s)).counted);
  CHECK_FALSE(health.LaunchFailed("A-S1", kCause, At(0s), At(1s)).counted);
  CHECK_FALSE(health.LaunchFailed("A-S1", kCause, At(0s), At(1100ms)).counted);
  CHECK(health.Find("A-S1")->failures == 1);
  CHECK(health.Find("A-S1")->launch_failures == 3);
  // Another cause starts a new run of failures.
  CHECK_FALSE(Fail(health, "A-S1", 2s, 3s, "the executor did not register in time"));
  CHECK(health.Find("A-S1")->failures == 1);
  CHECK(Fail(health, "A-S1", 4s, 5s, "the executor did not register in time") == Duration(30s));
  // Agents are counted apart.
  CHECK_FALSE(Fail(health, "A-S2", 4s, 5s));
}

TEST_CASE("every agent that offered lately set aside, and the reasons grouped", "[agent_health]") {
  AgentHealth health;
  CHECK_FALSE(health.AllSetAside(At(0s), 120s));  // no agent at all
  health.Offered("A-S1", "h1", At(0s));
  health.Offered("A-S2", "h2", At(0s));
  health.Offered("A-S3", "h3", At(0s));
  for (const char* agent : {"A-S1", "A-S2", "A-S3"}) {
    Fail(health, agent, 0s, 1s);
    Fail(health, agent, 2s, 3s);
  }
  health.Explain("A-S1", kCause, "Failed to execute '/usr/bin/factorial-executor': No such file or directory");
  health.Explain("A-S2", kCause, "Failed to execute '/usr/bin/factorial-executor': No such file or directory");
  health.Explain("A-S3", kCause, "bad\x1b[2Jline");
  health.Explain("A-S3", "another cause", "ignored: not the agent's cause");
  CHECK(health.AllSetAside(At(3s), 120s));
  CHECK(health.Diagnosis(At(3s), 120s) ==
        "agents h1 (S1), h2 (S2): the executor failed to start: Failed to execute '/usr/bin/factorial-executor': "
        "No such file or directory; agent h3 (S3): the executor failed to start: bad\\x1B[2Jline");
  // An agent that offered and is fine keeps the run going; one gone for longer than the window
  // does not.
  health.Offered("A-S4", "h4", At(4s));
  CHECK_FALSE(health.AllSetAside(At(5s), 120s));
  CHECK_FALSE(health.AllSetAside(At(40s), 120s));  // S1-S3 are back by then
  AgentHealth lone;
  lone.Offered("A-S2", "h2", At(0s));
  lone.Offered("A-S1", "h1", At(150s));
  Fail(lone, "A-S1", 150s, 151s);
  Fail(lone, "A-S1", 152s, 153s);
  CHECK(lone.AllSetAside(At(153s), 120s));  // S2 has not offered for 153 s: gone
  CHECK(AgentHealth::Name("20f8-S12", "") == "20f8-S12");
}
