// factorial-executor: started by a Mesos agent; all configuration comes from the environment
// the agent sets (see executor_env.hpp). Exits 0 after a clean shutdown, 1 when the agent is
// lost for good, 2 for a bad environment. Started with worker_protocol::kWorkerFlag it is a
// compute worker instead (worker.hpp), which the executor spawns for each large computation.

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "executor.hpp"
#include "executor_env.hpp"
#include "factorial/curl_loop.hpp"
#include "factorial/logging.hpp"
#include "factorial/signals.hpp"
#include "runner.hpp"
#include "worker.hpp"
#include "worker_protocol.hpp"

#ifndef FACTORIAL_VERSION
#define FACTORIAL_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  // Before anything else: a worker must not parse flags, log, or start threads of its own.
  if (argc == 2 && std::strcmp(argv[1], factorial::executor::worker_protocol::kWorkerFlag) == 0) {
    return factorial::executor::RunComputeWorker();
  }
  CLI::App app{"Mesos executor that computes factorials with GMP.\n"
               "Started by a Mesos agent, which provides MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID,\n"
               "MESOS_EXECUTOR_ID, MESOS_DIRECTORY, MESOS_CHECKPOINT, ... in the environment.",
               "factorial-executor"};
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error (SPDLOG_LEVEL overrides)");
  app.set_version_flag("--version", std::string("factorial-executor ") + FACTORIAL_VERSION);
  CLI11_PARSE(app, argc, argv);

  if (auto status = factorial::InitLogging("factorial-executor", log_level); !status.ok()) {
    std::fprintf(stderr, "factorial-executor: %s\n", status.error().message.c_str());
    return 2;
  }
  auto env = factorial::executor::ParseExecutorEnv(factorial::executor::ProcessGetenv);
  if (!env.ok()) {
    spdlog::critical("{}", env.error().message);
    return 2;
  }
  // Child processes must not see the token (the reference library erases it too).
  ::unsetenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN");

  factorial::CurlGlobal curl;
  factorial::CurlLoop loop;
  int exit_code = 0;
  // The running binary itself, even if the file was replaced or removed since it started.
  factorial::executor::RoutingRunner runner(loop, "/proc/self/exe");
  factorial::executor::Executor executor(loop, runner, env.value(), [&](int code) {
    exit_code = code;
    loop.Stop();
  });
  factorial::SignalWatcher signals({SIGTERM, SIGINT}, [&](int sig) {
    loop.Post([&executor, sig] { executor.Shutdown(std::string("received ") + strsignal(sig)); });
  });
  executor.Start();
  loop.Run();
  spdlog::info("exiting with status {}", exit_code);
  return exit_code;
}
