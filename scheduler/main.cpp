// factorial-scheduler [options] N...: computes n! for every N on a Mesos cluster.
// Exit status: 0 all computed, 1 some number failed (or a fatal error), 2 bad arguments,
// 130/143 interrupted by SIGINT/SIGTERM.

#include <climits>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "factorial/curl_loop.hpp"
#include "factorial/logging.hpp"
#include "factorial/sd_notify.hpp"
#include "factorial/signals.hpp"
#include "options.hpp"
#include "scheduler.hpp"
#include "state_store.hpp"

#ifndef FACTORIAL_VERSION
#define FACTORIAL_VERSION "0.0.0"
#endif
#ifndef FACTORIAL_INSTALLED_EXECUTOR
#define FACTORIAL_INSTALLED_EXECUTOR ""
#endif

namespace {

namespace fs = std::filesystem;
namespace sch = factorial::scheduler;

std::string CurrentUser() {
  if (passwd* pw = ::getpwuid(::geteuid())) return pw->pw_name;
  return "nobody";
}

std::string Hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

// The executor next to this binary, else the packaged one.
std::string DefaultExecutor() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path sibling = self.parent_path() / "factorial-executor";
    if (fs::exists(sibling)) return sibling.string();
    fs::path built = self.parent_path().parent_path() / "executor" / "factorial-executor";
    if (fs::exists(built)) return built.string();
  }
  return FACTORIAL_INSTALLED_EXECUTOR;
}

// Prints one line per input number, in input order, as soon as the prefix is complete.
class OrderedPrinter {
 public:
  // The first `already_printed` lines were written by an earlier run (restart).
  OrderedPrinter(std::vector<std::uint64_t> order, std::FILE* out, bool json, std::size_t already_printed = 0)
      : order_(std::move(order)), out_(out), json_(json), skip_(already_printed) {}
  void Add(const sch::NumberResult& r) {
    results_[r.n] = r;
    while (next_ < order_.size()) {
      auto it = results_.find(order_[next_]);
      if (it == results_.end()) break;
      if (next_ >= skip_) Print(it->second);
      ++next_;
    }
    std::fflush(out_);
  }

 private:
  void Print(const sch::NumberResult& r) {
    if (json_) {
      nlohmann::json line = {{"n", r.n}};
      if (r.ok) {
        line["factorial"] = r.digits;
      } else {
        line["error"] = r.error;
      }
      line["task_id"] = r.task_id;
      line["agent"] = r.agent_id;
      line["seconds"] = r.seconds;
      std::fprintf(out_, "%s\n", line.dump().c_str());
    } else if (r.ok) {
      std::fprintf(out_, "%llu! = %s\n", static_cast<unsigned long long>(r.n), r.digits.c_str());
    } else {
      std::fprintf(out_, "%llu! failed: %s\n", static_cast<unsigned long long>(r.n), r.error.c_str());
    }
  }
  std::vector<std::uint64_t> order_;
  std::FILE* out_;
  bool json_;
  std::map<std::uint64_t, sch::NumberResult> results_;
  std::size_t next_ = 0;
  std::size_t skip_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Computes n! for every N on an Apache Mesos cluster (v1 HTTP scheduler API).", "factorial-scheduler"};
  std::vector<std::string> number_args;
  std::string input, master, role = "*", name = "factorial", user = CurrentUser(), principal, secret_file,
                     ca_file, executor_path, executor_uri, format = "text", output, log_level = "info";
  std::uint64_t max_n = 100000000;
  double task_cpus = 1, executor_cpus = 0.1, executor_mem = 32, failover_timeout = 604800, offer_wait = 120,
         refuse_seconds = 1;
  int max_retries = 3, heartbeat_factor = 5;
  bool no_checkpoint = false, teardown_on_stop = false;
  std::string state_dir;
  app.add_option("N", number_args, "numbers whose factorials to compute");
  app.add_option("--input", input, "file with one number per line ('-': stdin)");
  app.add_option("--max-n", max_n, "largest N accepted")->capture_default_str();
  app.add_option("--master", master, "host:port, http(s)://host:port, or a comma-separated list (env MESOS_MASTER)")
      ->envname("MESOS_MASTER");
  app.add_option("--name", name, "framework name")->capture_default_str();
  app.add_option("--user", user, "user the executor runs as")->capture_default_str();
  app.add_option("--role", role, "role to register with and take resources from")->capture_default_str();
  app.add_option("--principal", principal, "principal for HTTP Basic authentication");
  app.add_option("--secret-file", secret_file, "file holding the principal's secret");
  app.add_option("--ca-file", ca_file, "CA certificates for https masters (verification is always on)");
  app.add_option("--failover-timeout", failover_timeout, "seconds the master keeps the framework after a disconnect")
      ->capture_default_str()->check(CLI::Range(0.0, 1e9));
  app.add_flag("--no-checkpoint", no_checkpoint, "do not ask agents to checkpoint");
  app.add_option("--task-cpus", task_cpus, "cpus per task")->capture_default_str()->check(CLI::Range(0.01, 1024.0));
  app.add_option("--executor", executor_path, "executor binary on the agents (default: next to this one)");
  app.add_option("--executor-uri", executor_uri, "fetch the executor from this URI instead");
  app.add_option("--executor-cpus", executor_cpus, "")->capture_default_str()->check(CLI::Range(0.01, 64.0));
  app.add_option("--executor-mem", executor_mem, "MB")->capture_default_str()->check(CLI::Range(32.0, 65536.0));
  app.add_option("--max-retries", max_retries, "retries per number after a lost or failed task")
      ->capture_default_str()->check(CLI::Range(0, 100));
  app.add_option("--offer-wait", offer_wait, "seconds before an unplaceable number is reported unschedulable")
      ->capture_default_str()->check(CLI::Range(1.0, 1e7));
  app.add_option("--refuse-seconds", refuse_seconds, "decline filter while work is pending")
      ->capture_default_str()->check(CLI::Range(0.0, 31536000.0));
  app.add_option("--heartbeat-factor", heartbeat_factor, "missed heartbeats before reconnecting")
      ->capture_default_str()->check(CLI::Range(2, 100));
  app.add_option("--format", format, "text or json")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  app.add_option("--output", output, "write results to this file instead of stdout (default with --state-dir: <state-dir>/results)");
  app.add_option("--state-dir", state_dir, "keep the framework ID and a journal of results here; a restart resumes");
  app.add_flag("--teardown-on-stop", teardown_on_stop,
               "with --state-dir: SIGTERM tears the framework down even if work is unfinished");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error (SPDLOG_LEVEL overrides)")
      ->capture_default_str();
  app.set_version_flag("--version", std::string("factorial-scheduler ") + FACTORIAL_VERSION);
  CLI11_PARSE(app, argc, argv);

  auto usage_error = [](const std::string& message) {
    std::fprintf(stderr, "factorial-scheduler: %s\n", message.c_str());
    return 2;
  };
  if (auto s = factorial::InitLogging("factorial-scheduler", log_level); !s.ok()) return usage_error(s.error().message);

  std::vector<sch::NumberToken> tokens;
  for (const auto& a : number_args) tokens.push_back({a, "argument"});
  if (!input.empty()) {
    auto more = sch::ReadNumberFile(input);
    if (!more.ok()) return usage_error(more.error().message);
    tokens.insert(tokens.end(), more->begin(), more->end());
  }
  if (tokens.empty()) return usage_error("no numbers given (arguments or --input)");
  auto numbers = sch::ParseNumbers(tokens, max_n);
  if (!numbers.ok()) return usage_error(numbers.error().message);
  if (master.empty()) master = "127.0.0.1:5050";
  auto masters = sch::ParseMasters(master);
  if (!masters.ok()) return usage_error(masters.error().message);

  sch::SchedulerConfig config;
  config.masters = masters.value();
  if (!principal.empty() && secret_file.empty()) {
    // Under systemd, LoadCredential=secret:... provides it without touching argv or the env file.
    if (const char* creds = std::getenv("CREDENTIALS_DIRECTORY")) {
      std::string candidate = std::string(creds) + "/secret";
      if (fs::exists(candidate) && fs::file_size(candidate) > 0) secret_file = candidate;
    }
  }
  if (!principal.empty()) {
    if (secret_file.empty()) return usage_error("--principal needs --secret-file");
    std::ifstream in(secret_file);
    std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (!in && secret.empty()) return usage_error("cannot read --secret-file");
    if (secret.find(':') != std::string::npos) return usage_error("the secret must not contain ':' (HTTP Basic)");
    config.credential = std::make_pair(principal, secret);
    config.framework.principal = principal;
  } else if (!secret_file.empty()) {
    return usage_error("--secret-file needs --principal");
  }
  if (!ca_file.empty()) {
    if (!fs::exists(ca_file)) return usage_error("--ca-file " + ca_file + " does not exist");
    config.tls.ca_file = ca_file;
  }
  config.framework.user = user;
  config.framework.name = name;
  config.framework.hostname = Hostname();
  config.framework.roles = {role};
  config.framework.checkpoint = !no_checkpoint;
  config.framework.failover_timeout = failover_timeout;
  config.framework.capabilities = {factorial::v1::FrameworkCapability::kMultiRole,
                                   factorial::v1::FrameworkCapability::kPartitionAware};
  config.task_cpus = task_cpus;
  config.max_retries = max_retries;
  config.offer_wait = std::chrono::duration_cast<factorial::Duration>(std::chrono::duration<double>(offer_wait));
  config.refuse_seconds_busy = refuse_seconds;
  config.heartbeat_factor = heartbeat_factor;

  factorial::v1::ExecutorInfo& executor = config.executor;
  executor.type = factorial::v1::ExecutorType::kCustom;
  executor.executor_id.value = "factorial-executor";
  executor.name = "factorial-executor";
  auto& command = executor.command.emplace();
  command.shell = false;
  if (!executor_uri.empty()) {
    std::string file = executor_uri.substr(executor_uri.find_last_of('/') + 1);
    command.uris.push_back({executor_uri, true, false, std::nullopt, std::nullopt});
    command.value = "./" + file;
    command.arguments = {file};
  } else {
    if (executor_path.empty()) executor_path = DefaultExecutor();
    if (executor_path.empty()) return usage_error("no executor found; pass --executor or --executor-uri");
    executor_path = fs::absolute(executor_path).string();
    command.value = executor_path;
    command.arguments = {"factorial-executor"};
  }
  for (auto [resource, amount] : {std::pair{"cpus", executor_cpus}, std::pair{"mem", executor_mem}}) {
    factorial::v1::Resource r;
    r.name = resource;
    r.type = factorial::v1::ValueType::kScalar;
    r.scalar = amount;
    r.role = "*";
    r.allocation_role = role;
    executor.resources.push_back(r);
  }

  std::unique_ptr<sch::StateStore> store;
  std::size_t already_printed = 0;
  if (!state_dir.empty()) {
    auto opened = sch::StateStore::Open(state_dir);
    if (!opened.ok()) return usage_error(opened.error().message);
    store = std::move(opened).value();
    config.store = store.get();
    config.teardown_on_stop = teardown_on_stop;
    if (output.empty()) output = state_dir + "/results";
  }
  std::FILE* out = stdout;
  if (!output.empty()) {
    if (store) {
      // Resume the results file: keep what earlier runs printed, never print it again.
      auto lines = sch::CompleteLines(output);
      if (!lines.ok()) return usage_error(lines.error().message);
      already_printed = lines.value();
    }
    out = std::fopen(output.c_str(), store ? "a" : "w");
    if (out == nullptr) return usage_error("cannot write --output " + output);
  }

  factorial::CurlGlobal curl;
  factorial::CurlLoop loop;
  int exit_code = 0;
  OrderedPrinter printer(numbers.value(), out, format == "json", already_printed);
  sch::Scheduler scheduler(loop, config, numbers.value(), [&](const sch::NumberResult& r) { printer.Add(r); },
                           [&](int code) {
                             exit_code = code;
                             loop.Stop();
                           });
  std::atomic<int> interrupts{0};
  factorial::SignalWatcher signals({SIGINT, SIGTERM}, [&](int sig) {
    int code = sig == SIGINT ? 130 : 143;
    if (interrupts.fetch_add(1) > 0) std::_Exit(code);  // a second signal exits at once
    loop.Post([&scheduler, code] { scheduler.Interrupt(code); });
  });
  // systemd: READY=1 once subscribed, STATUS= with progress, WATCHDOG=1 from this loop (so a
  // wedged loop gets the service restarted).
  scheduler.set_on_subscribed([](const std::string& id) {
    factorial::SdNotify("READY=1\nSTATUS=subscribed as framework " + id);
  });
  std::function<void()> keepalive;
  if (auto period = factorial::SdWatchdogPeriod()) {
    keepalive = [&, half = *period / 2] {
      auto p = scheduler.progress();
      factorial::SdNotify("WATCHDOG=1\nSTATUS=" + std::to_string(p.done) + " done, " + std::to_string(p.running) +
                          " running, " + std::to_string(p.pending) + " pending, " + std::to_string(p.failed) +
                          " failed");
      loop.After(half, keepalive);
    };
    loop.After(std::chrono::milliseconds(0), keepalive);
  }
  // On a terminal, a progress line on stderr (logs still go there as whole lines).
  bool progress = ::isatty(STDERR_FILENO) == 1;
  std::function<void()> show = [&] {
    auto p = scheduler.progress();
    std::fprintf(stderr, "\r\033[Kfactorial-scheduler: %zu done, %zu running, %zu pending, %zu failed",
                 p.done, p.running, p.pending, p.failed);
    std::fflush(stderr);
    loop.After(std::chrono::seconds(1), show);
  };
  if (progress) loop.After(std::chrono::seconds(1), show);
  scheduler.Start();
  loop.Run();
  if (progress) std::fprintf(stderr, "\n");
  factorial::SdNotify("STOPPING=1");
  if (out != stdout) std::fclose(out);
  return exit_code;
}
