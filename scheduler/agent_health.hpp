#pragma once

// Which agents can start our executor. A launch whose task never reached the executor because
// the executor did not start (its program missing or broken on that agent, a fetch that failed,
// no registration in time) says nothing about the numbers in it: they run again at no cost to
// --max-retries, and the failure counts against the agent instead.
//
// The policy: after `failures` consecutive executor failures on an agent with the same cause,
// the agent is set aside: its offers are declined, with a filter for the time left, for
// `first` (30 s), doubling at each further failure of the same cause (60 s, 120 s, ...) up to
// `longest` (10 min). A task of ours that reaches an executor there ends it all: the counts
// and the doubling start again. Once the time is up the agent gets one launch; a failure puts
// it back at once, for twice as long.
//
// Spark's Mesos backend set an agent aside after 2 task failures of any kind, counted over the
// application's whole life, for good: a job that lost two tasks to a bad number, or whose
// agent was briefly broken and then repaired, never used that agent again, and nothing said
// why. Here only failures of the executor to start count (a task that fails on its own is a
// number's problem, paid by the number's retries); they must come in a row with the same
// cause; a set-aside ends by itself, so an agent that is repaired is used again within one
// period, while one that stays broken costs one launch per doubling period, and the reason is
// logged and shown on the status page.
//
// Pure bookkeeping: no I/O, the time is passed in. Single-threaded (the scheduler's loop).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "factorial/event_loop.hpp"
#include "factorial/messages.hpp"

namespace factorial::scheduler {

struct SetAsidePolicy {
  int failures = 2;  // consecutive executor failures with one cause before the first set-aside
  Duration first = std::chrono::seconds(30);
  Duration longest = std::chrono::minutes(10);
};

// Why the task's launch failed before its executor ran it, in words ("the executor failed to
// start"); nullopt when the task failed for another reason (it reached its executor, or the
// master refused it). `task_started`: the task ever reached TASK_STARTING or TASK_RUNNING.
std::optional<std::string> LaunchFailureCause(const v1::TaskStatus& status, bool task_started);

class AgentHealth {
 public:
  struct Agent {
    std::string id;
    std::string hostname;
    std::optional<TimePoint> last_offer;
    std::string cause;   // of the current run of failures ("" when none)
    std::string detail;  // what the agent said about it (its sandbox stderr), as received
    int failures = 0;    // executor failures in a row with `cause`
    int set_asides = 0;  // since the last success: the next period is first x 2^set_asides
    std::optional<TimePoint> until;  // set aside until then
    TimePoint last_failure{};        // when the last counted failure was seen
    std::uint64_t launch_failures = 0;  // tasks whose executor did not start, ever
  };

  explicit AgentHealth(SetAsidePolicy policy = {}) : policy_(policy) {}

  // The agent offered resources now.
  void Offered(const std::string& agent_id, const std::string& hostname, TimePoint now);
  // A task of ours reached its executor on the agent: the executor starts there.
  void TaskStarted(const std::string& task_id, const std::string& agent_id);
  bool Started(const std::string& task_id) const { return started_.contains(task_id); }
  // The task is over (whatever the outcome).
  void TaskOver(const std::string& task_id) { started_.erase(task_id); }

  // A task launched at `launched_at` on the agent failed before its executor ran it, for
  // `cause`. Tasks launched before the last failure there was seen shared its executor: they
  // do not count again.
  struct Failure {
    bool counted = false;               // a failure of its own, not of an executor counted already
    std::optional<Duration> set_aside;  // this set the agent aside for so long
  };
  Failure LaunchFailed(const std::string& agent_id, const std::string& cause, TimePoint launched_at, TimePoint now);
  // What the agent's sandbox said about `cause` (ignored if the agent has moved on).
  void Explain(const std::string& agent_id, const std::string& cause, std::string detail);

  // How much longer the agent is set aside; nullopt if it is not.
  std::optional<Duration> SetAsideFor(const std::string& agent_id, TimePoint now) const;
  // At least one agent offered within `window`, and every one that did is set aside now.
  bool AllSetAside(TimePoint now, Duration window) const;
  // Why nothing can run: each set-aside agent that offered within `window` with its cause and
  // detail (escaped), agents with the same cause and detail together.
  std::string Diagnosis(TimePoint now, Duration window) const;

  const std::map<std::string, Agent>& agents() const { return agents_; }
  const Agent* Find(const std::string& agent_id) const;

  // "host (S3)": the hostname and the agent ID's last part, as operators see them in the UI.
  static std::string Name(const std::string& agent_id, const std::string& hostname);

 private:
  SetAsidePolicy policy_;
  std::map<std::string, Agent> agents_;
  std::unordered_set<std::string> started_;  // live tasks that reached their executor
};

}  // namespace factorial::scheduler
