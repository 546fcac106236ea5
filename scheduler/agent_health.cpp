#include "agent_health.hpp"

#include <algorithm>

#include "factorial/logging.hpp"

namespace factorial::scheduler {

std::optional<std::string> LaunchFailureCause(const v1::TaskStatus& status, bool task_started) {
  if (status.state != v1::TaskState::kFailed || !status.reason) return std::nullopt;
  switch (*status.reason) {
    case v1::TaskReason::kExecutorTerminated:
      // An executor that ran the task and then died did start: that is the task's failure.
      if (task_started) return std::nullopt;
      return "the executor failed to start";
    case v1::TaskReason::kExecutorRegistrationTimeout:
      return "the executor did not register in time";
    case v1::TaskReason::kContainerLaunchFailed:
      return "the executor's container could not be launched";
    default:
      return std::nullopt;
  }
}

std::string AgentHealth::Name(const std::string& agent_id, const std::string& hostname) {
  auto dash = agent_id.rfind('-');
  std::string short_id = dash == std::string::npos ? agent_id : agent_id.substr(dash + 1);
  return Excerpt(hostname.empty() ? agent_id : hostname + " (" + short_id + ")");
}

const AgentHealth::Agent* AgentHealth::Find(const std::string& agent_id) const {
  auto it = agents_.find(agent_id);
  return it == agents_.end() ? nullptr : &it->second;
}

void AgentHealth::Offered(const std::string& agent_id, const std::string& hostname, TimePoint now) {
  Agent& agent = agents_[agent_id];
  agent.id = agent_id;
  if (!hostname.empty()) agent.hostname = hostname;
  agent.last_offer = now;
}

void AgentHealth::TaskStarted(const std::string& task_id, const std::string& agent_id) {
  started_.insert(task_id);
  auto it = agents_.find(agent_id);
  if (it == agents_.end()) return;
  Agent& agent = it->second;
  agent.cause.clear();
  agent.detail.clear();
  agent.failures = 0;
  agent.set_asides = 0;
  agent.until.reset();
}

AgentHealth::Failure AgentHealth::LaunchFailed(const std::string& agent_id, const std::string& cause,
                                               TimePoint launched_at, TimePoint now) {
  Agent& agent = agents_[agent_id];
  agent.id = agent_id;
  ++agent.launch_failures;
  // Launched before the last failure here was seen: it waited for that same executor.
  if (agent.failures > 0 && cause == agent.cause && launched_at < agent.last_failure) return {};
  if (cause != agent.cause) {
    agent.cause = cause;
    agent.detail.clear();
    agent.failures = 0;
    agent.set_asides = 0;
  }
  ++agent.failures;
  agent.last_failure = now;
  if (agent.failures < policy_.failures) return {.counted = true, .set_aside = std::nullopt};
  Duration period = policy_.first;
  for (int i = 0; i < agent.set_asides && period < policy_.longest; ++i) period *= 2;
  period = std::min(period, policy_.longest);
  ++agent.set_asides;
  agent.until = now + std::chrono::duration_cast<Clock::duration>(period);
  return {.counted = true, .set_aside = period};
}

void AgentHealth::Explain(const std::string& agent_id, const std::string& cause, std::string detail) {
  auto it = agents_.find(agent_id);
  if (it == agents_.end() || it->second.cause != cause) return;
  it->second.detail = std::move(detail);
}

std::optional<Duration> AgentHealth::SetAsideFor(const std::string& agent_id, TimePoint now) const {
  const Agent* agent = Find(agent_id);
  if (agent == nullptr || !agent->until || *agent->until <= now) return std::nullopt;
  return *agent->until - now;
}

bool AgentHealth::AllSetAside(TimePoint now, Duration window) const {
  bool any = false;
  for (const auto& [id, agent] : agents_) {
    if (!agent.last_offer || now - *agent.last_offer > window) continue;  // gone, or never offered
    if (!SetAsideFor(id, now)) return false;
    any = true;
  }
  return any;
}

std::string AgentHealth::Diagnosis(TimePoint now, Duration window) const {
  // cause and detail -> the agents that have it, in agent ID order
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  for (const auto& [id, agent] : agents_) {
    if (!agent.last_offer || now - *agent.last_offer > window || !SetAsideFor(id, now)) continue;
    std::string why = agent.cause + (agent.detail.empty() ? "" : ": " + Excerpt(agent.detail));
    auto group = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == why; });
    if (group == groups.end()) group = groups.insert(groups.end(), {why, {}});
    group->second.push_back(Name(id, agent.hostname));
  }
  std::string out;
  for (const auto& [why, names] : groups) {
    if (!out.empty()) out += "; ";
    out += names.size() == 1 ? "agent " : "agents ";
    for (std::size_t i = 0; i < names.size(); ++i) out += (i > 0 ? ", " : "") + names[i];
    out += ": " + why;
  }
  return out;
}

}  // namespace factorial::scheduler
