#include "executor_env.hpp"

#include "factorial/logging.hpp"

#include <charconv>
#include <cstdlib>
#include <vector>

namespace factorial::executor {
namespace {

bool ParseUnsigned(const std::string& text, std::uint64_t* out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return !text.empty() && ec == std::errc() && ptr == text.data() + text.size();
}

// "host:port" with a non-empty host and a port in 1..65535.
bool IsEndpoint(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::uint64_t port = 0;
  return ParseUnsigned(text.substr(colon + 1), &port) && port > 0 && port < 65536;
}

}  // namespace

std::optional<std::string> ProcessGetenv(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

Result<ExecutorEnv> ParseExecutorEnv(const Getenv& getenv) {
  ExecutorEnv env;
  std::vector<std::string> problems;
  auto required = [&](const char* name) -> std::string {
    auto value = getenv(name);
    if (!value || value->empty()) {
      problems.push_back(std::string(name) + " is not set");
      return {};
    }
    return *value;
  };
  auto duration = [&](const char* name, Duration* out) {
    std::string text = required(name);
    if (text.empty()) return;
    auto parsed = ParseMesosDuration(text);
    if (!parsed.ok()) {
      problems.push_back(std::string(name) + "='" + Excerpt(text) + "' is not a duration like 5secs");
    } else {
      *out = parsed.value();
    }
  };

  env.agent_endpoint = required("MESOS_AGENT_ENDPOINT");
  if (!env.agent_endpoint.empty() && !IsEndpoint(env.agent_endpoint)) {
    problems.push_back("MESOS_AGENT_ENDPOINT='" + Excerpt(env.agent_endpoint) + "' is not host:port");
  }
  env.framework_id = required("MESOS_FRAMEWORK_ID");
  env.executor_id = required("MESOS_EXECUTOR_ID");
  env.agent_sandbox = required("MESOS_DIRECTORY");
  if (auto sandbox = getenv("MESOS_SANDBOX"); sandbox && !sandbox->empty()) {
    env.sandbox = *sandbox;
  } else {
    env.sandbox = env.agent_sandbox;
  }
  std::string checkpoint = required("MESOS_CHECKPOINT");
  if (checkpoint == "1") {
    env.checkpoint = true;
  } else if (checkpoint == "0") {
    env.checkpoint = false;
  } else if (!checkpoint.empty()) {
    problems.push_back("MESOS_CHECKPOINT='" + Excerpt(checkpoint) + "' must be 1 or 0");
  }
  duration("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", &env.shutdown_grace_period);
  if (env.checkpoint) {
    duration("MESOS_RECOVERY_TIMEOUT", &env.recovery_timeout);
    duration("MESOS_SUBSCRIPTION_BACKOFF_MAX", &env.subscription_backoff_max);
  }
  if (auto token = getenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"); token && !token->empty()) {
    env.auth_token = *token;
  }
  if (auto limit = getenv("FACTORIAL_INLINE_LIMIT")) {
    std::uint64_t v = 0;
    if (!ParseUnsigned(*limit, &v)) {
      problems.push_back("FACTORIAL_INLINE_LIMIT='" + Excerpt(*limit) + "' is not a byte count");
    } else {
      env.inline_limit = static_cast<std::size_t>(v);
    }
  }
  if (auto max_n = getenv("FACTORIAL_MAX_N")) {
    if (!ParseUnsigned(*max_n, &env.max_n)) {
      problems.push_back("FACTORIAL_MAX_N='" + Excerpt(*max_n) + "' is not a number");
    }
  }
  if (auto part = getenv("FACTORIAL_PART_BYTES")) {
    std::uint64_t v = 0;
    if (!ParseUnsigned(*part, &v)) {
      problems.push_back("FACTORIAL_PART_BYTES='" + Excerpt(*part) + "' is not a byte count");
    } else {
      env.part_bytes = v;
    }
  }
  if (!problems.empty()) {
    std::string message = "bad executor environment: ";
    for (std::size_t i = 0; i < problems.size(); ++i) {
      if (i > 0) message += "; ";
      message += problems[i];
    }
    return MakeError(Errc::kInvalidArgument, message);
  }
  return env;
}

}  // namespace factorial::executor
