#include "config.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <CLI/CLI.hpp>

#include "factorial/duration.hpp"
#include "factorial/logging.hpp"
#include "factorial/master_url.hpp"
#include "call_order.hpp"
#include "options.hpp"

#ifndef FACTORIAL_VERSION
#define FACTORIAL_VERSION "0.0.0"
#endif

namespace factorial::scheduler {
namespace {

namespace fs = std::filesystem;

constexpr const char* kProgram = "factorial-scheduler";

constexpr const char* kFooter = R"(Every multi-word option also takes Mesos' spelling with underscores (--failover_timeout).

Environment:
  MESOS_MASTER     --master when the option is not given
  MESOS_PRINCIPAL  --principal when the option is not given
  MESOS_SECRET     --secret when neither --secret nor --secret-file is given
  NO_COLOR         when set and not empty: log levels are not colored
  $CREDENTIALS_DIRECTORY/secret  the secret under systemd (LoadCredential=secret:...)

Results: one line per input number, in input order (--order completion: as they arrive). Lines
held back for input order past --hold-memory wait in an unlinked file in --spill-dir. --output and <state-dir>/results are
written to <file>.partial and renamed into place: with --state-dir at start-up (rebuilt from
the journal, then appended to as results arrive), otherwise when the run ends. Neither is
emptied by a run that dies. On SIGINT/SIGTERM every finished result is written; numbers not
finished get "N! unfinished" ({"n":N,"status":"unfinished"} in JSON). A second signal skips
the wait for kills and TEARDOWN; a third exits at once.

Exit status:
  0    every number was computed
  1    a number failed or was unschedulable, no master answered within --connect-timeout, the
       master sent ERROR, or results could not be written
  2    bad arguments or a --state-dir of another job (nothing was sent)
  130  interrupted by SIGINT (143: SIGTERM))";

// "--max-n" -> "--max-n,--max_n": Mesos' tools spell multi-word flags with underscores.
std::string Names(const std::string& name) {
  std::string underscored = name.substr(2);
  if (underscored.find('-') == std::string::npos) return name;
  for (char& c : underscored) {
    if (c == '-') c = '_';
  }
  return name + ",--" + underscored;
}

// A duration option: plain seconds or Mesos' syntax ("10secs", "2mins", "1weeks"), rewritten
// to plain seconds before CLI11 converts it; BuildConfig checks the range with the others.
CLI::Validator Seconds() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto seconds = ParseSeconds(text);
        if (!seconds.ok()) return seconds.error().message;
        std::array<char, 64> buffer{};
        auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), seconds.value());
        if (ec != std::errc()) return "'" + Excerpt(text, 64) + "' is out of range";
        text.assign(buffer.data(), end);
        return {};
      },
      "SECONDS|DURATION");
}

// A count: digits only, so "-1" is reported as typed rather than wrapped to 2^64 - 1.
CLI::Validator Count(const char* range) {
  return CLI::Validator(
      [range](std::string& text) -> std::string {
        if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) return {};
        return std::string("must be a whole number ") + range + ", not '" + Excerpt(text, 64) + "'";
      },
      "COUNT");
}

Status CheckRange(const char* option, double value, double low, double high) {
  if (value >= low && value <= high) return OkStatus();
  std::ostringstream message;
  // 15 significant digits: bounds such as 1048576 and 1e7 in full, not as 1.04858e+06.
  message << std::setprecision(15) << option << " must be between " << low << " and " << high << ", not " << value;
  return MakeError(Errc::kInvalidArgument, message.str());
}

std::optional<std::string> Variable(const Environment& env, const std::string& name) {
  auto it = env.variables.find(name);
  if (it == env.variables.end()) return std::nullopt;
  return it->second;
}

Result<std::string> ReadSecretFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(Errc::kInvalidArgument, "cannot read " + what + " " + path);
  std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return MakeError(Errc::kInvalidArgument, "cannot read " + what + " " + path);
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  return secret;
}

// The secret and where it came from, or nullopt when none is given.
Result<std::optional<std::pair<std::string, std::string>>> ResolveSecret(const CommandLine& options,
                                                                         const Environment& env) {
  using Found = std::optional<std::pair<std::string, std::string>>;
  if (options.secret && options.secret_file) {
    return MakeError(Errc::kInvalidArgument, "give --secret or --secret-file, not both");
  }
  auto value_or_file = [](const std::string& text, const std::string& what) -> Result<Found> {
    if (text.rfind("file://", 0) != 0) return Found(std::pair(text, what));
    auto read = ReadSecretFile(text.substr(7), what + " file");
    if (!read.ok()) return read.error();
    return Found(std::pair(std::move(read).value(), what + " file " + text.substr(7)));
  };
  if (options.secret) return value_or_file(*options.secret, "--secret");
  if (options.secret_file) {
    auto read = ReadSecretFile(*options.secret_file, "--secret-file");
    if (!read.ok()) return read.error();
    return Found(std::pair(std::move(read).value(), "--secret-file " + *options.secret_file));
  }
  if (auto variable = Variable(env, "MESOS_SECRET")) return value_or_file(*variable, "MESOS_SECRET");
  if (auto creds = Variable(env, "CREDENTIALS_DIRECTORY")) {
    std::string candidate = *creds + "/secret";
    std::error_code ec;
    if (fs::exists(candidate, ec)) {
      auto read = ReadSecretFile(candidate, "the systemd credential");
      if (!read.ok()) return read.error();
      // An empty credential file means "no secret" (a job without authentication).
      if (!read->empty()) return Found(std::pair(std::move(read).value(), "the systemd credential " + candidate));
    }
  }
  return Found();
}

Status ApplyCredentials(const CommandLine& options, const Environment& env, SchedulerConfig& config) {
  auto secret = ResolveSecret(options, env);
  if (!secret.ok()) return secret.error();
  std::optional<std::string> principal = options.principal ? options.principal : Variable(env, "MESOS_PRINCIPAL");
  if (principal && principal->empty()) principal.reset();
  if (!principal) {
    if (*secret && (options.secret || options.secret_file)) {
      return MakeError(Errc::kInvalidArgument, "a secret (" + (*secret)->second +
                                                   ") needs a principal: pass --principal or set MESOS_PRINCIPAL");
    }
    return OkStatus();
  }
  config.framework.principal = *principal;
  if (!*secret) return OkStatus();  // a principal without a secret: no HTTP authentication
  const auto& [value, source] = **secret;
  if (value.empty()) return MakeError(Errc::kInvalidArgument, "the secret from " + source + " is empty");
  if (value.find(':') != std::string::npos) {
    return MakeError(Errc::kInvalidArgument, "the secret from " + source + " must not contain ':' (HTTP Basic)");
  }
  if (principal->find(':') != std::string::npos) {
    return MakeError(Errc::kInvalidArgument, "the principal must not contain ':' (HTTP Basic)");
  }
  config.credential = std::make_pair(*principal, value);
  return OkStatus();
}

Result<Workload> ReadNumbers(const CommandLine& options, const Environment& env) {
  std::uint64_t max_n = 0;
  const std::string& text = options.max_n;
  auto [end, parse_error] = std::from_chars(text.data(), text.data() + text.size(), max_n);
  if (text.empty() || parse_error == std::errc::invalid_argument || end != text.data() + text.size()) {
    return MakeError(Errc::kInvalidArgument, "--max-n '" + text + "' is not a non-negative decimal integer");
  }
  if (parse_error == std::errc::result_out_of_range || max_n > kLargestMaxN) {
    return MakeError(Errc::kInvalidArgument, "--max-n must be at most " + std::to_string(kLargestMaxN) +
                                                 " (the largest n whose memory need is computed exactly)");
  }
  return ReadWorkload(options.numbers, options.input, max_n, env.input_fd);
}

Result<MasterSpec> ResolveMasters(const CommandLine& options, const Environment& env) {
  if (options.master) {
    if (options.master->empty()) return MakeError(Errc::kInvalidArgument, "--master is empty");
    return ParseMasterSpec(*options.master);
  }
  auto variable = Variable(env, "MESOS_MASTER");
  if (!variable) return MakeError(Errc::kInvalidArgument, "no master: pass --master host:port or set MESOS_MASTER");
  if (variable->empty()) return MakeError(Errc::kInvalidArgument, "MESOS_MASTER is empty");
  auto masters = ParseMasterSpec(*variable);
  if (!masters.ok()) return MakeError(Errc::kInvalidArgument, "MESOS_MASTER: " + masters.error().message);
  return masters;
}

bool IsLoopback(const std::string& base_url) {
  std::string host = base_url.substr(base_url.find("://") + 3);
  host = host.substr(0, host.rfind(':'));
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "[::1]";
}

Status ApplyExecutor(const CommandLine& options, const Environment& env, RunConfig& run) {
  v1::ExecutorInfo& executor = run.scheduler.executor;
  executor.type = v1::ExecutorType::kCustom;
  executor.executor_id.value = "factorial-executor";
  executor.name = "factorial-executor";
  auto& command = executor.command.emplace();
  command.shell = false;
  if (!options.executor_uri.empty()) {
    if (!options.executor.empty()) return MakeError(Errc::kInvalidArgument, "give --executor or --executor-uri, not both");
    std::string file = options.executor_uri.substr(options.executor_uri.find_last_of('/') + 1);
    if (file.empty()) return MakeError(Errc::kInvalidArgument, "--executor-uri " + options.executor_uri + " names no file");
    command.uris.push_back({options.executor_uri, true, false, std::nullopt, std::nullopt});
    command.value = "./" + file;
    command.arguments = {file};
  } else {
    std::string path = options.executor.empty() ? env.default_executor : options.executor;
    if (path.empty()) return MakeError(Errc::kInvalidArgument, "no executor found; pass --executor or --executor-uri");
    path = fs::absolute(path).lexically_normal().string();
    // The path is looked up on the agents. With every master on this host the agents are
    // here too, so a missing binary is certain to fail every task: say so now.
    std::error_code ec;
    bool runnable = fs::is_regular_file(path, ec) &&
                    (fs::status(path, ec).permissions() & fs::perms::owner_exec) != fs::perms::none;
    if (!runnable) {
      bool local = !run.scheduler.masters.empty() &&
                   std::all_of(run.scheduler.masters.begin(), run.scheduler.masters.end(), IsLoopback);
      std::string what = (options.executor.empty() ? "the default executor " : "--executor ") + path;
      if (local) {
        return MakeError(Errc::kInvalidArgument,
                         what + " is not an executable file, and the master is on this host: every task would "
                                "fail; pass --executor or --executor-uri");
      }
      run.warnings.push_back(what + " is not an executable file on this host; the agents must have it");
    }
    command.value = path;
    command.arguments = {"factorial-executor"};
  }
  for (auto [resource, amount] : {std::pair{"cpus", options.executor_cpus}, std::pair{"mem", options.executor_mem}}) {
    v1::Resource r;
    r.name = resource;
    r.type = v1::ValueType::kScalar;
    r.scalar = amount;
    r.role = "*";
    r.allocation_role = options.role;
    executor.resources.push_back(r);
  }
  return OkStatus();
}

// The status server: where it listens, what it asks for, the host the Mesos UI links to.
Status ApplyHttp(const CommandLine& options, const Environment& env, RunConfig& run) {
  if (options.http_port < 0) {
    if (options.http_user || options.http_password_file) {
      return MakeError(Errc::kInvalidArgument, "--http-user and --http-password-file need --http-port");
    }
    return OkStatus();
  }
  if (options.http_port > 65535) return MakeError(Errc::kInvalidArgument, "--http-port must be at most 65535");
  if (options.http_address.empty()) return MakeError(Errc::kInvalidArgument, "--http-address is empty");
  StatusServerOptions http;
  http.address = options.http_address;
  http.port = options.http_port;
  if (options.http_password_file && !options.http_user) {
    return MakeError(Errc::kInvalidArgument, "--http-password-file needs --http-user");
  }
  if (options.http_user) {
    if (options.http_user->empty() || options.http_user->find(':') != std::string::npos) {
      return MakeError(Errc::kInvalidArgument, "--http-user must be a name without ':' (HTTP Basic)");
    }
    std::optional<Result<std::string>> password;
    if (options.http_password_file) {
      password = ReadSecretFile(*options.http_password_file, "--http-password-file");
    } else if (auto creds = Variable(env, "CREDENTIALS_DIRECTORY")) {
      password = ReadSecretFile(*creds + "/http-password", "the systemd credential");
    }
    if (!password) {
      return MakeError(Errc::kInvalidArgument,
                       "--http-user needs --http-password-file (or the systemd credential http-password)");
    }
    if (!password->ok()) return password->error();
    if (password->value().empty()) return MakeError(Errc::kInvalidArgument, "the --http-user password is empty");
    http.credential = std::make_pair(*options.http_user, std::move(*password).value());
  }
  run.http = std::move(http);
  run.http_advertise_host = !options.http_advertise_host.empty()      ? options.http_advertise_host
                            : options.http_address == "0.0.0.0" || options.http_address == "::" ? env.hostname
                                                                                               : options.http_address;
  return OkStatus();
}

// An option whose absence CommandLine keeps apart from any value given (a std::optional).
struct OptionalValue {
  std::string value;
  CLI::Option* option = nullptr;

  void MoveTo(std::optional<std::string>& target) {
    if (option->count() > 0) target = std::move(value);
  }
};

// What the option groups bind besides CommandLine's own fields, read once parsing is done.
struct RawOptions {
  OptionalValue master, user, principal, secret, secret_file, log_level, http_user, http_password_file;
  CLI::Option* checkpoint = nullptr;
  CLI::Option* no_checkpoint = nullptr;
  bool no_checkpoint_set = false;
};

// The numbers, the master, and how the framework registers and authenticates.
void AddFrameworkOptions(CLI::App& app, CommandLine& o, RawOptions& raw) {
  app.add_option("N", o.numbers, "numbers whose factorials to compute");
  app.add_option("--input", o.input, "file with one number per line ('-': stdin; '#' starts a comment)");
  app.add_option(Names("--max-n"), o.max_n, "largest N accepted (at most " + std::to_string(kLargestMaxN) + ")")
      ->capture_default_str();
  raw.master.option =
      app.add_option("--master", raw.master.value,
                     "host:port, http(s)://host:port, a comma-separated list, zk://[user:pass@]host:port[,...]/path, "
                     "or file:///path holding one of these; no default");
  app.add_option("--name", o.name, "framework name")->capture_default_str();
  raw.user.option = app.add_option("--user", raw.user.value, "user the executor runs as (default: the invoking user)");
  app.add_option("--role", o.role, "role to register with and take resources from")->capture_default_str();
  raw.principal.option = app.add_option("--principal", raw.principal.value, "principal to register and authenticate as");
  raw.secret.option = app.add_option("--secret", raw.secret.value, "the principal's secret, or file://path to read it from");
  raw.secret_file.option = app.add_option(Names("--secret-file"), raw.secret_file.value, "file holding the principal's secret");
  app.add_option(Names("--ca-file"), o.ca_file, "CA certificates for https masters (verification is always on)");
  app.add_option(Names("--failover-timeout"), o.failover_timeout,
                 "seconds (or a duration: 10secs, 2mins, 3hrs, 1days, 1weeks) the master keeps the framework after a "
                 "disconnect")
      ->capture_default_str()
      ->transform(Seconds());
  // Two flags rather than CLI11's "--checkpoint,!--no-checkpoint", whose help reads
  // "{false}" as if that were the default.
  raw.checkpoint = app.add_flag("--checkpoint", o.checkpoint, "ask agents to checkpoint tasks (the default)");
  raw.no_checkpoint = app.add_flag("--no-checkpoint", raw.no_checkpoint_set, "do not ask agents to checkpoint tasks");
}

// How work is cut into tasks and how the executor runs them, and the scheduler's patience.
void AddTaskOptions(CLI::App& app, CommandLine& o) {
  app.add_option(Names("--task-cpus"), o.task_cpus,
                 "most cpus per task (a smaller offer gets a smaller batch); a task computes on that many lanes")
      ->capture_default_str();
  app.add_option(Names("--batch-seconds"), o.batch_seconds,
                 "most estimated CPU seconds (or a duration) of work per cpu of a task (the cost model sizes batches)")
      ->capture_default_str()
      ->transform(Seconds());
  app.add_option(Names("--batch-size"), o.batch_size,
                 "most numbers per task; 1: one task per number (0: as --batch-seconds decides)")
      ->capture_default_str()
      ->transform(Count("from 0 to 50000"));
  app.add_option("--executor", o.executor, "executor binary on the agents (default: next to this one)");
  app.add_option(Names("--executor-uri"), o.executor_uri, "fetch the executor from this URI instead");
  app.add_option(Names("--executor-cpus"), o.executor_cpus, "cpus of the executor itself")->capture_default_str();
  app.add_option(Names("--executor-mem"), o.executor_mem, "MB of the executor itself")->capture_default_str();
  app.add_option(Names("--max-retries"), o.max_retries, "retries per number after a lost or failed task")
      ->capture_default_str();
  app.add_option(Names("--offer-wait"), o.offer_wait,
                 "seconds (or a duration) before an unplaceable number is reported unschedulable")
      ->capture_default_str()
      ->transform(Seconds());
  app.add_option(Names("--connect-timeout"), o.connect_timeout,
                 "seconds (or a duration) to reach a master before giving up (exit 1); 0: forever, as under systemd")
      ->capture_default_str()
      ->transform(Seconds());
  app.add_option(Names("--refuse-seconds"), o.refuse_seconds, "decline filter (seconds or a duration) while work is pending")
      ->capture_default_str()
      ->transform(Seconds());
  app.add_option(Names("--heartbeat-factor"), o.heartbeat_factor, "missed heartbeats before reconnecting")
      ->capture_default_str();
}

// Where results go and in what form, the state directory, logging and progress.
void AddOutputOptions(CLI::App& app, CommandLine& o, RawOptions& raw) {
  app.add_option("--format", o.format, "text or json (JSON lines carry the task, agent and agent_hostname)")
      ->capture_default_str();
  app.add_option("--order", o.order,
                 "input: lines in input order, each as soon as every earlier one is written; completion: each "
                 "result's lines as it arrives (every line names its number)")
      ->capture_default_str();
  app.add_option(Names("--hold-memory"), o.hold_memory,
                 "MB of results held back for input order kept in memory; the rest waits in an unlinked file in "
                 "--spill-dir")
      ->capture_default_str();
  app.add_option(Names("--spill-dir"), o.spill_dir,
                 "directory for results held back past --hold-memory (default: $TMPDIR, else /tmp)");
  app.add_option("--output", o.output, "write results to this file instead of stdout (see Results below)");
  app.add_option(Names("--state-dir"), o.state_dir,
                 "keep the framework ID and a journal of results here; a restart with the same numbers resumes; "
                 "results go to <state-dir>/results unless --output is given");
  app.add_flag(Names("--teardown-on-stop"), o.teardown_on_stop,
               "with --state-dir: SIGTERM tears the framework down even if work is unfinished");
  raw.log_level.option = app.add_option(Names("--log-level"), raw.log_level.value,
                                          "trace, debug, info (the default), warn, error (SPDLOG_LEVEL overrides)");
  app.add_flag("-q,--quiet", o.quiet, "no progress line and no info messages (unless --log-level says otherwise)");
  app.add_option(Names("--progress-interval"), o.progress_interval,
                 "seconds between progress log lines when standard error is not a terminal")
      ->capture_default_str();
}

// The optional status server.
void AddHttpOptions(CLI::App& app, CommandLine& o, RawOptions& raw) {
  app.add_option(Names("--http-port"), o.http_port,
                 "serve the job's status page, /status (JSON) and /metrics (Prometheus) on this port, and register "
                 "it as the framework's webui_url (default: no server)");
  app.add_option(Names("--http-address"), o.http_address, "address the status server listens on")
      ->capture_default_str();
  app.add_option(Names("--http-advertise-host"), o.http_advertise_host,
                 "host name in the webui_url the Mesos UI links to (default: --http-address, or this host's name "
                 "when that is 0.0.0.0)");
  raw.http_user.option =
      app.add_option(Names("--http-user"), raw.http_user.value, "ask for HTTP Basic credentials on the status server: the user");
  raw.http_password_file.option = app.add_option(Names("--http-password-file"), raw.http_password_file.value,
                                              "file holding --http-user's password (under systemd: the credential "
                                              "http-password)");
}

}  // namespace

ParsedCommandLine ParseCommandLine(const std::vector<std::string>& argv) {
  CommandLine o;
  CLI::App app{"Computes n! for every N on an Apache Mesos cluster (v1 HTTP scheduler API).", kProgram};
  app.footer(kFooter);
  RawOptions raw;
  // In this order in --help.
  AddFrameworkOptions(app, o, raw);
  AddTaskOptions(app, o);
  AddOutputOptions(app, o, raw);
  AddHttpOptions(app, o, raw);

  app.set_version_flag("--version", std::string(kProgram) + " " + FACTORIAL_VERSION);

  std::vector<const char*> args;
  for (const auto& a : argv) args.push_back(a.c_str());
  ParsedCommandLine parsed;
  try {
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::CallForHelp&) {
    parsed.text = app.help();
    return parsed;
  } catch (const CLI::CallForVersion& e) {
    parsed.text = std::string(e.what()) + "\n";
    return parsed;
  } catch (const CLI::ParseError& e) {
    parsed.exit_code = kExitUsage;
    parsed.text = std::string(kProgram) + ": " + e.what() + "\nRun '" + kProgram + " --help' for usage.\n";
    return parsed;
  }
  if (raw.checkpoint->count() > 0 && raw.no_checkpoint->count() > 0) {
    parsed.exit_code = kExitUsage;
    parsed.text = std::string(kProgram) + ": give --checkpoint or --no-checkpoint, not both\n";
    return parsed;
  }
  if (raw.no_checkpoint_set) o.checkpoint = false;
  raw.master.MoveTo(o.master);
  raw.user.MoveTo(o.user);
  raw.principal.MoveTo(o.principal);
  raw.secret.MoveTo(o.secret);
  raw.secret_file.MoveTo(o.secret_file);
  raw.log_level.MoveTo(o.log_level);
  raw.http_user.MoveTo(o.http_user);
  raw.http_password_file.MoveTo(o.http_password_file);
  parsed.options = std::move(o);
  return parsed;
}

namespace {

// Every numeric option within its range (each step below checks what it reads besides).
Status CheckRanges(const CommandLine& options) {
  for (const auto& range : {CheckRange("--failover-timeout", options.failover_timeout, 0, 1e9),
                            CheckRange("--task-cpus", options.task_cpus, 0.01, 1024),
                            CheckRange("--batch-seconds", options.batch_seconds, 0.001, 86400),
                            CheckRange("--batch-size", static_cast<double>(options.batch_size), 0, 50000),
                            CheckRange("--executor-cpus", options.executor_cpus, 0.01, 64),
                            CheckRange("--executor-mem", options.executor_mem, 32, 65536),
                            CheckRange("--max-retries", options.max_retries, 0, 100),
                            CheckRange("--offer-wait", options.offer_wait, 1, 1e7),
                            CheckRange("--connect-timeout", options.connect_timeout, 0, 1e7),
                            CheckRange("--refuse-seconds", options.refuse_seconds, 0, 31536000),
                            CheckRange("--heartbeat-factor", options.heartbeat_factor, 2, 100)}) {
    if (!range.ok()) return range.error();
  }
  return OkStatus();
}

// How results are written: format, order, memory held, where the rest spills.
Status ApplyOutput(const CommandLine& options, RunConfig& run) {
  if (options.format != "text" && options.format != "json") {
    return MakeError(Errc::kInvalidArgument, "--format must be text or json, not '" + options.format + "'");
  }
  run.format = options.format == "json" ? LineFormat::kJson : LineFormat::kText;
  if (options.order != "input" && options.order != "completion") {
    return MakeError(Errc::kInvalidArgument, "--order must be input or completion, not '" + options.order + "'");
  }
  run.order = options.order == "completion" ? OutputOrder::kCompletion : OutputOrder::kInput;
  if (auto range = CheckRange("--hold-memory", options.hold_memory, 0, 1048576); !range.ok()) return range.error();
  run.hold_bytes = static_cast<std::size_t>(options.hold_memory * 1048576);
  if (!options.spill_dir.empty()) {
    std::error_code ec;
    if (!fs::is_directory(options.spill_dir, ec)) {
      return MakeError(Errc::kInvalidArgument, "--spill-dir " + options.spill_dir + " is not a directory");
    }
  }
  run.spill_dir = options.spill_dir;
  return OkStatus();
}

// Whom to talk to and how: the masters, the credentials, the CA.
Status ApplyMasters(const CommandLine& options, const Environment& env, SchedulerConfig& config) {
  auto masters = ResolveMasters(options, env);
  if (!masters.ok()) return masters.error();
  config.masters = std::move(masters->urls);
  config.zookeeper = std::move(masters->zookeeper);
  if (auto credentials = ApplyCredentials(options, env, config); !credentials.ok()) return credentials.error();
  if (!options.ca_file.empty()) {
    std::error_code ec;
    if (!fs::is_regular_file(options.ca_file, ec)) {
      return MakeError(Errc::kInvalidArgument, "--ca-file " + options.ca_file + " is not a file");
    }
    config.tls.ca_file = options.ca_file;
  }
  return OkStatus();
}

// The FrameworkInfo, the shape of tasks and the scheduler's time limits.
Status ApplyFramework(const CommandLine& options, const Environment& env, SchedulerConfig& config) {
  config.framework.user = options.user.value_or(env.user);
  if (config.framework.user.empty()) return MakeError(Errc::kInvalidArgument, "--user is empty");
  config.framework.name = options.name;
  config.framework.hostname = env.hostname;
  config.framework.roles = {options.role};
  config.framework.checkpoint = options.checkpoint;
  config.framework.failover_timeout = options.failover_timeout;
  config.framework.capabilities = {v1::FrameworkCapability::kMultiRole, v1::FrameworkCapability::kPartitionAware};
  config.batch.task_cpus = options.task_cpus;
  config.batch.batch_seconds = options.batch_seconds;
  config.batch.batch_size = options.batch_size;
  config.max_retries = options.max_retries;
  config.offer_wait = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(options.offer_wait));
  config.refuse_seconds_busy = options.refuse_seconds;
  config.connect_timeout = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(options.connect_timeout));
  config.heartbeat_factor = options.heartbeat_factor;
  config.calls_in_flight = kCallsInFlight;
  return OkStatus();
}

// What the run keeps and shows: the state directory, the output file, logging and progress.
Status ApplyRun(const CommandLine& options, const Environment& env, RunConfig& run) {
  run.state_dir = options.state_dir;
  run.scheduler.teardown_on_stop = options.state_dir.empty() || options.teardown_on_stop;
  run.output = options.output.empty() && !options.state_dir.empty() ? options.state_dir + "/results" : options.output;
  run.log_level = options.log_level.value_or(options.quiet ? "warn" : "info");
  run.progress = !options.quiet;
  if (auto range = CheckRange("--progress-interval", options.progress_interval, 1, 86400); !range.ok()) {
    return range.error();
  }
  run.progress_interval = options.progress_interval;
  if (auto http = ApplyHttp(options, env, run); !http.ok()) return http.error();
  auto no_color = Variable(env, "NO_COLOR");  // no-color.org: set and not empty
  run.color = !no_color || no_color->empty();
  return OkStatus();
}

}  // namespace

Result<RunConfig> BuildConfig(const CommandLine& options, const Environment& env) {
  RunConfig run;
  if (auto ranges = CheckRanges(options); !ranges.ok()) return ranges.error();
  if (auto output = ApplyOutput(options, run); !output.ok()) return output.error();
  auto workload = ReadNumbers(options, env);
  if (!workload.ok()) return workload.error();
  run.workload = std::make_shared<const Workload>(std::move(workload).value());
  if (auto masters = ApplyMasters(options, env, run.scheduler); !masters.ok()) return masters.error();
  if (auto framework = ApplyFramework(options, env, run.scheduler); !framework.ok()) return framework.error();
  if (auto executor = ApplyExecutor(options, env, run); !executor.ok()) return executor.error();
  if (auto rest = ApplyRun(options, env, run); !rest.ok()) return rest.error();
  return run;
}

}  // namespace factorial::scheduler
