#pragma once

// What the mesos-sim end-to-end suites share: a sim tuned for fast tests and the scheduler's
// command line against it. Include after sim.hpp and support/e2e.hpp, in a test target that
// defines FACTORIAL_SCHEDULER_BINARY and FACTORIAL_EXECUTOR_BINARY.

#include <string>
#include <vector>

namespace factorial::testing {

// Second-scale heartbeats and update retries, a 50 ms allocation cycle: fast, still the
// real master's sequence of events.
inline sim::SimOptions FastSimOptions(int agents = 3) {
  sim::SimOptions o;
  o.agents = agents;
  o.heartbeat_interval = 1000ms;
  o.allocation_interval = 50ms;
  o.update_retry_interval = 500ms;
  o.executor_shutdown_grace_period = 1000ms;
  return o;
}

// factorial-scheduler against `master` with the built executor and a short decline filter,
// then `extra`.
inline std::vector<std::string> SimSchedulerArgs(const std::string& master, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {FACTORIAL_SCHEDULER_BINARY, "--master", master, "--executor",
                                   FACTORIAL_EXECUTOR_BINARY, "--refuse-seconds", "0.2"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

}  // namespace factorial::testing
