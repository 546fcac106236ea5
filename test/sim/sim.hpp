#pragma once

// mesos-sim: one process playing a Mesos 1.x master (optionally a leader and a follower) and
// N agents on loopback, speaking the real v1 scheduler and executor HTTP APIs. Executors are
// real child processes in per-executor sandboxes. Fidelity is the point: each behaviour names
// the section of mesos-v1-api.md it follows; deviations are listed in test/sim/README.md.
//
// Thread-safety: all state sits behind one mutex; HTTP handlers run on the servers' thread
// pools, one background thread drives time (allocation, heartbeats, update retries, timeouts).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace factorial::sim {

struct AgentResources {
  double cpus = 2;
  double mem = 2048;
  double disk = 4096;
  std::uint64_t ports_begin = 31000;
  std::uint64_t ports_end = 31100;
};

struct SimOptions {
  int agents = 1;
  AgentResources resources;
  // Agents whose resources differ, as a real cluster's agents each have their own
  // --resources: agent i has agent_resources[i] where given, `resources` otherwise.
  std::vector<AgentResources> agent_resources;
  std::string ip = "127.0.0.1";
  std::string hostname = "localhost";
  int port = 0;     // leading master's port; 0 = ephemeral
  int masters = 1;  // 2: a leader and a follower that redirects (307) to it
  bool failover_forgets_frameworks = false;
  std::chrono::milliseconds heartbeat_interval{15000};
  std::chrono::milliseconds allocation_interval{1000};
  std::chrono::milliseconds offer_timeout{0};  // 0: offers never time out
  std::chrono::milliseconds update_retry_interval{10000};
  std::chrono::milliseconds update_retry_max{600000};
  std::chrono::milliseconds executor_registration_timeout{60000};
  std::chrono::milliseconds executor_shutdown_grace_period{5000};
  std::chrono::milliseconds executor_reregistration_timeout{2000};
  std::chrono::milliseconds recovery_timeout{900000};
  std::chrono::milliseconds executor_heartbeat_interval{1800000};  // agent -> executor, 30 min
  std::string work_dir;  // empty: a fresh directory under $TMPDIR, removed on Stop()
  // Faults from the start (the same as the /sim/... controls).
  int fail_calls = 0;          // answer the next N scheduler calls with fail_status
  int fail_status = 500;       // 500, 503 or 400
  std::string fail_call_type;  // only calls of this type ("DECLINE") fail; empty: any call
  std::chrono::milliseconds response_delay{0};
  bool stall_heartbeats = false;
  std::uint64_t seed = 0;  // 0: random master id
  // Called (under the simulator's lock) when /sim/leader moves leadership; -1: no leader.
  std::function<void(int leader)> on_leader_changed;
};

class MesosSim {
 public:
  explicit MesosSim(SimOptions options);
  ~MesosSim();  // Stop()
  MesosSim(const MesosSim&) = delete;
  MesosSim& operator=(const MesosSim&) = delete;

  // Binds every server and starts the clock thread. Throws std::runtime_error on failure.
  void Start();
  // Kills every executor, closes every stream, stops the servers. Idempotent.
  void Stop();

  // "http://127.0.0.1:<port>" of master `index` (0 is the initial leader).
  std::string master_url(int index = 0) const;
  std::string agent_url(int index) const;
  std::string work_dir() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace factorial::sim
