#include "config.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <unistd.h>

#include "factorial/sizing.hpp"
#include "support/temp_dir.hpp"

using factorial::Result;
using factorial::scheduler::BuildConfig;
using factorial::scheduler::CommandLine;
using factorial::scheduler::Environment;
using factorial::scheduler::kLargestMaxN;
using factorial::scheduler::LineFormat;
using factorial::scheduler::OutputOrder;
using factorial::scheduler::ParseCommandLine;
using factorial::scheduler::RunConfig;
using factorial::testing::TempDir;
namespace fs = std::filesystem;

namespace {

Environment Env(std::map<std::string, std::string> variables = {}) {
  Environment env;
  env.variables = std::move(variables);
  env.user = "alice";
  env.hostname = "gateway-1";
  env.default_executor = "/bin/true";  // an executable file that exists
  return env;
}

CommandLine Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "factorial-scheduler");
  auto parsed = ParseCommandLine(args);
  INFO(parsed.text);
  REQUIRE(parsed.options.has_value());
  return *parsed.options;
}

Result<RunConfig> Build(std::vector<std::string> args, const Environment& env = Env()) {
  return BuildConfig(Parse(std::move(args)), env);
}

std::string BuildError(std::vector<std::string> args, const Environment& env = Env()) {
  auto config = Build(std::move(args), env);
  if (config.ok()) return "(no error)";
  return config.error().message;
}

}  // namespace

TEST_CASE("every option reaches the run configuration", "[config]") {
  TempDir dir;
  std::string ca = dir.File("ca.pem", "certificates");
  std::string numbers = dir.File("numbers", "# two\n8\n9\n");
  auto config = Build({"--master", "m1:5050,https://m2:5051", "--input", numbers, "--max-n", "1000", "--name", "job-7",
                       "--user", "bob", "--role", "math", "--principal", "fw", "--secret", "s3cret", "--ca-file", ca,
                       "--failover-timeout", "60", "--no-checkpoint", "--task-cpus", "0.5", "--executor",
                       "/bin/sh", "--executor-cpus", "0.2", "--executor-mem", "64", "--max-retries", "5",
                       "--offer-wait", "30", "--refuse-seconds", "2", "--heartbeat-factor", "4", "--format", "json",
                       "--output", "out.jsonl", "--state-dir", "st", "--teardown-on-stop", "--log-level", "debug",
                       "--order", "completion", "--hold-memory", "0.5", "--spill-dir", dir.path().string(), "7", "1000"});
  REQUIRE(config.ok());
  const auto& c = config->scheduler;
  REQUIRE(config->workload->size() == 4);
  CHECK(config->workload->at(0) == 7);
  CHECK(config->workload->at(1) == 1000);
  CHECK(config->workload->at(2) == 8);
  CHECK(config->workload->at(3) == 9);
  CHECK(config->order == OutputOrder::kCompletion);
  CHECK(config->hold_bytes == 524288);
  CHECK(config->spill_dir == dir.path().string());
  CHECK(c.masters == std::vector<std::string>{"http://m1:5050", "https://m2:5051"});
  CHECK(c.framework.name == "job-7");
  CHECK(c.framework.user == "bob");
  CHECK(c.framework.roles == std::vector<std::string>{"math"});
  CHECK(c.framework.hostname == "gateway-1");
  CHECK(c.framework.principal == "fw");
  CHECK(c.credential == std::make_pair(std::string("fw"), std::string("s3cret")));
  CHECK(c.tls.ca_file == ca);
  CHECK(c.framework.failover_timeout == 60);
  CHECK_FALSE(c.framework.checkpoint);
  CHECK(c.batch.task_cpus == 0.5);
  REQUIRE(c.executor.command.has_value());
  CHECK(c.executor.command->value == "/bin/sh");
  CHECK(c.executor.command->arguments == std::vector<std::string>{"factorial-executor"});
  CHECK(c.executor.command->uris.empty());
  REQUIRE(c.executor.resources.size() == 2);
  CHECK(c.executor.resources[0].name == "cpus");
  CHECK(c.executor.resources[0].scalar == 0.2);
  CHECK(c.executor.resources[0].allocation_role == "math");
  CHECK(c.executor.resources[1].name == "mem");
  CHECK(c.executor.resources[1].scalar == 64);
  CHECK(c.max_retries == 5);
  CHECK(c.offer_wait == std::chrono::seconds(30));
  CHECK(c.refuse_seconds_busy == 2);
  CHECK(c.heartbeat_factor == 4);
  CHECK(c.teardown_on_stop);
  CHECK(c.store == nullptr);
  CHECK(config->format == LineFormat::kJson);
  CHECK(config->output == "out.jsonl");
  CHECK(config->state_dir == "st");
  CHECK(config->log_level == "debug");
  CHECK(config->warnings.empty());
}

TEST_CASE("defaults: invoking user, checkpointing, text, stdout, state dir results", "[config]") {
  auto config = Build({"--master", "10.0.0.1:5050", "5"});
  REQUIRE(config.ok());
  const auto& c = config->scheduler;
  CHECK(c.framework.user == "alice");
  CHECK(c.framework.name == "factorial");
  CHECK(c.framework.roles == std::vector<std::string>{"*"});
  CHECK(c.framework.checkpoint);
  CHECK(c.framework.failover_timeout == 604800);
  CHECK_FALSE(c.framework.principal.has_value());
  CHECK_FALSE(c.credential.has_value());
  CHECK(c.executor.command->value == "/bin/true");
  CHECK(c.batch.task_cpus == 1);
  CHECK(c.batch.batch_seconds == 30);
  CHECK(c.batch.batch_size == 0);
  CHECK(c.max_retries == 3);
  CHECK(c.offer_wait == std::chrono::seconds(120));
  CHECK(c.teardown_on_stop);  // without a state dir SIGTERM always tears down
  CHECK(config->format == LineFormat::kText);
  CHECK(config->order == OutputOrder::kInput);
  CHECK(config->hold_bytes == 16u << 20);
  CHECK(config->spill_dir.empty());
  CHECK(config->output.empty());
  CHECK(config->log_level == "info");
  auto with_state = Build({"--master", "10.0.0.1:5050", "--state-dir", "/var/lib/job", "5"});
  REQUIRE(with_state.ok());
  CHECK(with_state->output == "/var/lib/job/results");
  CHECK_FALSE(with_state->scheduler.teardown_on_stop);
}

TEST_CASE("standard input (--input -) is read from the environment's descriptor after the arguments", "[config]") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  REQUIRE(::write(fds[1], "12\n# c\n\n13\nx\n", 13) == 13);
  ::close(fds[1]);
  Environment env = Env();
  env.input_fd = fds[0];
  CHECK(BuildError({"--master", "m:5050", "--input", "-", "11"}, env) ==
        "bad number: input line 5 'x' is not a non-negative decimal integer");
  ::close(fds[0]);
  REQUIRE(::pipe(fds) == 0);
  REQUIRE(::write(fds[1], "12\n13\n", 6) == 6);
  ::close(fds[1]);
  env.input_fd = fds[0];
  auto config = Build({"--master", "m:5050", "--input", "-", "11"}, env);
  ::close(fds[0]);
  REQUIRE(config.ok());
  REQUIRE(config->workload->size() == 3);
  CHECK(config->workload->at(0) == 11);
  CHECK(config->workload->at(1) == 12);
  CHECK(config->workload->at(2) == 13);
}

TEST_CASE("quiet and NO_COLOR", "[config]") {
  auto plain = Build({"--master", "m:5050", "5"});
  REQUIRE(plain.ok());
  CHECK(plain->progress);
  CHECK(plain->color);
  auto quiet = Build({"--master", "m:5050", "--quiet", "5"}, Env({{"NO_COLOR", "1"}}));
  REQUIRE(quiet.ok());
  CHECK_FALSE(quiet->progress);
  CHECK(quiet->log_level == "warn");
  CHECK_FALSE(quiet->color);
  auto quiet_debug = Build({"--master", "m:5050", "-q", "--log-level", "debug", "5"}, Env({{"NO_COLOR", ""}}));
  REQUIRE(quiet_debug.ok());
  CHECK(quiet_debug->log_level == "debug");
  CHECK(quiet_debug->color);  // an empty NO_COLOR does not count
}

TEST_CASE("Mesos spellings: underscores, --checkpoint, --secret file://", "[config]") {
  TempDir dir;
  std::string secret = dir.File("secret", "from-file\n");
  auto config = Build({"--master", "m:5050", "--failover_timeout", "5", "--task_cpus", "2", "--max_retries", "0",
                       "--offer_wait", "9", "--checkpoint", "--principal", "fw", "--secret", "file://" + secret, "1"});
  REQUIRE(config.ok());
  CHECK(config->scheduler.framework.failover_timeout == 5);
  CHECK(config->scheduler.batch.task_cpus == 2);
  CHECK(config->scheduler.max_retries == 0);
  CHECK(config->scheduler.offer_wait == std::chrono::seconds(9));
  CHECK(config->scheduler.framework.checkpoint);
  CHECK(config->scheduler.credential == std::make_pair(std::string("fw"), std::string("from-file")));
  CHECK_FALSE(Parse({"--checkpoint=false", "1"}).checkpoint);
  CHECK_FALSE(Parse({"--no-checkpoint", "1"}).checkpoint);
  CHECK(Parse({"--state_dir", "x", "--teardown_on_stop", "1"}).teardown_on_stop);
}

TEST_CASE("the environment: MESOS_MASTER, MESOS_PRINCIPAL, MESOS_SECRET, systemd credential", "[config]") {
  TempDir dir;
  auto config = Build({"5"}, Env({{"MESOS_MASTER", "m1:5050"}, {"MESOS_PRINCIPAL", "p"}, {"MESOS_SECRET", "s"}}));
  REQUIRE(config.ok());
  CHECK(config->scheduler.masters == std::vector<std::string>{"http://m1:5050"});
  CHECK(config->scheduler.credential == std::make_pair(std::string("p"), std::string("s")));
  // Options win over the environment.
  config = Build({"--master", "m2:5050", "--principal", "q", "--secret", "t", "5"},
                 Env({{"MESOS_MASTER", "m1:5050"}, {"MESOS_PRINCIPAL", "p"}, {"MESOS_SECRET", "s"}}));
  REQUIRE(config.ok());
  CHECK(config->scheduler.masters == std::vector<std::string>{"http://m2:5050"});
  CHECK(config->scheduler.credential == std::make_pair(std::string("q"), std::string("t")));
  std::string secret = dir.File("mesos-secret", "via-env-file\r\n");
  config = Build({"--master", "m:5050", "--principal", "p", "5"}, Env({{"MESOS_SECRET", "file://" + secret}}));
  REQUIRE(config.ok());
  CHECK(config->scheduler.credential == std::make_pair(std::string("p"), std::string("via-env-file")));
  fs::create_directory(dir.path() / "creds");
  dir.File("creds/secret", "from-systemd\n");
  config = Build({"--master", "m:5050", "--principal", "p", "5"},
                 Env({{"CREDENTIALS_DIRECTORY", (dir.path() / "creds").string()}}));
  REQUIRE(config.ok());
  CHECK(config->scheduler.credential == std::make_pair(std::string("p"), std::string("from-systemd")));
  // An empty credential file: a principal without authentication.
  dir.File("creds/secret", "");
  config = Build({"--master", "m:5050", "--principal", "p", "5"},
                 Env({{"CREDENTIALS_DIRECTORY", (dir.path() / "creds").string()}}));
  REQUIRE(config.ok());
  CHECK(config->scheduler.framework.principal == "p");
  CHECK_FALSE(config->scheduler.credential.has_value());
}

TEST_CASE("duration options take Mesos' syntax as well as plain seconds", "[config]") {
  auto config = Build({"--master", "mesos://m:5050", "--failover_timeout=1weeks", "--offer-wait", "2mins",
                       "--connect-timeout", "500ms", "--refuse-seconds", "10secs", "--batch-seconds", "3hrs", "1"});
  REQUIRE(config.ok());
  CHECK(config->scheduler.masters == std::vector<std::string>{"http://m:5050"});
  CHECK(config->scheduler.framework.failover_timeout == 604800);
  CHECK(config->scheduler.offer_wait == std::chrono::minutes(2));
  CHECK(config->scheduler.connect_timeout == std::chrono::milliseconds(500));
  CHECK(config->scheduler.refuse_seconds_busy == 10);
  CHECK(config->scheduler.batch.batch_seconds == 10800);
  auto plain = Build({"--master", "m:5050", "--failover-timeout", "1days", "--offer-wait", "90", "1"});
  REQUIRE(plain.ok());
  CHECK(plain->scheduler.framework.failover_timeout == 86400);
  CHECK(plain->scheduler.offer_wait == std::chrono::seconds(90));
  CHECK(BuildError({"--master", "m:5050", "--offer-wait", "0secs", "5"}) == "--offer-wait must be between 1 and 10000000, not 0");
  auto bad = ParseCommandLine({"factorial-scheduler", "--offer-wait", "10parsecs", "5"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.text ==
        "factorial-scheduler: --offer-wait: '10parsecs' is neither seconds nor a duration (10secs, 500ms, 2mins, 3hrs, "
        "1days, 1weeks)\nRun 'factorial-scheduler --help' for usage.\n");
  auto negative = ParseCommandLine({"factorial-scheduler", "--batch-size", "-1", "5"});
  CHECK(negative.exit_code == 2);
  CHECK(negative.text ==
        "factorial-scheduler: --batch-size: must be a whole number from 0 to 50000, not '-1'\nRun "
        "'factorial-scheduler --help' for usage.\n");
}

TEST_CASE("--help shows the true defaults", "[config]") {
  auto help = ParseCommandLine({"factorial-scheduler", "--help"});
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.text, !Catch::Contains("{false}"));
  CHECK_THAT(help.text, Catch::Contains("ask agents to checkpoint tasks (the default)"));
  CHECK_THAT(help.text, Catch::Contains("do not ask agents to checkpoint tasks"));
  CHECK(Parse({"1"}).checkpoint);
  CHECK_FALSE(Parse({"--no-checkpoint", "1"}).checkpoint);
  CHECK(ParseCommandLine({"factorial-scheduler", "--checkpoint", "--no-checkpoint", "1"}).exit_code == 2);
}

TEST_CASE("every argument error names what the operator typed", "[config]") {
  TempDir dir;
  std::string colon = dir.File("colon", "a:b\n");
  std::string empty_secret = dir.File("empty", "\n");
  CHECK(BuildError({"5"}) == "no master: pass --master host:port or set MESOS_MASTER");
  CHECK(BuildError({"--master", "", "5"}) == "--master is empty");
  CHECK(BuildError({"5"}, Env({{"MESOS_MASTER", ""}})) == "MESOS_MASTER is empty");
  CHECK(BuildError({"--master", "not a host:5050", "5"}) == "--master: 'not a host' is not a host name or address");
  CHECK(BuildError({"5"}, Env({{"MESOS_MASTER", "m1"}})) == "MESOS_MASTER: --master: 'm1' is not host:port");
  CHECK(BuildError({"--master", "m:5050"}) == "no numbers given (arguments or --input)");
  CHECK(BuildError({"--master", "m:5050", "--input", dir.path().string()}) ==
        "--input " + dir.path().string() + " is a directory, not a file of numbers");
  CHECK(BuildError({"--master", "m:5050", "--input", dir.File("blank", "# none\n\n")}) ==
        "no numbers given: --input " + (dir.path() / "blank").string() + " holds none");
  CHECK(BuildError({"--master", "m:5050", "--input", (dir.path() / "missing").string()}) ==
        "cannot read --input " + (dir.path() / "missing").string());
  CHECK(BuildError({"--master", "m:5050", "--task-cpus", "0", "5"}) == "--task-cpus must be between 0.01 and 1024, not 0");
  CHECK(BuildError({"--master", "m:5050", "--max-retries", "101", "5"}) ==
        "--max-retries must be between 0 and 100, not 101");
  CHECK(BuildError({"--master", "m:5050", "--executor-mem", "16", "5"}) ==
        "--executor-mem must be between 32 and 65536, not 16");
  CHECK(BuildError({"--master", "m:5050", "--format", "xml", "5"}) == "--format must be text or json, not 'xml'");
  CHECK(BuildError({"--master", "m:5050", "--order", "random", "5"}) ==
        "--order must be input or completion, not 'random'");
  CHECK(BuildError({"--master", "m:5050", "--hold-memory", "-1", "5"}) ==
        "--hold-memory must be between 0 and 1048576, not -1");
  CHECK(BuildError({"--master", "m:5050", "--spill-dir", colon, "5"}) == "--spill-dir " + colon + " is not a directory");
  CHECK(BuildError({"--master", "m:5050", "--secret", "x", "5"}) ==
        "a secret (--secret) needs a principal: pass --principal or set MESOS_PRINCIPAL");
  CHECK(BuildError({"--master", "m:5050", "--principal", "p", "--secret", "x", "--secret-file", colon, "5"}) ==
        "give --secret or --secret-file, not both");
  CHECK(BuildError({"--master", "m:5050", "--principal", "p", "--secret-file", colon, "5"}) ==
        "the secret from --secret-file " + colon + " must not contain ':' (HTTP Basic)");
  CHECK(BuildError({"--master", "m:5050", "--principal", "p", "--secret", "file://" + empty_secret, "5"}) ==
        "the secret from --secret file " + empty_secret + " is empty");
  CHECK(BuildError({"--master", "m:5050", "--principal", "p", "--secret-file", "/nonexistent", "5"}) ==
        "cannot read --secret-file /nonexistent");
  CHECK(BuildError({"--master", "m:5050", "--ca-file", "/nonexistent", "5"}) == "--ca-file /nonexistent is not a file");
  CHECK(BuildError({"--master", "m:5050", "--executor", "/bin/sh", "--executor-uri", "http://x/e", "5"}) ==
        "give --executor or --executor-uri, not both");
}

TEST_CASE("a missing executor is an error when the agents are on this host", "[config]") {
  std::string missing = "/nonexistent/factorial-executor";
  CHECK(BuildError({"--master", "127.0.0.1:5050", "--executor", missing, "5"}) ==
        "--executor " + missing + " is not an executable file, and the master is on this host: every task would "
                                  "fail; pass --executor or --executor-uri");
  Environment no_default = Env();
  no_default.default_executor = missing;
  CHECK(BuildError({"--master", "localhost:5050", "5"}, no_default) ==
        "the default executor " + missing + " is not an executable file, and the master is on this host: every "
                                            "task would fail; pass --executor or --executor-uri");
  // A remote master: the agents may have it; a warning only.
  auto remote = Build({"--master", "mesos-master:5050", "--executor", missing, "5"});
  REQUIRE(remote.ok());
  CHECK(remote->warnings == std::vector<std::string>{"--executor " + missing +
                                                     " is not an executable file on this host; the agents must have it"});
  auto fetched = Build({"--master", "127.0.0.1:5050", "--executor-uri", "http://files/bin/factorial-executor", "5"});
  REQUIRE(fetched.ok());
  CHECK(fetched->scheduler.executor.command->value == "./factorial-executor");
  CHECK(fetched->scheduler.executor.command->uris.at(0).value == "http://files/bin/factorial-executor");
}

TEST_CASE("the largest max-n is capped where memory sizing stops being exact", "[config]") {
  CHECK(Build({"--master", "m:5050", "--max-n", std::to_string(kLargestMaxN), std::to_string(kLargestMaxN)}).ok());
  CHECK(BuildError({"--master", "m:5050", "--max-n", std::to_string(kLargestMaxN + 1), "5"}) ==
        "--max-n must be at most 100000000000000000 (the largest n whose memory need is computed exactly)");
  CHECK(BuildError({"--master", "m:5050", "--max-n", "18446744073709551615", "5"}) ==
        "--max-n must be at most 100000000000000000 (the largest n whose memory need is computed exactly)");
  CHECK(BuildError({"--master", "m:5050", "--max-n", "18446744073709551616", "5"}) ==
        "--max-n must be at most 100000000000000000 (the largest n whose memory need is computed exactly)");
  CHECK(BuildError({"--master", "m:5050", "--max-n", "-1", "5"}) == "--max-n '-1' is not a non-negative decimal integer");
  CHECK(BuildError({"--master", "m:5050", "--max-n", "1e9", "5"}) == "--max-n '1e9' is not a non-negative decimal integer");
  CHECK(BuildError({"--master", "m:5050", "--max-n", "10", "11"}) == "bad number: argument '11' is larger than --max-n 10");
  // At the cap the sizing is still far from overflowing and still grows with n.
  std::uint64_t at_cap = factorial::FactorialMemoryBytes(kLargestMaxN);
  CHECK(at_cap > factorial::FactorialMemoryBytes(kLargestMaxN / 10));
  CHECK(at_cap < (std::uint64_t{1} << 63));
  CHECK(factorial::FactorialDigits(kLargestMaxN) > kLargestMaxN * 16);
}

TEST_CASE("command-line errors exit 2 with the program's name, help and version exit 0", "[config]") {
  auto run = [](std::vector<std::string> args) {
    args.insert(args.begin(), "factorial-scheduler");
    return ParseCommandLine(args);
  };
  auto unknown = run({"--no-such-flag", "5"});
  CHECK_FALSE(unknown.options.has_value());
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.text ==
        "factorial-scheduler: The following argument was not expected: --no-such-flag\n"
        "Run 'factorial-scheduler --help' for usage.\n");
  auto not_a_number = run({"--task-cpus", "lots", "5"});
  CHECK(not_a_number.exit_code == 2);
  CHECK_THAT(not_a_number.text, Catch::StartsWith("factorial-scheduler: ") && Catch::Contains("--task-cpus"));
  auto missing_value = run({"5", "--master"});
  CHECK(missing_value.exit_code == 2);
  CHECK_THAT(missing_value.text, Catch::StartsWith("factorial-scheduler: ") && Catch::Contains("--master"));
  auto help = run({"--help"});
  CHECK(help.exit_code == 0);
  CHECK_FALSE(help.options.has_value());
  CHECK_THAT(help.text, Catch::Contains("Exit status:\n  0    every number was computed\n"));
  CHECK_THAT(help.text, Catch::Contains("  2    bad arguments"));
  CHECK_THAT(help.text, Catch::Contains("--failover-timeout,--failover_timeout"));
  CHECK_THAT(help.text, Catch::Contains("MESOS_PRINCIPAL"));
  auto version = run({"--version"});
  CHECK(version.exit_code == 0);
  CHECK_THAT(version.text, Catch::StartsWith("factorial-scheduler "));
}
