#pragma once

// The executor's whole configuration comes from the environment the agent sets
// (mesos-v1-api.md §6.7, §9.2).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "factorial/duration.hpp"
#include "factorial/status.hpp"

namespace factorial::executor {

struct ExecutorEnv {
  std::string agent_endpoint;  // host:port
  std::string framework_id;
  std::string executor_id;
  // The sandbox twice: `sandbox` is where this process writes (MESOS_SANDBOX, else
  // MESOS_DIRECTORY), `agent_sandbox` the same directory as the agent sees it
  // (MESOS_DIRECTORY). They differ when the container has its own root filesystem; paths
  // reported to the scheduler are fetched through the agent, so they use `agent_sandbox`.
  std::string sandbox;
  std::string agent_sandbox;
  bool checkpoint = false;
  Duration recovery_timeout{0};           // checkpointing only
  Duration subscription_backoff_max{0};   // checkpointing only
  Duration shutdown_grace_period = std::chrono::seconds(5);
  std::optional<std::string> auth_token;  // MESOS_EXECUTOR_AUTHENTICATION_TOKEN
  // Our own knobs (not set by Mesos): FACTORIAL_INLINE_LIMIT, FACTORIAL_MAX_N,
  // FACTORIAL_PART_BYTES (a lane's part size; unset: kPartBytes in batch.hpp).
  std::size_t inline_limit = 65536;
  std::uint64_t max_n = 100000000;
  std::optional<std::uint64_t> part_bytes;

  std::string ExecutorUrl() const { return "http://" + agent_endpoint + "/api/v1/executor"; }
};

using Getenv = std::function<std::optional<std::string>(std::string_view)>;

// Every missing or malformed variable is named in one error.
Result<ExecutorEnv> ParseExecutorEnv(const Getenv& getenv);

// Reads the process environment.
std::optional<std::string> ProcessGetenv(std::string_view name);

}  // namespace factorial::executor
