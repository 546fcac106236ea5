#pragma once

// factorial-scheduler's front end: the command line and environment become a RunConfig, or
// an error that exits 2 before anything is sent. ParseCommandLine only reads argv;
// BuildConfig validates and resolves (numbers from --input, the secret from its file), with
// everything it would otherwise take from the process passed in `Environment`.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "factorial/status.hpp"
#include "result_sink.hpp"
#include "scheduler_config.hpp"
#include "status_server.hpp"
#include "workload.hpp"

namespace factorial::scheduler {

// Exit statuses, as --help and the README list them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // a number failed, the master refused us, or output failed
inline constexpr int kExitUsage = 2;   // bad arguments; nothing was sent

// The largest --max-n: FactorialMemoryBytes(n) (4 x binary size + 2 x digits of n!) stays
// below 2^64 up to n ~ 2.9e17; 10^17 keeps a margin for lgamma's rounding.
inline constexpr std::uint64_t kLargestMaxN = 100000000000000000ULL;

// Options as typed; `std::nullopt` where the option was not given.
struct CommandLine {
  std::vector<std::string> numbers;
  std::string input;
  std::optional<std::string> master;
  std::string max_n = "100000000";  // parsed by BuildConfig: CLI11 wraps values above 2^64
  std::string name = "factorial";
  std::optional<std::string> user;
  std::string role = "*";
  std::optional<std::string> principal;
  std::optional<std::string> secret;  // the secret, or file://path
  std::optional<std::string> secret_file;
  std::string ca_file;
  double failover_timeout = 604800;
  bool checkpoint = true;
  double task_cpus = 1;
  double batch_seconds = 30;
  std::size_t batch_size = 0;  // 0: as the cost model decides
  std::string executor;
  std::string executor_uri;
  double executor_cpus = 0.1;
  double executor_mem = 32;
  int max_retries = 3;
  double offer_wait = 120;
  double connect_timeout = 300;  // 0: keep trying to subscribe forever
  double refuse_seconds = 1;
  int heartbeat_factor = 5;
  std::string format = "text";
  std::string order = "input";
  double hold_memory = 16;  // MB
  std::string spill_dir;
  std::string output;
  std::string state_dir;
  bool teardown_on_stop = false;
  std::optional<std::string> log_level;  // default "info"; "warn" with --quiet
  bool quiet = false;
  int http_port = -1;  // -1: no status server
  std::string http_address = "127.0.0.1";
  std::string http_advertise_host;  // webui_url's host; default: --http-address, or the hostname for a wildcard
  std::optional<std::string> http_user;
  std::optional<std::string> http_password_file;
  double progress_interval = 30;
};

// What ParseCommandLine hands back: options to run with, or text to print and an exit code
// (--help and --version: stdout, 0; errors: stderr, 2).
struct ParsedCommandLine {
  std::optional<CommandLine> options;
  int exit_code = kExitOk;
  std::string text;
};
ParsedCommandLine ParseCommandLine(const std::vector<std::string>& argv);

// What BuildConfig reads besides the options.
struct Environment {
  std::map<std::string, std::string> variables;  // MESOS_MASTER, MESOS_PRINCIPAL, MESOS_SECRET, CREDENTIALS_DIRECTORY,
                                                 // NO_COLOR
  std::string user;                              // the invoking user (--user's default)
  std::string hostname;                          // FrameworkInfo.hostname
  std::string default_executor;                  // --executor's default; empty: none found
  int input_fd = 0;                              // read for --input - (standard input)
};

struct RunConfig {
  SchedulerConfig scheduler;  // `store` is left for the caller
  std::shared_ptr<const Workload> workload;  // the numbers, in input order
  LineFormat format = LineFormat::kText;
  OutputOrder order = OutputOrder::kInput;
  std::size_t hold_bytes = std::size_t{256} << 20;  // results held back for input order, in memory
  std::string spill_dir;                            // empty: $TMPDIR, else /tmp
  std::string output;     // empty: standard output
  std::string state_dir;  // empty: no journal
  std::string log_level;
  bool progress = true;  // a progress line when standard error is a terminal (not --quiet)
  bool color = true;     // colored log levels on a terminal (not NO_COLOR)
  std::vector<std::string> warnings;  // to log once logging is set up
  // --http-port: the status server, and FrameworkInfo.webui_url's host (its port is the one
  // bound, so --http-port 0 works in tests).
  std::optional<StatusServerOptions> http;
  std::string http_advertise_host;
  double progress_interval = 30;  // seconds between progress log lines off a terminal
};

// Validates everything and reads --input and the secret. Errors name the option or variable
// the operator used.
Result<RunConfig> BuildConfig(const CommandLine& options, const Environment& env);

}  // namespace factorial::scheduler
