// Agents whose executor does not start (agent_health.hpp): the failure is diagnosed from the
// executor's sandbox stderr (sandbox_reader.hpp) and reported once per agent and cause, the
// agent is set aside while it keeps failing the same way, and when every agent that offers is
// set aside the run ends. Kept apart from the event handling in scheduler.cpp.

#include <cmath>

#include <spdlog/spdlog.h>

#include "factorial/logging.hpp"
#include "scheduler.hpp"

namespace factorial::scheduler {

// Offers of agents set aside are declined for the time they have left, so the master offers
// those resources to others meanwhile and us again once the time is up.
std::vector<v1::Offer> Scheduler::ScreenOffers(const std::vector<v1::Offer>& offers) {
  std::vector<v1::Offer> usable;
  usable.reserve(offers.size());
  for (const auto& offer : offers) {
    health_.Offered(offer.agent_id.value, offer.hostname, loop_.Now());
    auto left = health_.SetAsideFor(offer.agent_id.value, loop_.Now());
    if (left) {
      desk_.Decline({offer.id}, std::chrono::duration<double>(*left).count());
    } else {
      usable.push_back(offer);
    }
  }
  return usable;
}

// A task of ours ended. True when its executor never started (it counts against the agent,
// not the numbers); the agent may be set aside, and its sandbox is read for the reason.
bool Scheduler::LaunchFailed(const Batch& batch, const v1::TaskStatus& status) {
  auto cause = LaunchFailureCause(status, health_.Started(batch.task_id));
  std::string agent_id = status.agent_id ? status.agent_id->value : batch.agent_id;
  if (!cause || agent_id.empty()) return false;
  auto failure = health_.LaunchFailed(agent_id, *cause, batch.launched_at, loop_.Now());
  if (failure.set_aside) {
    spdlog::warn("agent {} set aside for {:g} s: {} {} times in a row",
                 AgentHealth::Name(agent_id, desk_.Hostname(agent_id)),
                 std::chrono::duration<double>(*failure.set_aside).count(), *cause, health_.Find(agent_id)->failures);
  }
  if (failure.counted) ReadExecutorStderr(agent_id, *cause, status.message.value_or(""));
  return true;
}

// The tail of the failed executor's stderr, read from its agent (one read per agent at a
// time: a read on its way tells about this failure too).
void Scheduler::ReadExecutorStderr(const std::string& agent_id, const std::string& cause, const std::string& message) {
  if (diagnosing_.contains(agent_id)) return;
  std::string prefix = message.empty() ? "" : message + "; ";
  std::string url = fetcher_.AgentUrl(agent_id);
  if (url.empty() || !link_.framework_id()) {
    Diagnosed(agent_id, cause, prefix + "no address is known for the agent's sandbox");
    return;
  }
  diagnosing_.insert(agent_id);
  sandbox_.ReadTail(url, *link_.framework_id(), config_.executor.executor_id.value, "stderr",
                    [this, agent_id, cause, prefix](Result<std::pair<std::string, bool>> tail) {
                      diagnosing_.erase(agent_id);
                      if (!tail.ok()) {
                        Diagnosed(agent_id, cause, prefix + "its stderr could not be read: " + tail.error().message);
                      } else if (std::string line = LastStderrLine(tail->first, tail->second); !line.empty()) {
                        Diagnosed(agent_id, cause, line);
                      } else {
                        Diagnosed(agent_id, cause, prefix + "its stderr is empty");
                      }
                      MaybeEndSetAside();
                    });
}

// Reported once per agent, cause and text (`detail` as received: escaped here).
void Scheduler::Diagnosed(const std::string& agent_id, const std::string& cause, const std::string& detail) {
  health_.Explain(agent_id, cause, detail);
  if (!reported_.insert(agent_id + '\n' + cause + '\n' + detail).second) return;
  spdlog::warn("agent {}: {}: {}", AgentHealth::Name(agent_id, desk_.Hostname(agent_id)), cause, Excerpt(detail));
}

// Every agent that offered lately is set aside and nothing of ours runs: nothing can start
// before a set-aside ends, so the run ends now with the reasons (numbers not final are
// unfinished: a run after the agents are fixed computes them). Waits for stderr reads on their
// way (each bounded by SandboxReader::kTimeout).
void Scheduler::MaybeEndSetAside() {
  if (link_.state() != State::kSubscribed || stop_code_ || ended_set_aside_ || !diagnosing_.empty()) return;
  if (book_.progress().running > 0 || book_.progress().pending == 0) return;
  if (!health_.AllSetAside(loop_.Now(), config_.offer_wait)) return;
  ended_set_aside_ = true;
  spdlog::error("no agent can start the executor: {}", health_.Diagnosis(loop_.Now(), config_.offer_wait));
  Teardown(1, "every agent is set aside");
}

}  // namespace factorial::scheduler
