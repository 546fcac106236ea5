// Offers, as Mesos' hierarchical allocator makes them and the master takes them back
// (§5.11): allocation cycles, ACCEPT (with the task validation of §5.6.2), DECLINE and the
// refusal filters both install, REVIVE and SUPPRESS, rescinds and the offer timeout.

#include <algorithm>
#include <cmath>

#include "impl.hpp"

namespace factorial::sim {

// What ACCEPT took from the framework's outstanding offers.
struct MesosSim::Impl::TakenOffers {
  std::optional<std::string> error;  // why the offers are invalid; every LAUNCH then fails
  std::string agent_id;
  std::string role;
  Res remaining;           // what the launches have not used yet
  std::string offer_list;  // the offer ids, comma-separated, for /sim/launches
};

// What an agent can offer: its total minus live executors, tasks not yet terminal, and
// outstanding offers.
Res MesosSim::Impl::Available(const Agent& agent) const {
  Res available = agent.total;
  for (const auto& [key, run] : agent.executors) {
    if (run->state != ExecutorRun::State::kTerminated) available.Subtract(run->resources);
  }
  for (const auto& [key, task] : tasks_) {
    if (task->agent_id == agent.id && !task->resources_released) available.Subtract(task->resources);
  }
  for (const auto& [id, fw] : frameworks_) {
    for (const auto& [offer_id, offer] : fw->offers) {
      if (offer.offer.agent_id.value == agent.id) available.Subtract(offer.resources);
    }
  }
  return available;
}

// One offer per agent per cycle, handed round-robin to connected, unsuppressed frameworks
// whose decline filter for that agent has expired (§5.11).
void MesosSim::Impl::Allocate(Time now) {
  std::vector<Framework*> candidates;
  for (auto& [id, fw] : frameworks_) {
    if (fw->connected && !fw->removed) candidates.push_back(fw.get());
  }
  if (candidates.empty()) return;
  std::map<Framework*, std::vector<v1::Offer>> batches;
  for (auto& agent : agents_) {
    if (!agent->alive) continue;
    Res available = Available(*agent);
    if (!available.Allocatable()) continue;
    for (std::size_t k = 0; k < candidates.size(); ++k) {
      Framework* fw = candidates[(allocation_cursor_ + k) % candidates.size()];
      std::string role = OfferableRole(*fw, agent->id, available, now);
      if (role.empty()) continue;
      batches[fw].push_back(MakeOffer(*fw, *agent, available, role, now));
      break;
    }
  }
  ++allocation_cursor_;
  for (auto& [fw, offers] : batches) {
    sched::Event event;
    event.type = sched::EventType::kOffers;
    event.offers.emplace().offers = std::move(offers);
    SendEvent(*fw, event);
  }
}

// The first of the framework's roles that is neither suppressed nor holding a filter that
// refuses `available` on this agent; empty if none. Expired filters are dropped on the way.
std::string MesosSim::Impl::OfferableRole(Framework& fw, const std::string& agent_id, const Res& available,
                                          Time now) {
  for (const auto& r : fw.roles()) {
    if (fw.suppressed_roles.contains(r)) continue;
    auto filters = fw.filters.find({agent_id, r});
    if (filters != fw.filters.end()) {
      std::erase_if(filters->second, [&](const RefusedFilter& f) { return f.until <= now; });
      bool refused = std::any_of(filters->second.begin(), filters->second.end(),
                                 [&](const RefusedFilter& f) { return f.refused.Contains(available); });
      if (filters->second.empty()) fw.filters.erase(filters);
      if (refused) continue;
    }
    return r;
  }
  return "";
}

// A new offer of `available` on `agent`, recorded as outstanding for `fw`.
v1::Offer MesosSim::Impl::MakeOffer(Framework& fw, const Agent& agent, const Res& available, const std::string& role,
                                    Time now) {
  OfferRecord record;
  record.resources = available;
  record.created = now;
  v1::Offer& offer = record.offer;
  offer.id.value = master_id_ + "-O" + std::to_string(offer_counter_++);
  offer.framework_id.value = fw.id;
  offer.agent_id.value = agent.id;
  offer.hostname = options_.hostname;
  offer.url = v1::Url{"http", v1::Address{options_.hostname, options_.ip, agent.port}, std::string("/slave(1)")};
  offer.resources = available.ToResources(role, fw.multi_role());
  if (fw.multi_role()) offer.allocation_role = role;
  for (const auto& [key, run] : agent.executors) {
    if (key.first == fw.id && run->state != ExecutorRun::State::kTerminated) {
      offer.executor_ids.push_back(v1::ExecutorID{run->executor_id});
    }
  }
  v1::Offer copy = offer;
  fw.offers[offer.id.value] = std::move(record);
  return copy;
}

// ---- ACCEPT (§5.6.2) -----------------------------------------------------------------------

// Offers are validated together; invalid ones fail every LAUNCH with TASK_LOST (or
// TASK_DROPPED when partition-aware); each bad task gets TASK_ERROR; leftovers are filtered.
void MesosSim::Impl::Accept(Framework& fw, const sched::Call::Accept& accept) {
  TakenOffers taken = TakeOffers(fw, accept.offer_ids);
  auto for_each_task = [&](auto&& fn) {
    for (const auto& op : accept.operations) {
      if (op.type == v1::OperationType::kLaunch && op.launch) {
        for (const auto& t : *op.launch) fn(t, op, std::optional<v1::ExecutorInfo>());
      } else if (op.type == v1::OperationType::kLaunchGroup && op.launch_group) {
        for (const auto& t : op.launch_group->tasks) fn(t, op, std::optional(op.launch_group->executor));
      }
    }
  };
  if (taken.error) {
    for_each_task([&](const v1::TaskInfo& t, const v1::Operation&, const auto&) {
      v1::TaskStatus s;
      s.task_id = t.task_id;
      s.state = LostState(fw, v1::TaskState::kDropped);
      s.agent_id = t.agent_id;
      s.reason = v1::TaskReason::kInvalidOffers;
      s.message = "Task launched with invalid offers: " + *taken.error;
      SendMasterUpdate(fw, s);
    });
    return;
  }
  Agent* agent = FindAgent(taken.agent_id);
  for_each_task([&](const v1::TaskInfo& original, const v1::Operation& op,
                    const std::optional<v1::ExecutorInfo>& group_executor) {
    v1::TaskInfo task = original;
    if (group_executor) task.executor = group_executor;
    bool in_group = group_executor.has_value();
    if (auto error = InvalidTask(fw, task, op, in_group, taken.agent_id)) return RejectTask(fw, task, in_group, *error);
    LaunchTask(fw, std::move(task), in_group, agent, taken);
  });
  if (!taken.remaining.Empty() && agent != nullptr) Refuse(fw, taken.agent_id, taken.role, taken.remaining, accept.filters);
}

// Takes the named offers away from the framework (valid or not, they are used up).
MesosSim::Impl::TakenOffers MesosSim::Impl::TakeOffers(Framework& fw, const std::vector<v1::OfferID>& ids) {
  TakenOffers taken;
  taken.role = fw.roles().front();
  for (const auto& id : ids) {
    taken.offer_list += (taken.offer_list.empty() ? "" : ",") + id.value;
    auto it = fw.offers.find(id.value);
    if (it == fw.offers.end()) {
      if (!taken.error) taken.error = "Offer " + id.value + " is no longer valid";
      continue;
    }
    if (!taken.agent_id.empty() && taken.agent_id != it->second.offer.agent_id.value && !taken.error) {
      taken.error = "Aggregated offers must belong to one single agent";
    }
    taken.agent_id = it->second.offer.agent_id.value;
    taken.role = it->second.offer.allocation_role.value_or(taken.role);
    taken.remaining.Add(it->second.resources);
    fw.offers.erase(it);
  }
  if (ids.empty() && !taken.error) taken.error = "No offers specified";
  return taken;
}

// Why the master refuses this task before looking at resources, if it does.
std::optional<std::string> MesosSim::Impl::InvalidTask(const Framework& fw, const v1::TaskInfo& task,
                                                       const v1::Operation& op, bool in_group,
                                                       const std::string& agent_id) const {
  const std::string& tid = task.task_id.value;
  if (op.id) return "Operation ID must not be set for LAUNCH or LAUNCH_GROUP operations";
  if (tid.empty() || tid.size() > 255 || tid == "." || tid == ".." || tid.find_first_of("/\\") != std::string::npos ||
      std::any_of(tid.begin(), tid.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
    return "'TaskInfo.task_id' is invalid: '" + tid + "'";
  }
  if (tasks_.contains(fw.id + "/" + tid)) return "Task has duplicate ID: " + tid;
  if (task.agent_id.value != agent_id) return "Task uses invalid agent: " + task.agent_id.value;
  if (task.executor.has_value() == task.command.has_value()) {
    return "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present";
  }
  if (!task.executor) return "mesos-sim runs custom executors only (no command executor)";
  const v1::ExecutorInfo& info = *task.executor;
  if (!in_group && info.type && *info.type != v1::ExecutorType::kCustom) return "'ExecutorInfo.type' must be 'CUSTOM'";
  if (!info.command) return "'ExecutorInfo.command' must be set";
  if (info.framework_id && info.framework_id->value != fw.id) {
    return "ExecutorInfo has an invalid FrameworkID (Actual: " + info.framework_id->value + " vs Expected: " + fw.id +
           ")";
  }
  if (task.resources.empty()) return "Task uses no resources";
  return std::nullopt;
}

void MesosSim::Impl::RejectTask(Framework& fw, const v1::TaskInfo& task, bool in_group, const std::string& message) {
  v1::TaskStatus s;
  s.task_id = task.task_id;
  s.state = v1::TaskState::kError;
  s.agent_id = task.agent_id;
  s.reason = in_group ? v1::TaskReason::kTaskGroupInvalid : v1::TaskReason::kTaskInvalid;
  s.message = message;
  SendMasterUpdate(fw, s);
}

// A valid task: checked against its executor and the resources left, recorded, and handed
// to the agent (which starts the executor if it is new).
void MesosSim::Impl::LaunchTask(Framework& fw, v1::TaskInfo task, bool in_group, Agent* agent, TakenOffers& taken) {
  const std::string tid = task.task_id.value;
  v1::ExecutorInfo& info = *task.executor;
  info.framework_id = v1::FrameworkID{fw.id};
  Res needed = Res::From(task.resources);
  std::shared_ptr<ExecutorRun> run;
  if (agent != nullptr) {
    auto it = agent->executors.find({fw.id, info.executor_id.value});
    if (it != agent->executors.end() && it->second->state != ExecutorRun::State::kTerminated) run = it->second;
  }
  if (run && !(run->info == info)) {
    return RejectTask(fw, task, in_group, "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID");
  }
  if (!run) needed.Add(Res::From(info.resources));
  if (!taken.remaining.Contains(needed)) {
    return RejectTask(fw, task, in_group,
                      "Total resources " + needed.ToString() + " required by task and its executor is more than available " +
                          taken.remaining.ToString());
  }
  taken.remaining.Subtract(needed);
  auto owned = std::make_unique<Task>();
  Task& t = *owned;
  t.info = task;
  t.framework_id = fw.id;
  t.agent_id = taken.agent_id;
  t.executor_id = info.executor_id.value;
  t.resources = Res::From(task.resources);
  t.updates.interval = options_.update_retry_interval;
  tasks_[fw.id + "/" + tid] = std::move(owned);
  fw.task_ids.insert(tid);
  launches_.push_back(LaunchRecord{taken.offer_list, taken.agent_id, tid, t.resources.cpus, t.resources.mem, t.resources.disk,
                                   !run});
  if (agent == nullptr || !agent->alive) {
    v1::TaskStatus s;
    s.task_id = task.task_id;
    s.state = LostState(fw, v1::TaskState::kDropped);
    s.agent_id = task.agent_id;
    s.reason = v1::TaskReason::kAgentRemoved;
    s.message = "Agent is not available";
    tasks_.erase(fw.id + "/" + tid);
    return SendMasterUpdate(fw, s);
  }
  if (!run) {
    auto launched = LaunchExecutor(*agent, fw, info);
    if (!launched.ok()) {
      v1::TaskStatus s;
      s.task_id = task.task_id;
      s.state = v1::TaskState::kFailed;
      s.source = v1::TaskSource::kAgent;
      s.reason = v1::TaskReason::kContainerLaunchFailed;
      s.message = "Failed to launch container: " + launched.error().message;
      return AgentUpdate(t, s);
    }
    run = launched.value();
  }
  DeliverTask(t, *run);
}

// ---- DECLINE, filters, REVIVE, SUPPRESS ----------------------------------------------------

void MesosSim::Impl::Decline(Framework& fw, const std::vector<v1::OfferID>& ids,
                             const std::optional<v1::Filters>& filters) {
  for (const auto& id : ids) {
    auto it = fw.offers.find(id.value);
    if (it == fw.offers.end()) continue;  // unknown offers are ignored
    std::string agent = it->second.offer.agent_id.value;
    std::string role = it->second.offer.allocation_role.value_or(fw.roles().front());
    Res refused = it->second.resources;
    fw.offers.erase(it);
    Refuse(fw, agent, role, std::move(refused), filters);
  }
}

// The filter a DECLINE, or the unused part of an ACCEPT, installs (§5.11): refuse_seconds
// defaults to 5 s (also when negative), 0 installs none, at most 365 days; the filter holds
// for at least one allocation interval.
void MesosSim::Impl::Refuse(Framework& fw, const std::string& agent_id, const std::string& role, Res refused,
                            const std::optional<v1::Filters>& filters) {
  double refuse = filters && filters->refuse_seconds ? *filters->refuse_seconds : 5.0;
  if (refuse < 0 || !std::isfinite(refuse)) refuse = 5.0;
  refuse = std::min(refuse, 365.0 * 86400);
  if (refuse <= 0) return;
  auto hold = std::max(std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(refuse)),
                       std::chrono::duration_cast<SteadyClock::duration>(options_.allocation_interval));
  fw.filters[{agent_id, role}].push_back({std::move(refused), SteadyClock::now() + hold});
}

// §5.6.5/6: all-or-nothing role validation; empty = every role of the framework. REVIVE
// also clears the roles' filters and allocates at once.
void MesosSim::Impl::ReviveOrSuppress(Framework& fw, sched::CallType type, std::vector<std::string> roles) {
  auto mine = fw.roles();
  if (roles.empty()) roles = mine;
  bool valid = std::all_of(roles.begin(), roles.end(),
                           [&](const std::string& r) { return std::find(mine.begin(), mine.end(), r) != mine.end(); });
  if (!valid) return;
  for (const auto& role : roles) {
    if (type == sched::CallType::kRevive) {
      allocate_soon_ = true;
      fw.suppressed_roles.erase(role);
      std::erase_if(fw.filters, [&](const auto& kv) { return kv.first.second == role; });
    } else {
      fw.suppressed_roles.insert(role);
    }
  }
}

// ---- rescinds ------------------------------------------------------------------------------

void MesosSim::Impl::RescindOffer(Framework& fw, const std::string& offer_id, bool send_event) {
  auto it = fw.offers.find(offer_id);
  if (it == fw.offers.end()) return;
  fw.offers.erase(it);
  if (send_event) {
    sched::Event rescind;
    rescind.type = sched::EventType::kRescind;
    rescind.rescind.emplace().offer_id.value = offer_id;
    SendEvent(fw, rescind);
  }
}

// Rescinds the framework's outstanding offers (those `which` selects, when given), with a
// RESCIND event each iff `send_event`.
void MesosSim::Impl::RescindOffers(Framework& fw, bool send_event,
                                   const std::function<bool(const OfferRecord&)>& which) {
  for (auto& [offer_id, offer] : std::map<std::string, OfferRecord>(fw.offers)) {
    if (!which || which(offer)) RescindOffer(fw, offer_id, send_event);
  }
}

// --offer_timeout: an offer held that long is rescinded.
void MesosSim::Impl::ExpireOffers(Time now) {
  if (options_.offer_timeout.count() <= 0) return;
  for (auto& [id, fw] : frameworks_) {
    RescindOffers(*fw, true, [&](const OfferRecord& offer) { return now - offer.created >= options_.offer_timeout; });
  }
}

}  // namespace factorial::sim
