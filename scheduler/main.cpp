// factorial-scheduler [options] N...: computes n! for every N on a Mesos cluster.
// The exit statuses are listed in --help (config.cpp) and the README.

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include <pthread.h>
#include <pwd.h>
#include <unistd.h>

#include "config.hpp"
#include "factorial/logging.hpp"
#include "run.hpp"

#ifndef FACTORIAL_INSTALLED_EXECUTOR
#define FACTORIAL_INSTALLED_EXECUTOR ""
#endif

extern char** environ;

namespace {

namespace fs = std::filesystem;
namespace sch = factorial::scheduler;

sch::Environment ProcessEnvironment() {
  sch::Environment env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    if (auto eq = entry.find('='); eq != std::string::npos) env.variables[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  if (passwd* pw = ::getpwuid(::geteuid())) env.user = pw->pw_name;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  env.hostname = host;
  // The executor next to this binary (installed side by side, or the build tree), else the
  // packaged one.
  env.default_executor = FACTORIAL_INSTALLED_EXECUTOR;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  for (const fs::path& candidate : {self.parent_path() / "factorial-executor",
                                    self.parent_path().parent_path() / "executor" / "factorial-executor"}) {
    if (!ec && fs::exists(candidate)) {
      env.default_executor = candidate.string();
      break;
    }
  }
  return env;
}

// An argument error quotes what was typed, and CLI11's own messages do too: every control byte
// is escaped (text already escaped has none left), lines are kept.
std::string Printable(const std::string& message) {
  std::string out;
  for (std::size_t start = 0;;) {
    std::size_t end = message.find('\n', start);
    std::string_view line(message.data() + start, (end == std::string::npos ? message.size() : end) - start);
    out += factorial::Excerpt(line, line.size());
    if (end == std::string::npos) return out;
    out += '\n';
    start = end + 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // SIGINT and SIGTERM are taken by one watcher thread (sigwait) once the job runs. Every thread
  // started before it (the ZooKeeper client's, curl's resolver, pools) must already block them,
  // or the kernel hands the signal to such a thread and its default action ends the process
  // with no unfinished lines, no summary and no TEARDOWN. Threads inherit this mask; a signal
  // that arrives before the watcher exists waits, pending, for it.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  auto parsed = sch::ParseCommandLine(std::vector<std::string>(argv, argv + argc));
  if (!parsed.options) {
    if (parsed.exit_code == sch::kExitOk) {
      std::fputs(parsed.text.c_str(), stdout);
    } else {
      std::fputs(Printable(parsed.text).c_str(), stderr);
    }
    return parsed.exit_code;
  }
  auto config = sch::BuildConfig(*parsed.options, ProcessEnvironment());
  if (!config.ok()) {
    std::fprintf(stderr, "factorial-scheduler: %s\n", Printable(config.error().message).c_str());
    return sch::kExitUsage;
  }
  if (auto s = factorial::InitLogging("factorial-scheduler", config->log_level); !s.ok()) {
    std::fprintf(stderr, "factorial-scheduler: %s\n", s.error().message.c_str());
    return sch::kExitUsage;
  }
  return sch::RunJob(std::move(config).value());
}
