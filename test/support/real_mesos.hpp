#pragma once

// A real Apache Mesos master and agent(s) on loopback for the `real-mesos` tests, started from
// the test process and always stopped by it. The installation comes from MESOS_HOME (bin/,
// libexec/mesos/) or from `mesos-master` on PATH; without one the tests are skipped visibly.
// Flags follow /work/shared/real-mesos/cluster.sh: POSIX isolation and launcher, no systemd,
// no user switching, an in-memory registry, a fresh temporary work directory.

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/daemon.hpp"
#include "support/e2e.hpp"

namespace factorial::testing {

// Printed by every skipped real-mesos test; ctest's SKIP_REGULAR_EXPRESSION reports it as skipped.
inline constexpr const char* kRealMesosSkipped = "REAL_MESOS_SKIPPED";

struct MesosInstall {
  std::filesystem::path master;        // mesos-master
  std::filesystem::path agent;         // mesos-agent
  std::filesystem::path launcher_dir;  // libexec/mesos (mesos-containerizer, ...)
};

// MESOS_HOME first, else `mesos-master` on PATH; nullopt (with the reason) when neither works.
inline std::optional<MesosInstall> FindMesos(std::string* why) {
  namespace fs = std::filesystem;
  auto from_home = [](const fs::path& home) -> std::optional<MesosInstall> {
    MesosInstall m{home / "bin" / "mesos-master", home / "bin" / "mesos-agent", home / "libexec" / "mesos"};
    if (fs::exists(m.master) && fs::exists(m.agent) && fs::exists(m.launcher_dir / "mesos-containerizer")) return m;
    return std::nullopt;
  };
  if (const char* home = std::getenv("MESOS_HOME"); home != nullptr && *home != '\0') {
    if (auto m = from_home(home)) return m;
    *why = std::string("MESOS_HOME=") + home + " has no bin/mesos-master, bin/mesos-agent and libexec/mesos";
    return std::nullopt;
  }
  if (const char* path = std::getenv("PATH")) {
    std::string dirs = path;
    for (std::size_t start = 0; start <= dirs.size();) {
      std::size_t end = dirs.find(':', start);
      fs::path dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
      start = end == std::string::npos ? dirs.size() + 1 : end + 1;
      std::error_code ec;
      fs::path master = fs::canonical(dir / "mesos-master", ec);
      if (ec) continue;
      if (auto m = from_home(master.parent_path().parent_path())) return m;
    }
  }
  *why = "no Mesos installation: set MESOS_HOME (for example $(bash ../shared/real-mesos/install.sh | tail -n1)) "
         "or put mesos-master on PATH";
  return std::nullopt;
}

struct RealMesosOptions {
  int agents = 1;
  std::string resources = "cpus:4;mem:4096;disk:4096";
  std::vector<std::string> agent_resources;  // agent i's --resources where given, else `resources`
  std::vector<std::string> master_flags;  // appended to the defaults; "{dir}" is the work directory
  std::vector<std::string> agent_flags;
  std::vector<std::pair<std::string, std::string>> files;  // (name, content) written there first
  // For HTTP requests the test itself makes when the daemons require authentication.
  std::optional<std::pair<std::string, std::string>> credential;
  // Directories agent i sees empty, as on a machine where they hold nothing (an agent without
  // the executor): the agent runs in a private mount namespace with an empty directory bound
  // over each. Needs root; see HidingUnavailable.
  std::map<int, std::vector<std::filesystem::path>> hidden;
};

// Why agents cannot be given directories of their own (RealMesosOptions::hidden) here; empty
// when they can.
inline std::string HidingUnavailable() {
  if (!std::filesystem::exists("/usr/bin/unshare")) return "no /usr/bin/unshare";
  if (std::system("/usr/bin/unshare --mount --propagation private true >/dev/null 2>&1") != 0) {
    return "cannot make a mount namespace here (not root?)";
  }
  return "";
}

class RealMesos {
 public:
  RealMesos(const MesosInstall& install, RealMesosOptions options) : install_(install), options_(std::move(options)) {
    for (const auto& [name, content] : options_.files) {
      std::ofstream out(dir_ / name);
      out << content;
    }
    for (auto* flags : {&options_.master_flags, &options_.agent_flags}) {
      for (auto& flag : *flags) {
        if (auto p = flag.find("{dir}"); p != std::string::npos) flag.replace(p, 5, dir_.path().string());
      }
    }
    // A port can be taken between probing and binding by another test: try a few times.
    for (int attempt = 1;; ++attempt) {
      std::string problem = TryStart();
      if (problem.empty()) return;
      Stop();
      if (attempt == 3) {
        dir_.Keep();
        throw std::runtime_error("real Mesos did not start: " + problem + "; logs in " + dir_.path().string());
      }
    }
  }
  ~RealMesos() {
    Stop();
    if (std::getenv("REAL_MESOS_KEEP") != nullptr) dir_.Keep();
  }
  RealMesos(const RealMesos&) = delete;
  RealMesos& operator=(const RealMesos&) = delete;

  std::string master_url() const { return "http://127.0.0.1:" + std::to_string(master_port_); }
  std::string agent_url(std::size_t i = 0) const { return "http://127.0.0.1:" + std::to_string(agent_ports_.at(i)); }
  const std::filesystem::path& dir() const { return dir_.path(); }
  void KeepDir() { dir_.Keep(); }

  // GET on a master or agent endpoint, with the configured credential; parsed JSON (null on failure).
  Json GetJson(const std::string& base, const std::string& path) const {
    httplib::Headers headers;
    if (options_.credential) {
      headers.insert(httplib::make_basic_authentication_header(options_.credential->first, options_.credential->second));
    }
    Answer a = Request(base, "GET", path, {}, headers);
    if (a.status != 200) return Json();
    return Json::parse(a.body, nullptr, false);
  }
  Json MasterGet(const std::string& path) const { return GetJson(master_url(), path); }
  Json AgentGet(const std::string& path, std::size_t agent = 0) const { return GetJson(agent_url(agent), path); }

  // The daemons' logs and every executor's stderr, tails only: attached to failures.
  std::string Logs() const {
    namespace fs = std::filesystem;
    std::string out = "--- master.log\n" + Tail(ReadFile(dir_ / "master.log"), 30);
    for (std::size_t i = 0; i < agent_ports_.size(); ++i) {
      out += "--- agent" + std::to_string(i) + ".log\n" + Tail(ReadFile(dir_ / ("agent" + std::to_string(i) + ".log")), 30);
    }
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir_.path(), ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().filename() == "stderr" && it->path().string().find("/runs/") != std::string::npos) {
        out += "--- " + it->path().string() + "\n" + Tail(ReadFile(it->path()), 15);
      }
    }
    return out;
  }

  // Agents first (SIGUSR1: they shut their executors down), then the master; SIGKILL whatever
  // outlives its grace, then any process still running in one of our sandboxes (an executor
  // whose agent died). Idempotent.
  void Stop() {
    for (std::size_t i = 1; i < daemons_.size(); ++i) daemons_[i]->Stop(SIGUSR1);
    if (!daemons_.empty()) daemons_[0]->Stop(SIGTERM);
    daemons_.clear();
    KillProcessesUnder(dir_.path());
  }

 private:
  std::string TryStart() {
    namespace fs = std::filesystem;
    master_port_ = FreeLoopbackPort();
    agent_ports_.clear();
    std::string ip = "--ip=127.0.0.1", host = "--hostname=127.0.0.1";
    std::vector<std::string> master = {install_.master.string(), ip, "--port=" + std::to_string(master_port_), host,
                                       "--work_dir=" + (dir_ / "master").string(), "--registry=in_memory"};
    master.insert(master.end(), options_.master_flags.begin(), options_.master_flags.end());
    fs::create_directories(dir_ / "master");
    daemons_.push_back(std::make_unique<Daemon>(master, dir_ / "master.log", SIGTERM, kLibprocessIp));
    for (int i = 0; i < options_.agents; ++i) {
      fs::path a = dir_ / ("agent" + std::to_string(i));
      fs::create_directories(a / "work");
      fs::create_directories(a / "runtime");
      fs::create_directories(a / "fetch");
      int port = FreeLoopbackPort();
      agent_ports_.push_back(port);
      std::vector<std::string> agent = {install_.agent.string(), "--master=127.0.0.1:" + std::to_string(master_port_),
                                        ip, "--port=" + std::to_string(port), host,
                                        "--work_dir=" + (a / "work").string(),
                                        "--runtime_dir=" + (a / "runtime").string(),
                                        "--fetcher_cache_dir=" + (a / "fetch").string(),
                                        "--launcher_dir=" + install_.launcher_dir.string(),
                                        "--resources=" + AgentResources(i), "--containerizers=mesos",
                                        "--isolation=posix/cpu,posix/mem", "--launcher=posix",
                                        "--no-systemd_enable_support", "--no-switch_user"};
      agent.insert(agent.end(), options_.agent_flags.begin(), options_.agent_flags.end());
      if (auto hidden = options_.hidden.find(i); hidden != options_.hidden.end()) agent = Hiding(agent, hidden->second);
      daemons_.push_back(
          std::make_unique<Daemon>(agent, dir_ / ("agent" + std::to_string(i) + ".log"), SIGUSR1, kLibprocessIp));
    }
    // Ready when every agent is registered (the master's /master/slaves lists it as active).
    auto deadline = std::chrono::steady_clock::now() + kSmallRun;
    while (std::chrono::steady_clock::now() < deadline) {
      for (const auto& daemon : daemons_) {
        if (!daemon->Running()) return "a daemon exited during startup:\n" + Logs();
      }
      Json slaves = MasterGet("/master/slaves");
      if (slaves.is_object() && slaves["slaves"].size() == static_cast<std::size_t>(options_.agents)) return {};
      std::this_thread::sleep_for(100ms);  // polling interval of a condition with a deadline
    }
    return "agents did not register within 60 s:\n" + Logs();
  }

  static inline const std::vector<std::pair<std::string, std::string>> kLibprocessIp = {{"LIBPROCESS_IP", "127.0.0.1"}};

  const std::string& AgentResources(int i) const {
    auto at = static_cast<std::size_t>(i);
    return at < options_.agent_resources.size() ? options_.agent_resources[at] : options_.resources;
  }

  // `argv` in a private mount namespace where each of `dirs` is an empty directory. unshare
  // and sh exec in turn, so the daemon's pid is the agent's.
  std::vector<std::string> Hiding(const std::vector<std::string>& argv, const std::vector<std::filesystem::path>& dirs) {
    std::filesystem::path empty = dir_ / "empty";
    std::filesystem::create_directories(empty);
    auto quote = [](const std::string& text) {
      std::string out = "'";
      for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      return out + "'";
    };
    std::string script;
    for (const auto& d : dirs) script += "mount --bind " + quote(empty.string()) + " " + quote(d.string()) + " && ";
    script += "exec \"$0\" \"$@\"";
    std::vector<std::string> out = {"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
  }

  MesosInstall install_;
  RealMesosOptions options_;
  TempDir dir_{"real-mesos"};
  int master_port_ = 0;
  std::vector<int> agent_ports_;
  std::vector<std::unique_ptr<Daemon>> daemons_;  // master first
};

}  // namespace factorial::testing
