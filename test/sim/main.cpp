// mesos-sim: a local Mesos master and agents for tests and for trying the framework.
// Prints the master URL as the first line on stdout, then runs until SIGTERM or SIGINT.

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "factorial/duration.hpp"
#include "factorial/logging.hpp"
#include "sim.hpp"
#include "zk_registry.hpp"

namespace {

// "cpus:2;mem:2048;disk:4096;ports:[31000-31100]", the agent's --resources syntax.
bool ParseResources(const std::string& text, factorial::sim::AgentResources* out, std::string* error) {
  std::regex item(R"(^\s*([a-z]+)\s*:\s*(\[\s*(\d+)\s*-\s*(\d+)\s*\]|[0-9.]+)\s*$)");
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(';', start);
    std::string part = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::smatch m;
    if (!std::regex_match(part, m, item)) {
      *error = "cannot parse resource '" + part + "'";
      return false;
    }
    std::string name = m[1];
    if (name == "ports" && m[3].matched) {
      out->ports_begin = std::stoull(m[3]);
      out->ports_end = std::stoull(m[4]);
    } else if (name == "cpus") {
      out->cpus = std::stod(m[2]);
    } else if (name == "mem") {
      out->mem = std::stod(m[2]);
    } else if (name == "disk") {
      out->disk = std::stod(m[2]);
    } else {
      *error = "unsupported resource '" + name + "'";
      return false;
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return true;
}

// The command line: SimOptions, plus the flags given as text (Mesos durations, resources).
struct Flags {
  factorial::sim::SimOptions options;
  std::string resources = "cpus:2;mem:2048;disk:4096;ports:[31000-31100]";
  std::vector<std::string> agent_resources;
  std::string heartbeat = "15secs", allocation = "1secs", offer_timeout = "0secs", retry = "10secs",
              registration = "1mins", grace = "5secs", response_delay = "0ms";
  std::string log_level = "info";
  std::string zk_url;
};

void AddFlags(CLI::App& app, Flags& f) {
  auto& options = f.options;
  app.add_option("--agents", options.agents, "number of agents")->check(CLI::Range(1, 64));
  app.add_option("--resources", f.resources, "resources of each agent");
  app.add_option("--agent-resources", f.agent_resources,
                 "resources of the first agents, one value per agent in order (the rest have --resources)");
  app.add_option("--ip", options.ip, "address to listen on (loopback)");
  app.add_option("--hostname", options.hostname, "hostname reported for master and agents");
  app.add_option("--port", options.port, "leading master's port (0: any free port)");
  app.add_option("--masters", options.masters, "1, or 2 for a leader and a redirecting follower")->check(CLI::Range(1, 2));
  app.add_flag("--failover-forgets-frameworks", options.failover_forgets_frameworks,
               "a new leader starts without the frameworks (they must resubscribe)");
  app.add_option("--heartbeat-interval", f.heartbeat, "scheduler HEARTBEAT interval (real master: 15secs)");
  app.add_option("--allocation-interval", f.allocation, "offer cycle");
  app.add_option("--offer-timeout", f.offer_timeout, "rescind offers held longer (0secs: never)");
  app.add_option("--update-retry-interval", f.retry, "first status update retransmission");
  app.add_option("--executor-registration-timeout", f.registration, "");
  app.add_option("--executor-shutdown-grace-period", f.grace, "");
  app.add_option("--work-dir", options.work_dir, "sandboxes live here (default: a temporary directory)");
  app.add_option("--seed", options.seed, "seed for generated IDs");
  app.add_option("--fail-calls", options.fail_calls, "fault: answer the next N scheduler calls with --fail-status");
  app.add_option("--fail-status", options.fail_status, "fault: 500, 503 or 400")->check(CLI::IsMember({500, 503, 400}));
  app.add_option("--fail-call-type", options.fail_call_type, "fault: only calls of this type fail (e.g. DECLINE)");
  app.add_option("--response-delay", f.response_delay, "fault: delay every scheduler API answer");
  app.add_flag("--stall-heartbeats", options.stall_heartbeats, "fault: never send scheduler HEARTBEATs");
  app.add_option("--zk", f.zk_url,
                 "also announce the masters in ZooKeeper as Mesos masters do (zk://host:port[,...]/path); "
                 "/sim/leader moves leadership there too");
  app.add_option("--log-level", f.log_level, "");
}

// Starts logging and turns the textual flags into options; false (said on stderr) if any is wrong.
bool ResolveFlags(Flags& f) {
  if (auto s = factorial::InitLogging("mesos-sim", f.log_level); !s.ok()) {
    std::fprintf(stderr, "mesos-sim: %s\n", s.error().message.c_str());
    return false;
  }
  std::string error;
  if (!ParseResources(f.resources, &f.options.resources, &error)) {
    std::fprintf(stderr, "mesos-sim: --resources: %s\n", error.c_str());
    return false;
  }
  for (const auto& text : f.agent_resources) {
    factorial::sim::AgentResources resources = f.options.resources;  // what it leaves out
    if (!ParseResources(text, &resources, &error)) {
      std::fprintf(stderr, "mesos-sim: --agent-resources: %s\n", error.c_str());
      return false;
    }
    f.options.agent_resources.push_back(resources);
  }
  auto duration = [&](const std::string& text, const char* flag, std::chrono::milliseconds* out) {
    auto d = factorial::ParseMesosDuration(text);
    if (!d.ok()) {
      std::fprintf(stderr, "mesos-sim: %s: %s\n", flag, d.error().message.c_str());
      return false;
    }
    *out = std::chrono::duration_cast<std::chrono::milliseconds>(d.value());
    return true;
  };
  auto& options = f.options;
  if (!duration(f.heartbeat, "--heartbeat-interval", &options.heartbeat_interval) ||
      !duration(f.allocation, "--allocation-interval", &options.allocation_interval) ||
      !duration(f.offer_timeout, "--offer-timeout", &options.offer_timeout) ||
      !duration(f.retry, "--update-retry-interval", &options.update_retry_interval) ||
      !duration(f.registration, "--executor-registration-timeout", &options.executor_registration_timeout) ||
      !duration(f.grace, "--executor-shutdown-grace-period", &options.executor_shutdown_grace_period) ||
      !duration(f.response_delay, "--response-delay", &options.response_delay)) {
    return false;
  }
  if (options.heartbeat_interval.count() <= 0 || options.allocation_interval.count() <= 0) {
    std::fprintf(stderr, "mesos-sim: intervals must be positive\n");
    return false;
  }
  return true;
}

// Registers every master of `sim` in the ZooKeeper at `zk_url`.
std::unique_ptr<factorial::sim::ZkRegistry> Announce(const std::string& zk_url, const factorial::sim::MesosSim& sim,
                                                     const factorial::sim::SimOptions& options) {
  auto registry = std::make_unique<factorial::sim::ZkRegistry>(zk_url);
  std::vector<std::string> infos;
  for (int i = 0; i < options.masters; ++i) {
    std::string url = sim.master_url(i);
    int port = std::stoi(url.substr(url.rfind(':') + 1));
    infos.push_back(factorial::sim::ZkRegistry::MasterInfoJson("mesos-sim-master-" + std::to_string(i), options.ip,
                                                               port, options.hostname));
  }
  registry->RegisterMasters(infos);
  return registry;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Local Apache Mesos 1.x master + agents speaking the v1 HTTP APIs", "mesos-sim"};
  Flags flags;
  AddFlags(app, flags);
  CLI11_PARSE(app, argc, argv);
  if (!ResolveFlags(flags)) return 2;
  factorial::sim::SimOptions& options = flags.options;

  // Block the signals before any thread starts; the main thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Leadership moves reach ZooKeeper once the masters are registered there.
  std::unique_ptr<factorial::sim::ZkRegistry> registry;
  std::atomic<factorial::sim::ZkRegistry*> announced{nullptr};
  options.on_leader_changed = [&announced](int leader) {
    auto* r = announced.load();
    if (r == nullptr) return;
    try {
      r->SetLeader(leader);
    } catch (const std::exception& e) {
      spdlog::error("ZooKeeper: {}", e.what());
    }
  };
  factorial::sim::MesosSim sim(options);
  try {
    sim.Start();
    if (!flags.zk_url.empty()) {
      registry = Announce(flags.zk_url, sim, options);
      announced = registry.get();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mesos-sim: %s\n", e.what());
    return 1;
  }
  std::printf("%s\n", sim.master_url(0).c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("mesos-sim: received signal {}, stopping", sig);
  announced = nullptr;
  registry.reset();  // the masters leave ZooKeeper first, as dying masters' sessions would
  sim.Stop();
  return 0;
}
