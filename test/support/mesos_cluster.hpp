#pragma once

// Real Mesos 1.12 masters elected through ZooKeeper, plus one agent that finds them through
// ZooKeeper, for tests: every daemon on 127.0.0.1 with a free port and its own work dir under
// one test directory (kept, with every daemon's full log, when the test fails; see
// TestDirectory), flags as in /work/shared/real-mesos/cluster.sh plus `--zk`, `--quorum` and
// the replicated log registry. Stopped (agent first, SIGUSR1 so it shuts its executors down)
// when the object goes away.

#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/daemon.hpp"
#include "support/e2e.hpp"

namespace factorial::testing {

class MesosCluster {
 public:
  // `mesos_home` holds bin/ and libexec/mesos (see FindMesos in support/real_mesos.hpp).
  // `zk` is "host:port" of the ensemble; the masters' group is /mesos under `zk_root`.
  MesosCluster(std::string mesos_home, const std::string& zk, const std::string& zk_root, int masters,
               std::string agent_resources = "cpus:4;mem:4096;disk:4096")
      : home_(std::move(mesos_home)), zk_url_("zk://" + zk + zk_root + "/mesos"), dir_("factorial-mesos") {
    for (int i = 0; i < masters; ++i) master_ports_.push_back(FreeLoopbackPort());
    for (int i = 0; i < masters; ++i) StartMaster(i);
    agent_port_ = FreeLoopbackPort();
    auto agent_dir = dir_ / "agent";
    for (const char* sub : {"work", "runtime", "fetch"}) std::filesystem::create_directories(agent_dir / sub);
    agent_ = std::make_unique<Daemon>(
        std::vector<std::string>{home_ + "/bin/mesos-agent", "--master=" + zk_url_, "--ip=127.0.0.1",
                                 "--port=" + std::to_string(agent_port_), "--hostname=127.0.0.1",
                                 "--work_dir=" + (agent_dir / "work").string(),
                                 "--runtime_dir=" + (agent_dir / "runtime").string(),
                                 "--fetcher_cache_dir=" + (agent_dir / "fetch").string(),
                                 "--launcher_dir=" + home_ + "/libexec/mesos", "--resources=" + agent_resources,
                                 "--containerizers=mesos", "--isolation=posix/cpu,posix/mem", "--launcher=posix",
                                 "--no-systemd_enable_support", "--no-switch_user"},
        dir_ / "agent.log", SIGUSR1, kLibprocessIp);
  }
  ~MesosCluster() {
    if (agent_) agent_->Stop(SIGUSR1);
    for (auto& m : masters_) {
      if (m) ::kill(m->pid(), SIGTERM);
    }
    for (auto& m : masters_) {
      if (m) m->Stop();
    }
    KillProcessesUnder(dir_.path());
  }
  MesosCluster(const MesosCluster&) = delete;
  MesosCluster& operator=(const MesosCluster&) = delete;

  const std::string& zk_url() const { return zk_url_; }
  std::string master_url(int i) const {
    return "http://127.0.0.1:" + std::to_string(master_ports_.at(static_cast<std::size_t>(i)));
  }
  int masters() const { return static_cast<int>(master_ports_.size()); }
  // Where every daemon's work directory and log (master<i>.log, agent.log) is; a test puts its
  // own logs there too, to have them kept with the daemons' when it fails.
  const TestDirectory& dir() const { return dir_; }

  // The master that says it leads and knows `agents` agents, or -1.
  int Leader(std::size_t agents = 0) const {
    for (int i = 0; i < masters(); ++i) {
      if (!masters_.at(static_cast<std::size_t>(i))) continue;
      auto state = Request(master_url(i), "GET", "/master/state");
      if (state.status != 200) continue;
      auto j = Json::parse(state.body, nullptr, false);
      if (j.is_discarded() || !j.contains("leader") || j["leader"] != j["pid"]) continue;
      if (j.contains("slaves") && j["slaves"].size() >= agents) return i;
    }
    return -1;
  }

  // True iff master `i` runs and its replica of the registry's replicated log has finished
  // recovering (it votes).
  bool ReplicaRecovered(int i) const {
    if (!masters_.at(static_cast<std::size_t>(i))) return false;
    auto metrics = Request(master_url(i), "GET", "/metrics/snapshot");
    if (metrics.status != 200) return false;
    auto j = Json::parse(metrics.body, nullptr, false);
    return !j.is_discarded() && j.value("registrar/log/recovered", 0.0) == 1.0;
  }

  // The leader, knowing `agents` agents, once every running master's replica votes; else -1.
  // A leader can recover the registry and admit agents with a quorum of voting replicas while
  // another replica is still joining (its auto-initialization needs answers from all of
  // them, src/log/recover.cpp). Killing that leader then leaves fewer voting replicas than
  // the quorum: the next leader answers 503 until its registry fetch times out, and exits.
  // A cluster this calls ready survives losing any one master.
  int Ready(std::size_t agents) const {
    for (int i = 0; i < masters(); ++i) {
      if (masters_.at(static_cast<std::size_t>(i)) && !ReplicaRecovered(i)) return -1;
    }
    return Leader(agents);
  }

  // The master dies at once, as in a crash.
  void KillMaster(int i) { masters_.at(static_cast<std::size_t>(i)).reset(); }

 private:
  static inline const std::vector<std::pair<std::string, std::string>> kLibprocessIp = {{"LIBPROCESS_IP", "127.0.0.1"}};

  void StartMaster(int i) {
    auto work = dir_ / ("master" + std::to_string(i));
    std::filesystem::create_directories(work);
    masters_.push_back(std::make_unique<Daemon>(
        std::vector<std::string>{home_ + "/bin/mesos-master", "--ip=127.0.0.1",
                                 "--port=" + std::to_string(master_ports_.at(static_cast<std::size_t>(i))),
                                 "--hostname=127.0.0.1", "--work_dir=" + work.string(), "--zk=" + zk_url_,
                                 "--quorum=" + std::to_string(master_ports_.size() / 2 + 1),
                                 "--registry=replicated_log",
                                 // A dead leader's ZooKeeper session ends 2 s after its last
                                 // heartbeat (default 10 s), so a failover fits in a test.
                                 "--zk_session_timeout=2secs"},
        dir_ / ("master" + std::to_string(i) + ".log"), SIGTERM, kLibprocessIp));
  }

  std::string home_;
  std::string zk_url_;
  TestDirectory dir_;
  std::vector<int> master_ports_;
  std::vector<std::unique_ptr<Daemon>> masters_;  // null once killed
  int agent_port_ = 0;
  std::unique_ptr<Daemon> agent_;
};

}  // namespace factorial::testing
