// The /sim/... controls on every master port (not part of the Mesos API): faults a test
// injects (agent and executor deaths, broken streams, failed or slow calls, leadership
// changes, corrupt downloads) and what a test inspects (state, launches, calls).

#include <csignal>
#include <cstdlib>

#include "impl.hpp"

namespace factorial::sim {
namespace {

bool Ok(httplib::Response& res, const json& body = json::object()) {
  res.status = 200;
  res.set_content(body.dump(), kJson);
  return true;
}

bool Refused(httplib::Response& res, int status, const std::string& why) {
  Text(res, status, why);
  return true;
}

}  // namespace

void MesosSim::Impl::HandleControl(const httplib::Request& req, httplib::Response& res) {
  std::lock_guard lock(mu_);
  std::string what = req.matches[1];
  if (req.method == "GET") {
    if (auto out = Inspect(what)) {
      Ok(res, *out);
      return;
    }
  } else if (Fault(what, req, res)) {
    return;
  }
  Text(res, 404, "unknown control");
}

// GET /sim/launches, /sim/calls, /sim/state.
std::optional<json> MesosSim::Impl::Inspect(const std::string& what) const {
  if (what == "launches") {
    json out = json::array();
    for (const auto& l : launches_) {
      out.push_back({{"offers", l.offer_ids}, {"agent_id", l.agent_id}, {"task_id", l.task_id},
                     {"cpus", l.cpus}, {"mem", l.mem}, {"disk", l.disk}, {"new_executor", l.new_executor}});
    }
    return out;
  }
  if (what == "calls") return json(calls_log_);
  if (what == "state") return StateJson();
  return std::nullopt;
}

json MesosSim::Impl::StateJson() const {
  json out = {{"master_id", master_id_}, {"leader", leader_}, {"frameworks", json::array()},
              {"completed_frameworks", json(std::vector<std::string>(completed_frameworks_.begin(), completed_frameworks_.end()))},
              {"agents", json::array()}};
  for (const auto& [id, fw] : frameworks_) {
    out["frameworks"].push_back({{"id", id}, {"connected", fw->connected}, {"offers", fw->offers.size()},
                                 {"tasks", fw->task_ids.size()}, {"suppressed", fw->suppressed_roles.size()}});
  }
  for (const auto& a : agents_) {
    Res avail = Available(*a);
    json executors = json::array();
    for (const auto& [key, run] : a->executors) {
      executors.push_back({{"framework_id", key.first}, {"executor_id", key.second}, {"pid", run->pid},
                           {"sandbox", run->sandbox},
                           {"state", run->state == ExecutorRun::State::kTerminated ? "TERMINATED" : "ACTIVE"}});
    }
    out["agents"].push_back({{"id", a->id}, {"alive", a->alive}, {"url", agent_url(a->index)},
                             {"available", {{"cpus", avail.cpus}, {"mem", avail.mem}}}, {"executors", executors}});
  }
  return out;
}

// POST /sim/<what>: true once answered, false for an unknown control.
bool MesosSim::Impl::Fault(const std::string& what, const httplib::Request& req,
                                          httplib::Response& res) {
  auto param = [&](const char* name, long long fallback) {
    return req.has_param(name) ? std::atoll(req.get_param_value(name).c_str()) : fallback;
  };
  if (what.rfind("agents/", 0) == 0 && what.size() > 12 && what.substr(what.size() - 5) == "/kill") {
    Agent* agent = AgentAt(what.substr(7, what.size() - 12));
    if (agent == nullptr) return Refused(res, 404, "no such agent");
    KillAgent(*agent);
  } else if (what == "executors/kill") {
    return Ok(res, {{"killed", KillExecutors(req)}});
  } else if (what == "drop-connections") {
    for (auto& [id, fw] : frameworks_) {
      if (fw->stream) fw->stream->Close();
    }
    for (auto& a : agents_) {
      for (auto& [key, run] : a->executors) {
        if (run->stream) run->stream->Close();
      }
    }
  } else if (what == "stall-heartbeats") {
    heartbeats_stalled_until_ = SteadyClock::now() + Millis(param("ms", 3600000));
  } else if (what == "leader") {
    int next = static_cast<int>(param("index", 0));
    if (next >= static_cast<int>(master_ports_.size())) return Refused(res, 400, "no such master");
    MoveLeader(next);
    return Ok(res, {{"leader", leader_}});
  } else if (what == "rescind-offers") {
    for (auto& [id, fw] : frameworks_) RescindOffers(*fw, true);
  } else if (what == "corrupt-stream") {
    for (auto& [id, fw] : frameworks_) {
      if (fw->stream) fw->stream->PushRaw("not-a-length\n{}");
    }
  } else if (what == "fail-calls") {
    int status = static_cast<int>(param("status", 500));
    if (status != 500 && status != 503 && status != 400) return Refused(res, 400, "status must be 500, 503 or 400");
    fail_calls_remaining_ = static_cast<int>(param("count", 1));
    fail_calls_status_ = status;
    fail_calls_type_ = req.has_param("type") ? req.get_param_value("type") : "";
  } else if (what == "allocate") {  // one allocation cycle now (tests with a long --allocation-interval)
    Allocate(SteadyClock::now());
  } else if (what == "delay") {
    response_delay_ = Millis(param("ms", 0));
  } else if (what == "corrupt-downloads") {
    corrupt_downloads_ = static_cast<int>(param("count", 1));
  } else if (what == "slow-downloads") {
    download_delay_ms_ = static_cast<int>(param("ms", 0));
  } else {
    return false;
  }
  return Ok(res);
}

// An agent by index ("0") or by id.
Agent* MesosSim::Impl::AgentAt(const std::string& index_or_id) {
  for (auto& a : agents_) {
    if (a->id == index_or_id || std::to_string(a->index) == index_or_id) return a.get();
  }
  return nullptr;
}

// Crashes executors (SIGKILL without SHUTDOWN), all or those `agent=` and `executor=` name.
int MesosSim::Impl::KillExecutors(const httplib::Request& req) {
  int killed = 0;
  for (auto& a : agents_) {
    if (req.has_param("agent") && AgentAt(req.get_param_value("agent")) != a.get()) continue;
    for (auto& [key, run] : a->executors) {
      if (req.has_param("executor") && key.second != req.get_param_value("executor")) continue;
      if (run->pid > 0 && run->state != ExecutorRun::State::kTerminated) {
        ::kill(-run->pid, SIGKILL);
        ++killed;
      }
    }
  }
  return killed;
}

// Master failover: every scheduler connection breaks and offers are void (§5.8).
void MesosSim::Impl::MoveLeader(int next) {
  leader_ = next;
  if (options_.on_leader_changed) options_.on_leader_changed(next);
  for (auto& [id, fw] : frameworks_) {
    if (fw->stream) fw->stream->Close();
    DisconnectFramework(*fw);
    fw->failover_deadline.reset();  // the new leader does not know the old timers
  }
  if (options_.failover_forgets_frameworks) frameworks_.clear();
}

}  // namespace factorial::sim
