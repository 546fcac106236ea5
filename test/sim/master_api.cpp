// The master's scheduler API (§5): routes, the synchronous checks of every call in the order
// the real master makes them (§5.3, §5.4), SUBSCRIBE and the event stream, and the calls that
// act on tasks and executors. Offers, ACCEPT and DECLINE are in allocation.cpp.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <thread>

#include <spdlog/spdlog.h>

#include "factorial/uuid.hpp"
#include "impl.hpp"

namespace factorial::sim {
namespace {

// Answers 400 for a call that fails validation; returns false.
bool Invalid(httplib::Response& res, const std::string& why) {
  Text(res, 400, "Failed to validate scheduler::Call: " + why);
  return false;
}

// §5.4: the message a call must carry for its type; false once the 400 is answered.
bool ValidCall(const sched::Call& call, httplib::Response& res) {
  using T = sched::CallType;
  if (*call.type == T::kSubscribe) {
    if (!call.subscribe) return Invalid(res, "Expecting 'subscribe' to be present");
    const auto& info_id = call.subscribe->framework_info.id;
    if (call.framework_id.has_value() != info_id.has_value() ||
        (call.framework_id && info_id && call.framework_id->value != info_id->value)) {
      return Invalid(res, "'framework_id' differs from 'subscribe.framework_info.id'");
    }
    return true;
  }
  if (!call.framework_id) return Invalid(res, "Expecting 'framework_id' to be present");
  auto need = [&](bool present, const char* name) {
    return present || Invalid(res, std::string("Expecting '") + name + "' to be present");
  };
  switch (*call.type) {
    case T::kAccept: return need(call.accept.has_value(), "accept");
    case T::kDecline: return need(call.decline.has_value(), "decline");
    case T::kKill: return need(call.kill.has_value(), "kill");
    case T::kShutdown: return need(call.shutdown.has_value(), "shutdown");
    case T::kReconcile: return need(call.reconcile.has_value(), "reconcile");
    case T::kMessage: return need(call.message.has_value(), "message");
    case T::kUpdateFramework: return need(call.update_framework.has_value(), "update_framework");
    case T::kAcknowledge:
      if (!need(call.acknowledge.has_value(), "acknowledge")) return false;
      return IsValidUuidBytes(call.acknowledge->uuid) || Invalid(res, "Not a valid UUID");
    default: return true;
  }
}

// §5.5: FrameworkInfo problems found before the framework is looked up.
std::optional<std::string> FrameworkInfoError(const v1::FrameworkInfo& info) {
  bool multi_role = v1::HasCapability(info, v1::FrameworkCapability::kMultiRole);
  if (!multi_role && !info.roles.empty()) {
    return "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable";
  }
  if (multi_role && info.role) return "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable";
  if (!std::isfinite(info.failover_timeout) || info.failover_timeout < 0 || info.failover_timeout > 9.2e9) {
    return "Invalid 'FrameworkInfo.failover_timeout'";
  }
  return std::nullopt;
}

sched::Event ErrorEvent(const std::string& message) {
  sched::Event error;
  error.type = sched::EventType::kError;
  error.error.emplace().message = message;
  return error;
}

}  // namespace

void MesosSim::Impl::InstallMasterRoutes(httplib::Server& server, int index) {
  for (const char* path : {"/api/v1/scheduler", "/master/api/v1/scheduler"}) {
    PostRoute(server, path, [this, index](const httplib::Request& req, httplib::Response& res) {
      HandleScheduler(index, req, res);
    });
    server.Get(path, NotAllowed);
    server.Put(path, NotAllowed);
    server.Delete(path, NotAllowed);
    server.Patch(path, NotAllowed);
  }
  server.Get("/version", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Date", HttpDate());
    res.set_content(json{{"version", kVersion}, {"build_user", "mesos-sim"}}.dump(), kJson);
  });
  PostRoute(server, R"(/sim/(.*))", [this](const httplib::Request& req, httplib::Response& res) { HandleControl(req, res); });
  server.Get(R"(/sim/(.*))", [this](const httplib::Request& req, httplib::Response& res) { HandleControl(req, res); });
}

// ---- the checks of §5.3 ------------------------------------------------------------------

void MesosSim::Impl::HandleScheduler(int master_index, const httplib::Request& req, httplib::Response& res) {
  Millis delay{0};
  {
    std::lock_guard lock(mu_);
    delay = response_delay_;
  }
  if (delay.count() > 0) std::this_thread::sleep_for(delay);  // fault: slow master

  std::unique_lock lock(mu_);
  if (RedirectToLeader(master_index, req, res)) return;
  if (TakeFailingCall("")) return FailCall(res);  // fault: the next N calls fail
  std::optional<sched::Call> parsed = ReadSchedulerCall(req, res);
  if (!parsed) return;
  const sched::Call& call = *parsed;
  if (TakeFailingCall(sched::Name(*call.type))) return FailCall(res);  // fault: the next N of this type fail
  if (!ValidCall(call, res)) return;
  if (*call.type == sched::CallType::kSubscribe) {
    if (!AcceptsJson(req)) {  // §5.3 step 8
      return Text(res, 406, "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'");
    }
    if (req.has_header("Mesos-Stream-Id")) {  // step 9
      return Text(res, 400, "Subscribe calls should not include the 'Mesos-Stream-Id' header");
    }
    calls_log_.push_back(req.body);
    return Subscribe(call, res);
  }
  Framework* fw = CallersFramework(call, req, res);
  if (fw == nullptr) return;
  calls_log_.push_back(req.body);
  if (*call.type == sched::CallType::kUpdateFramework) return UpdateFramework(*fw, call, res);
  Accepted(res);  // step 19: 202, processing follows
  Dispatch(*fw, call);
}

// §5.3 step 2: a non-leading master redirects to the leader, or answers 503 without one.
bool MesosSim::Impl::RedirectToLeader(int master_index, const httplib::Request& req, httplib::Response& res) {
  if (leader_ == master_index) return false;
  if (leader_ < 0) {
    Text(res, 503, "No leader elected");
    return true;
  }
  res.status = 307;
  res.set_header("Date", HttpDate());
  res.set_header("Location", "//" + options_.hostname + ":" +
                                 std::to_string(master_ports_.at(static_cast<std::size_t>(leader_))) + req.path);
  res.set_header("Content-Length", "0");
  return true;
}

// The fail-calls fault: true (and one fewer to fail) iff the next call of `type` is to fail;
// an empty `type` matches the fault set for any call.
bool MesosSim::Impl::TakeFailingCall(std::string_view type) {
  if (fail_calls_remaining_ <= 0 || fail_calls_type_ != type) return false;
  --fail_calls_remaining_;
  return true;
}

// The fail-calls fault's answer. 400 is what a master says to a call it refuses outright
// (one naming a framework it no longer knows answers "Framework cannot be found", §5.3).
void MesosSim::Impl::FailCall(httplib::Response& res) {
  switch (fail_calls_status_) {
    case 503: return Text(res, 503, "Service Unavailable");
    case 400: return Text(res, 400, "Framework cannot be found");
    default: return Text(res, fail_calls_status_, "Internal Server Error");
  }
}

// §5.3 steps 5-6d and the presence of `type`; nullopt once the error is answered.
std::optional<sched::Call> MesosSim::Impl::ReadSchedulerCall(const httplib::Request& req, httplib::Response& res) {
  std::optional<sched::Call> call = ReadJsonCall(req, res, &v1::ParseSchedulerCall);
  if (call && !call->type) {
    Invalid(res, "Expecting 'type' to be present");
    return std::nullopt;
  }
  return call;
}

// Steps 11-16: the subscribed framework a non-SUBSCRIBE call speaks for, on its current
// stream; nullptr once the error is answered.
Framework* MesosSim::Impl::CallersFramework(const sched::Call& call, const httplib::Request& req,
                                            httplib::Response& res) {
  auto it = frameworks_.find(call.framework_id->value);
  if (it == frameworks_.end() || it->second->removed) {
    Text(res, 400, "Framework cannot be found");
    return nullptr;
  }
  Framework& fw = *it->second;
  if (!fw.connected) {
    Text(res, 403, "Framework is not subscribed");
    return nullptr;
  }
  if (!req.has_header("Mesos-Stream-Id")) {
    Text(res, 400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header");
    return nullptr;
  }
  std::string stream_id = req.get_header_value("Mesos-Stream-Id");
  if (stream_id != fw.stream_id) {
    Text(res, 400, "The stream ID '" + stream_id +
                       "' included in this request didn't match the stream ID currently associated with framework ID " +
                       fw.id);
    return nullptr;
  }
  return &fw;
}

// §5.6.15, the only call answered 200.
void MesosSim::Impl::UpdateFramework(Framework& fw, const sched::Call& call, httplib::Response& res) {
  const auto& next = call.update_framework->framework_info;
  if (!next.id || next.id->value != fw.id) {
    Invalid(res, "'framework_id' differs from 'update_framework.framework_info.id'");
    return;
  }
  if (next.principal != fw.info.principal || next.user != fw.info.user || next.checkpoint != fw.info.checkpoint) {
    return Text(res, 400, "FrameworkInfo update is not valid: principal, user and checkpoint cannot change");
  }
  fw.info = next;
  res.status = 200;
  res.set_header("Date", HttpDate());
  res.set_header("Content-Length", "0");
}

// A call answered 202, processed as the master does after answering.
void MesosSim::Impl::Dispatch(Framework& fw, const sched::Call& call) {
  using T = sched::CallType;
  switch (*call.type) {
    case T::kTeardown: return Teardown(fw);
    case T::kAccept: return Accept(fw, *call.accept);
    case T::kDecline: return Decline(fw, call.decline->offer_ids, call.decline->filters);
    case T::kRevive: return ReviveOrSuppress(fw, T::kRevive, call.revive ? call.revive->roles : std::vector<std::string>{});
    case T::kSuppress:
      return ReviveOrSuppress(fw, T::kSuppress, call.suppress ? call.suppress->roles : std::vector<std::string>{});
    case T::kKill: return Kill(fw, *call.kill);
    case T::kShutdown: return ShutdownExecutorCall(fw, *call.shutdown);
    case T::kAcknowledge: return Acknowledge(fw, *call.acknowledge);
    case T::kReconcile: return Reconcile(fw, *call.reconcile);
    case T::kMessage: return MessageToExecutor(fw, *call.message);
    default: return;  // REQUEST and inverse-offer calls: accepted and ignored, as upstream
  }
}

// ---- SUBSCRIBE and the event stream (§5.5, §5.8) -------------------------------------------

void MesosSim::Impl::Subscribe(const sched::Call& call, httplib::Response& res) {
  auto stream = std::make_shared<Stream>();
  std::string stream_id = RandomIdText();
  auto error_and_close = [&](const std::string& message) {
    // §5.5: FrameworkInfo problems are 200 + one ERROR event + end of stream.
    stream->PushRecord(v1::Serialize(ErrorEvent(message)));
    stream->Close();
    ServeStream(res, stream, [] {}, stream_id);
  };
  if (auto error = FrameworkInfoError(call.subscribe->framework_info)) return error_and_close(*error);
  Result<Framework*> adopted = AdoptFramework(call.subscribe->framework_info);
  if (!adopted.ok()) return error_and_close(adopted.error().message);
  Framework* fw = adopted.value();
  fw->info.id = v1::FrameworkID{fw->id};
  fw->stream = stream;
  fw->stream_id = stream_id;
  fw->connected = true;
  fw->failover_deadline.reset();
  fw->suppressed_roles.clear();
  for (const auto& role : call.subscribe->suppressed_roles) fw->suppressed_roles.insert(role);
  SendSubscribed(*fw, *stream);
  fw->next_heartbeat = SteadyClock::now() + options_.heartbeat_interval;
  allocate_soon_ = true;

  // Agents resend pending unacknowledged updates when the framework (re)subscribes (§5.5).
  for (auto& [key, task] : tasks_) {
    if (task->framework_id == fw->id && !task->updates.pending.empty()) ForwardHead(*task, SteadyClock::now());
  }
  std::string id = fw->id;
  ServeStream(res, stream, [this, id, stream] {
    std::lock_guard lock(mu_);
    auto it = frameworks_.find(id);
    if (it != frameworks_.end() && it->second->stream == stream) DisconnectFramework(*it->second);
  }, stream_id);
  spdlog::info("mesos-sim: framework {} ({}) subscribed", fw->id, fw->info.name);
}

// The framework `info` names, failed over to the new subscription; or a new one. An error
// for a framework that was removed or whose principal changes.
Result<Framework*> MesosSim::Impl::AdoptFramework(v1::FrameworkInfo info) {
  if (info.id) {
    if (completed_frameworks_.contains(info.id->value)) {
      return MakeError(Errc::kInvalidArgument, "Framework has been removed");
    }
    auto it = frameworks_.find(info.id->value);
    if (it != frameworks_.end()) {
      Framework* fw = it->second.get();
      if (info.principal != fw->info.principal) {
        return MakeError(Errc::kInvalidArgument, "Changing framework's principal is not allowed.");
      }
      // §5.5 failover: the old stream gets ERROR then EOF; offers vanish without RESCIND.
      if (fw->stream) {
        fw->stream->PushRecord(v1::Serialize(ErrorEvent("Framework failed over")));
        fw->stream->Close();
      }
      RescindOffers(*fw, false);
      // user and checkpoint changes are silently ignored on resubscription.
      info.user = fw->info.user;
      info.checkpoint = fw->info.checkpoint;
      fw->info = info;
      return fw;
    }
  }
  auto created = std::make_unique<Framework>();
  if (info.id) {
    created->id = info.id->value;  // unknown but valid: re-created (master failover case)
  } else {
    char suffix[8];
    std::snprintf(suffix, sizeof suffix, "%04d", framework_counter_++);
    created->id = master_id_ + "-" + suffix;
  }
  info.id = v1::FrameworkID{created->id};
  created->info = info;
  Framework* fw = created.get();
  frameworks_[fw->id] = std::move(created);
  return fw;
}

// SUBSCRIBED, then the first HEARTBEAT at once (§5.8).
void MesosSim::Impl::SendSubscribed(Framework& fw, Stream& stream) {
  sched::Event subscribed;
  subscribed.type = sched::EventType::kSubscribed;
  auto& s = subscribed.subscribed.emplace();
  s.framework_id.value = fw.id;
  s.heartbeat_interval_seconds = static_cast<double>(options_.heartbeat_interval.count()) / 1000.0;
  auto& m = s.master_info.emplace();
  m.id = master_id_;
  m.ip = 16777343;  // 127.0.0.1 packed as the real master does (§4.13)
  m.port = static_cast<std::uint32_t>(master_ports_.at(static_cast<std::size_t>(leader_)));
  m.pid = "master@" + options_.ip + ":" + std::to_string(m.port);
  m.hostname = options_.hostname;
  m.version = kVersion;
  m.address = v1::Address{options_.hostname, options_.ip, static_cast<std::int32_t>(m.port)};
  m.capabilities = {"AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"};
  stream.PushRecord(v1::Serialize(subscribed));
  sched::Event heartbeat;
  heartbeat.type = sched::EventType::kHeartbeat;
  stream.PushRecord(v1::Serialize(heartbeat));
}

void MesosSim::Impl::SendEvent(Framework& fw, const sched::Event& event) {
  if (fw.connected && fw.stream) fw.stream->PushRecord(v1::Serialize(event));
}

// Master-generated updates carry no uuid and are never retried (§5.9).
void MesosSim::Impl::SendMasterUpdate(Framework& fw, v1::TaskStatus status) {
  status.source = v1::TaskSource::kMaster;
  status.timestamp = WallNow();
  status.uuid.reset();
  sched::Event event;
  event.type = sched::EventType::kUpdate;
  event.update.emplace().status = std::move(status);
  SendEvent(fw, event);
}

// §5.8: a broken stream disconnects the framework; failover_timeout later it is removed.
void MesosSim::Impl::DisconnectFramework(Framework& fw) {
  if (!fw.connected) return;
  fw.connected = false;
  fw.stream.reset();
  fw.stream_id.clear();
  RescindOffers(fw, false);
  fw.failover_deadline = SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                                  std::chrono::duration<double>(fw.info.failover_timeout));
  spdlog::info("mesos-sim: framework {} disconnected; failover timeout {}s", fw.id, fw.info.failover_timeout);
}

// §5.6.1: executors shut down, framework completed (ID dead), stream ends with plain EOF.
void MesosSim::Impl::Teardown(Framework& fw) {
  spdlog::info("mesos-sim: tearing down framework {}", fw.id);
  if (fw.stream) fw.stream->Close();
  RemoveFramework(fw);
}

void MesosSim::Impl::RemoveFramework(Framework& fw) {
  fw.connected = false;
  fw.stream.reset();
  fw.removed = true;
  completed_frameworks_.insert(fw.id);
  RescindOffers(fw, false);
  Time now = SteadyClock::now();
  for (auto& agent : agents_) {
    for (auto& [key, run] : agent->executors) {
      if (key.first == fw.id) ShutdownExecutor(*run, now);
    }
  }
  std::erase_if(tasks_, [&](const auto& kv) { return kv.second->framework_id == fw.id; });
  std::string id = fw.id;
  frameworks_.erase(id);
}

// ---- calls on tasks and executors ----------------------------------------------------------

// §5.6.7
void MesosSim::Impl::Kill(Framework& fw, const sched::Call::Kill& kill) {
  auto it = tasks_.find(fw.id + "/" + kill.task_id.value);
  if (it == tasks_.end()) {
    sched::Call::Reconcile r;
    r.tasks.push_back({kill.task_id, kill.agent_id});
    Reconcile(fw, r);  // unknown task: answered like an explicit reconciliation
    return;
  }
  Task& task = *it->second;
  if (kill.agent_id && kill.agent_id->value != task.agent_id) return;  // silently ignored
  Agent* agent = FindAgent(task.agent_id);
  if (agent == nullptr || !agent->alive) return;
  auto run = agent->executors.find({fw.id, task.executor_id});
  if (!task.delivered) {
    if (run != agent->executors.end()) std::erase(run->second->queued, task.info.task_id.value);
    v1::TaskStatus s;
    s.task_id = task.info.task_id;
    s.state = v1::TaskState::kKilled;
    s.source = v1::TaskSource::kAgent;
    s.reason = v1::TaskReason::kTaskKilledDuringLaunch;
    s.message = "Killed before delivery to the executor";
    s.executor_id = v1::ExecutorID{task.executor_id};
    AgentUpdate(task, s);
    return;
  }
  if (run == agent->executors.end() || !run->second->stream) return;  // retried by the scheduler
  exec::Event event;
  event.type = exec::EventType::kKill;
  event.kill.emplace().task_id = task.info.task_id;
  event.kill->kill_policy = kill.kill_policy;
  SendExecutorEvent(*run->second, event);
}

// §5.9: an ACK must match the head of the task's queue; the terminal ACK forgets the task.
void MesosSim::Impl::Acknowledge(Framework& fw, const sched::Call::Acknowledge& ack) {
  auto it = tasks_.find(fw.id + "/" + ack.task_id.value);
  if (it == tasks_.end()) return;
  Task& task = *it->second;
  if (ack.agent_id.value != task.agent_id) return;
  auto& q = task.updates;
  if (q.pending.empty() || q.pending.front().uuid != ack.uuid) {
    spdlog::debug("mesos-sim: ignoring ACKNOWLEDGE for {} that is not the head", ack.task_id.value);
    return;
  }
  bool terminal = v1::IsTerminal(q.pending.front().state);
  q.pending.pop_front();
  q.interval = options_.update_retry_interval;
  if (terminal && q.pending.empty()) {
    fw.task_ids.erase(ack.task_id.value);
    tasks_.erase(it);
    return;
  }
  if (!q.pending.empty()) ForwardHead(task, SteadyClock::now());
}

// §5.10, six cases; answers carry no uuid.
void MesosSim::Impl::Reconcile(Framework& fw, const sched::Call::Reconcile& reconcile) {
  auto latest = [&](const Task& task) {
    v1::TaskStatus s;
    s.task_id = task.info.task_id;
    s.state = task.state;
    s.agent_id = v1::AgentID{task.agent_id};
    s.executor_id = v1::ExecutorID{task.executor_id};
    s.reason = v1::TaskReason::kReconciliation;
    s.message = "Reconciliation: Latest task state";
    SendMasterUpdate(fw, s);
  };
  if (reconcile.tasks.empty()) {
    for (const auto& [key, task] : tasks_) {
      if (task->framework_id == fw.id) latest(*task);
    }
    return;
  }
  for (const auto& t : reconcile.tasks) {
    auto it = tasks_.find(fw.id + "/" + t.task_id.value);
    if (it != tasks_.end()) {
      latest(*it->second);
      continue;
    }
    v1::TaskStatus s;
    s.task_id = t.task_id;
    s.agent_id = t.agent_id;
    s.reason = v1::TaskReason::kReconciliation;
    Agent* agent = t.agent_id ? FindAgent(t.agent_id->value) : nullptr;
    if (agent != nullptr && agent->alive) {
      s.state = LostState(fw, v1::TaskState::kGone);
      s.message = "Reconciliation: Task is unknown to the agent";
    } else if (agent != nullptr) {
      s.state = LostState(fw, v1::TaskState::kUnreachable);
      s.message = "Reconciliation: Task is unreachable";
    } else {
      s.state = LostState(fw, v1::TaskState::kUnknownState);
      s.message = "Reconciliation: Task is unknown";
    }
    SendMasterUpdate(fw, s);
  }
}

// §5.6.8
void MesosSim::Impl::ShutdownExecutorCall(Framework& fw, const sched::Call::Shutdown& shutdown) {
  Agent* agent = FindAgent(shutdown.agent_id.value);
  if (agent == nullptr || !agent->alive) return;
  auto it = agent->executors.find({fw.id, shutdown.executor_id.value});
  if (it != agent->executors.end()) ShutdownExecutor(*it->second, SteadyClock::now());
}

// §5.6.13: the data reaches the executor as a MESSAGE event, best effort.
void MesosSim::Impl::MessageToExecutor(Framework& fw, const sched::Call::Message& message) {
  Agent* agent = FindAgent(message.agent_id.value);
  if (agent == nullptr || !agent->alive) return;
  auto run = agent->executors.find({fw.id, message.executor_id.value});
  if (run == agent->executors.end() || !run->second->stream) return;
  exec::Event event;
  event.type = exec::EventType::kMessage;
  event.message.emplace().data = message.data;
  SendExecutorEvent(*run->second, event);
}

}  // namespace factorial::sim
