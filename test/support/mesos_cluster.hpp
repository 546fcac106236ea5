#pragma once

// Real Mesos 1.12 masters elected through ZooKeeper, plus one agent that finds them through
// ZooKeeper, for tests: every daemon on 127.0.0.1 with a free port and its own work dir under
// one temp dir, flags as in /work/shared/real-mesos/cluster.sh plus `--zk`, `--quorum` and
// the replicated log registry. Stopped (agent first, SIGUSR1 so it shuts its executors down)
// when the object goes away.

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/e2e.hpp"

namespace factorial::testing {

class MesosCluster {
 public:
  // $MESOS_HOME, else the install holding `mesos-master` on PATH (as test/e2e/real_mesos_test.cpp
  // finds it), if a master binary is there.
  static std::optional<std::string> Home() {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("MESOS_HOME"); env != nullptr && *env != '\0') candidates.emplace_back(env);
    if (const char* path = std::getenv("PATH")) {
      std::string dirs = path;
      for (std::size_t start = 0; start <= dirs.size();) {
        auto end = dirs.find(':', start);
        std::string dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (!dir.empty()) candidates.push_back((std::filesystem::path(dir) / "..").lexically_normal().string());
        if (end == std::string::npos) break;
        start = end + 1;
      }
    }
    for (const auto& c : candidates) {
      if (::access((c + "/bin/mesos-master").c_str(), X_OK) == 0) return c;
    }
    return std::nullopt;
  }

  // `zk` is "host:port" of the ensemble; the masters' group is /mesos under `zk_root`.
  MesosCluster(std::string mesos_home, const std::string& zk, const std::string& zk_root, int masters,
               std::string agent_resources = "cpus:4;mem:4096;disk:4096")
      : home_(std::move(mesos_home)), zk_url_("zk://" + zk + zk_root + "/mesos") {
    char dir_template[] = "/tmp/factorial-mesos-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) throw std::runtime_error("mkdtemp");
    dir_ = dir_template;
    for (int i = 0; i < masters; ++i) master_ports_.push_back(FreeLoopbackPort());
    for (int i = 0; i < masters; ++i) StartMaster(i);
    agent_port_ = FreeLoopbackPort();
    auto agent_dir = dir_ / "agent";
    for (const char* sub : {"work", "runtime", "fetch"}) std::filesystem::create_directories(agent_dir / sub);
    agent_ = std::make_unique<Process>(
        std::vector<std::string>{home_ + "/bin/mesos-agent", "--master=" + zk_url_, "--ip=127.0.0.1",
                                 "--port=" + std::to_string(agent_port_), "--hostname=127.0.0.1",
                                 "--work_dir=" + (agent_dir / "work").string(),
                                 "--runtime_dir=" + (agent_dir / "runtime").string(),
                                 "--fetcher_cache_dir=" + (agent_dir / "fetch").string(),
                                 "--launcher_dir=" + home_ + "/libexec/mesos", "--resources=" + agent_resources,
                                 "--containerizers=mesos", "--isolation=posix/cpu,posix/mem", "--launcher=posix",
                                 "--no-systemd_enable_support", "--no-switch_user"},
        std::chrono::minutes(15));
  }
  ~MesosCluster() {
    if (agent_) {
      agent_->Signal(SIGUSR1);
      agent_->Wait();
    }
    for (auto& m : masters_) {
      if (m) m->Signal(SIGTERM);
    }
    for (auto& m : masters_) {
      if (m) m->Wait();
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  MesosCluster(const MesosCluster&) = delete;
  MesosCluster& operator=(const MesosCluster&) = delete;

  const std::string& zk_url() const { return zk_url_; }
  std::string master_url(int i) const {
    return "http://127.0.0.1:" + std::to_string(master_ports_.at(static_cast<std::size_t>(i)));
  }
  int masters() const { return static_cast<int>(master_ports_.size()); }

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

  // The master dies at once, as in a crash.
  void KillMaster(int i) {
    auto& m = masters_.at(static_cast<std::size_t>(i));
    m->Signal(SIGKILL);
    m->Wait();
    m.reset();
  }

  std::string Logs() {
    std::string all;
    for (std::size_t i = 0; i < masters_.size(); ++i) {
      if (masters_[i]) all += "--- master " + std::to_string(i) + "\n" + Tail(masters_[i]->Stderr());
    }
    if (agent_) all += "--- agent\n" + Tail(agent_->Stderr());
    return all;
  }

 private:
  static std::string Tail(const std::string& log) { return log.size() > 4000 ? log.substr(log.size() - 4000) : log; }

  static int FreeLoopbackPort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(fd);
      throw std::runtime_error("no free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  void StartMaster(int i) {
    auto work = dir_ / ("master" + std::to_string(i));
    std::filesystem::create_directories(work);
    masters_.push_back(std::make_unique<Process>(
        std::vector<std::string>{home_ + "/bin/mesos-master", "--ip=127.0.0.1",
                                 "--port=" + std::to_string(master_ports_.at(static_cast<std::size_t>(i))),
                                 "--hostname=127.0.0.1", "--work_dir=" + work.string(), "--zk=" + zk_url_,
                                 "--quorum=" + std::to_string(master_ports_.size() / 2 + 1),
                                 "--registry=replicated_log",
                                 // A dead leader's ZooKeeper session ends 2 s after its last
                                 // heartbeat (default 10 s), so a failover fits in a test.
                                 "--zk_session_timeout=2secs"},
        std::chrono::minutes(15)));
  }

  std::string home_;
  std::string zk_url_;
  std::filesystem::path dir_;
  std::vector<int> master_ports_;
  std::vector<std::unique_ptr<Process>> masters_;
  int agent_port_ = 0;
  std::unique_ptr<Process> agent_;
};

}  // namespace factorial::testing
