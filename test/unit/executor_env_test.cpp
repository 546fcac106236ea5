#include "executor_env.hpp"

#include <map>

#include <catch2/catch.hpp>

#include "factorial/logging.hpp"

using namespace std::chrono_literals;
using factorial::executor::ParseExecutorEnv;

namespace {

// The environment a real agent gives a checkpointing framework's executor (§6.7).
std::map<std::string, std::string> AgentEnv() {
  return {{"MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"},
          {"MESOS_FRAMEWORK_ID", "303ec76c-0870-4975-9a97-9ba7782a1c55-0003"},
          {"MESOS_EXECUTOR_ID", "factorial-executor"},
          {"MESOS_DIRECTORY", "/var/lib/mesos/slaves/S0/frameworks/F/executors/E/runs/C"},
          {"MESOS_SANDBOX", "/var/lib/mesos/slaves/S0/frameworks/F/executors/E/runs/C"},
          {"MESOS_CHECKPOINT", "1"},
          {"MESOS_RECOVERY_TIMEOUT", "15mins"},
          {"MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"},
          {"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs"},
          {"MESOS_SLAVE_PID", "slave(1)@127.0.0.1:5051"},
          {"LIBPROCESS_PORT", "0"}};
}

factorial::executor::Getenv From(const std::map<std::string, std::string>& env) {
  return [env](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace

TEST_CASE("the agent's environment parses into the executor's configuration", "[executor][env]") {
  auto env = ParseExecutorEnv(From(AgentEnv()));
  REQUIRE(env.ok());
  CHECK(env->ExecutorUrl() == "http://127.0.0.1:5051/api/v1/executor");
  CHECK(env->framework_id == "303ec76c-0870-4975-9a97-9ba7782a1c55-0003");
  CHECK(env->executor_id == "factorial-executor");
  CHECK(env->checkpoint);
  CHECK(env->recovery_timeout == 15min);
  CHECK(env->subscription_backoff_max == 2s);
  CHECK(env->shutdown_grace_period == 5s);
  CHECK_FALSE(env->auth_token.has_value());
  CHECK(env->inline_limit == 65536);
  CHECK(env->sandbox == "/var/lib/mesos/slaves/S0/frameworks/F/executors/E/runs/C");
  CHECK(env->agent_sandbox == "/var/lib/mesos/slaves/S0/frameworks/F/executors/E/runs/C");
}

TEST_CASE("in a container image the executor writes to MESOS_SANDBOX and reports MESOS_DIRECTORY",
          "[executor][env]") {
  auto vars = AgentEnv();
  vars["MESOS_SANDBOX"] = "/mnt/mesos/sandbox";  // the container's own view
  auto env = ParseExecutorEnv(From(vars));
  REQUIRE(env.ok());
  CHECK(env->sandbox == "/mnt/mesos/sandbox");
  CHECK(env->agent_sandbox == "/var/lib/mesos/slaves/S0/frameworks/F/executors/E/runs/C");
  // MESOS_DIRECTORY is what the scheduler fetches from: without it there is no usable path.
  vars.erase("MESOS_DIRECTORY");
  auto missing = ParseExecutorEnv(From(vars));
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message, Catch::Contains("MESOS_DIRECTORY is not set"));
}

TEST_CASE("without checkpointing the recovery variables are not needed", "[executor][env]") {
  auto vars = AgentEnv();
  vars["MESOS_CHECKPOINT"] = "0";
  vars.erase("MESOS_RECOVERY_TIMEOUT");
  vars.erase("MESOS_SUBSCRIPTION_BACKOFF_MAX");
  auto env = ParseExecutorEnv(From(vars));
  REQUIRE(env.ok());
  CHECK_FALSE(env->checkpoint);
}

TEST_CASE("every missing or malformed variable is named in one error", "[executor][env]") {
  auto vars = AgentEnv();
  vars.erase("MESOS_FRAMEWORK_ID");
  vars["MESOS_CHECKPOINT"] = "true";  // Mesos writes 1/0, never true/false
  vars["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] = "5";
  vars["MESOS_AGENT_ENDPOINT"] = "localhost";
  auto env = ParseExecutorEnv(From(vars));
  REQUIRE_FALSE(env.ok());
  const auto& message = env.error().message;
  CHECK_THAT(message, Catch::Contains("MESOS_FRAMEWORK_ID is not set"));
  CHECK_THAT(message, Catch::Contains("MESOS_CHECKPOINT='true' must be 1 or 0"));
  CHECK_THAT(message, Catch::Contains("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD='5'"));
  CHECK_THAT(message, Catch::Contains("MESOS_AGENT_ENDPOINT='localhost' is not host:port"));
}

TEST_CASE("sandbox falls back to MESOS_DIRECTORY and optional knobs are read", "[executor][env]") {
  auto vars = AgentEnv();
  vars.erase("MESOS_SANDBOX");
  vars["MESOS_EXECUTOR_AUTHENTICATION_TOKEN"] = "tok";
  vars["FACTORIAL_INLINE_LIMIT"] = "1024";
  auto env = ParseExecutorEnv(From(vars));
  REQUIRE(env.ok());
  CHECK(env->sandbox == "/var/lib/mesos/slaves/S0/frameworks/F/executors/E/runs/C");
  CHECK(env->agent_sandbox == env->sandbox);
  CHECK(env->auth_token == "tok");
  CHECK(env->inline_limit == 1024);
  CHECK_FALSE(env->part_bytes.has_value());  // batch.hpp's kPartBytes
  vars["FACTORIAL_PART_BYTES"] = "1048576";
  env = ParseExecutorEnv(From(vars));
  REQUIRE(env.ok());
  CHECK(env->part_bytes == 1048576u);
  vars["FACTORIAL_PART_BYTES"] = "1M";
  auto bad_part = ParseExecutorEnv(From(vars));
  REQUIRE_FALSE(bad_part.ok());
  CHECK_THAT(bad_part.error().message, Catch::Contains("FACTORIAL_PART_BYTES='1M' is not a byte count"));
  // A value is quoted escaped: it cannot split or forge the log line that reports it.
  vars["FACTORIAL_PART_BYTES"] = "1\n\x1b[2Jforged line";
  auto hostile = ParseExecutorEnv(From(vars));
  REQUIRE_FALSE(hostile.ok());
  CHECK(hostile.error().message.find('\n') == std::string::npos);
  CHECK(hostile.error().message.find('\x1b') == std::string::npos);
  CHECK_THAT(hostile.error().message,
             Catch::Contains("FACTORIAL_PART_BYTES='" + factorial::Excerpt("1\n\x1b[2Jforged line") + "'"));
  vars.erase("FACTORIAL_PART_BYTES");
  vars["FACTORIAL_INLINE_LIMIT"] = "lots";
  CHECK_FALSE(ParseExecutorEnv(From(vars)).ok());
}
