#include "executor.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "factorial/uuid.hpp"

namespace factorial::executor {
namespace {

using v1::TaskReason;
using v1::TaskState;
namespace ev = v1::executor;

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

MesosConnection::Options ConnectionOptions(const ExecutorEnv& env, std::uint64_t seed) {
  MesosConnection::Options options;
  options.path = "/api/v1/executor";
  options.peer = "agent";
  if (env.auth_token) options.headers.Add("Authorization", "Bearer " + *env.auth_token);
  options.max_redirects = 0;                   // agents do not redirect
  options.give_up_on_client_error = false;     // retried until the recovery timeout
  options.drop_stream_on_bad_event = true;     // like the reference library
  options.heartbeat_factor = 0;                // the agent's absence shows as a broken stream
  // The reference library waits uniformly in [0, MESOS_SUBSCRIPTION_BACKOFF_MAX].
  options.backoff_initial = env.subscription_backoff_max;
  options.backoff_max = env.subscription_backoff_max;
  options.seed = seed;
  return options;
}

}  // namespace

Executor::Executor(EventLoop& loop, ComputeRunner& runner, ExecutorEnv env,
                   std::function<void(int)> on_exit, std::uint64_t seed)
    : loop_(loop),
      runner_(runner),
      env_(std::move(env)),
      on_exit_(std::move(on_exit)),
      connection_(loop, std::make_unique<MasterList>(std::vector<std::string>{"http://" + env_.agent_endpoint}),
                  ConnectionOptions(env_, seed),
                  {.subscribe_body = [this] { return SubscribeBody(); },
                   .connected = {},
                   .record = ParseEvents<ev::Event>(&v1::ParseExecutorEvent,
                                                    [this](const ev::Event& event) { HandleEvent(event); }),
                   .disconnected = [this](const MesosConnection::Disconnection& lost) { OnDisconnected(lost.reason); }}),
      progress_(loop, [this] { return RunningProgress(); },
                [this](std::string data) { return SendMessage(std::move(data)); }) {}

void Executor::Start() {
  spdlog::info("executor {} of framework {} starting; agent {}, checkpoint {}", env_.executor_id,
               env_.framework_id, env_.agent_endpoint, env_.checkpoint);
  connection_.Start();
}

std::vector<std::string> Executor::unacknowledged_task_ids() const {
  std::vector<std::string> ids;
  for (const auto& [id, task] : tasks_) {
    if (!task.acknowledged) ids.push_back(id);
  }
  return ids;
}

std::string Executor::SubscribeBody() const {
  ev::Call call;
  call.executor_id.value = env_.executor_id;
  call.framework_id.value = env_.framework_id;
  call.type = ev::CallType::kSubscribe;
  auto& subscribe = call.subscribe.emplace();
  for (const auto& [id, task] : tasks_) {
    if (!task.acknowledged) subscribe.unacknowledged_tasks.push_back(task.info);
  }
  for (const auto& [uuid, update] : unacked_updates_) subscribe.unacknowledged_updates.push_back(update);
  spdlog::debug("subscribing with {} unacknowledged tasks and {} unacknowledged updates",
                subscribe.unacknowledged_tasks.size(), subscribe.unacknowledged_updates.size());
  return v1::Serialize(call);
}

void Executor::OnDisconnected(const std::string& reason) {
  if (state_ == State::kShuttingDown) {
    // No acknowledgements can arrive any more; the grace timer still bounds the wait.
    spdlog::warn("lost the agent while shutting down: {}", reason);
    Exit(0);
    return;
  }
  state_ = State::kDisconnected;
  if (!env_.checkpoint) {
    spdlog::error("lost the agent ({}); framework does not checkpoint, shutting down", reason);
    for (auto& [id, task] : tasks_) {
      if (task.phase == Phase::kRunning) task.run->Kill();  // OnTaskDone follows
    }
    Exit(1);
    return;
  }
  if (!recovery_timer_) {
    spdlog::warn("lost the agent ({}); retrying for up to {}", reason,
                 FormatMesosDuration(env_.recovery_timeout));
    recovery_timer_ = loop_.After(env_.recovery_timeout, [this] {
      recovery_timer_.reset();
      spdlog::error("agent did not come back within the recovery timeout; exiting");
      for (auto& [id, task] : tasks_) {
        if (task.phase == Phase::kRunning) task.run->Kill();  // OnTaskDone follows
      }
      Exit(1);
    });
  } else {
    spdlog::info("subscription attempt failed: {}", reason);
  }
  // The connection subscribes again after its backoff delay.
}

void Executor::HandleEvent(const ev::Event& event) {
  switch (event.type) {
    case ev::EventType::kSubscribed:
      state_ = State::kSubscribed;
      if (recovery_timer_) {
        loop_.CancelTimer(*recovery_timer_);
        recovery_timer_.reset();
      }
      spdlog::info("subscribed to agent {}",
                   event.subscribed && event.subscribed->agent_info.id
                       ? event.subscribed->agent_info.id->value
                       : std::string("?"));
      if (event.subscribed) {
        const v1::AgentInfo& agent = event.subscribed->agent_info;
        agent_ = "agent " + agent.hostname + (agent.id ? " (" + agent.id->value + ")" : std::string());
      }
      StartQueued();
      break;
    case ev::EventType::kLaunch:
      if (event.launch) OnLaunch(event.launch->task);
      break;
    case ev::EventType::kLaunchGroup:
      if (event.launch_group) {
        for (const auto& task : event.launch_group->tasks) OnLaunch(task);
      }
      break;
    case ev::EventType::kKill:
      if (event.kill) OnKill(event.kill->task_id);
      break;
    case ev::EventType::kAcknowledged:
      if (event.acknowledged) OnAcknowledged(event.acknowledged->task_id, event.acknowledged->uuid);
      break;
    case ev::EventType::kMessage:
      OnMessage(event.message ? event.message->data : std::string());
      break;
    case ev::EventType::kShutdown:
      Shutdown("the agent sent SHUTDOWN");
      break;
    case ev::EventType::kError:
      spdlog::error("ERROR event from the agent: {}", event.error ? event.error->message : "");
      break;
    case ev::EventType::kHeartbeat:
      break;
    case ev::EventType::kUnknown:
      spdlog::debug("ignoring an event of unknown type");
      break;
  }
}

void Executor::OnLaunch(const v1::TaskInfo& info) {
  const std::string& id = info.task_id.value;
  if (auto it = tasks_.find(id); it != tasks_.end()) {
    spdlog::warn("task {} launched twice; ignoring the duplicate", id);
    return;
  }
  if (state_ == State::kShuttingDown) return;
  Task& task = tasks_.emplace(id, Task{}).first->second;
  task.info = info;
  auto input = ReadTaskInput(info, env_.max_n);
  if (!input.ok()) {
    task.phase = Phase::kFinished;
    SendUpdate(task, TaskState::kFailed, input.error().message, TaskReason::kTaskInvalid, std::nullopt);
    return;
  }
  task.input = std::move(input).value();
  // The Mesos UI shows an update's message beside the task's state.
  std::size_t count = task.input.numbers.size();
  task.numbers = count;
  SendUpdate(task, TaskState::kRunning, "0 of " + std::to_string(count) + (count == 1 ? " number" : " numbers"),
             std::nullopt, std::nullopt);
  queue_.push_back(id);
  StartQueued();
}

std::size_t Executor::Slots() const {
  double cpus = 0;
  for (const auto& [id, task] : tasks_) {
    if (task.phase != Phase::kFinished) cpus += task.input.cpus;
  }
  // Rounded, as a task's lanes are: an agent of 2 cpus offers 1.9 beside the executor's 0.1,
  // and a task of 1 and one of 0.9 must run side by side, not one after the other.
  return static_cast<std::size_t>(TaskLanes(cpus));
}

void Executor::StartQueued() {
  if (state_ == State::kShuttingDown || state_ == State::kExited) return;
  while (!queue_.empty() && running_ < Slots()) {
    std::string id = queue_.front();
    queue_.pop_front();
    Task& task = tasks_.at(id);
    task.phase = Phase::kRunning;
    ++running_;
    StartRun(id, task);
  }
}

void Executor::StartRun(const std::string& id, Task& task) {
  BatchSpec spec;
  spec.task_id = id;
  spec.numbers = std::move(task.input.numbers);
  task.input.numbers = {};
  spec.lanes = TaskLanes(task.input.cpus);
  spec.memory_bytes = task.input.memory_bytes;
  spec.inline_limit = task.input.inline_limit.value_or(env_.inline_limit);
  spec.sandbox = env_.sandbox;
  spec.agent_sandbox = env_.agent_sandbox;
  if (env_.part_bytes) spec.part_bytes = *env_.part_bytes;
  task.run = std::make_unique<BatchRun>(loop_, runner_, std::move(spec),
                                        [this, id](BatchOutcome outcome) { OnTaskDone(id, std::move(outcome)); });
  task.run->set_on_parts([this, id](std::vector<ResultFile> files, std::uint64_t computed) {
    OnParts(id, std::move(files), computed);
  });
  task.run->Start();
  progress_.Watch();
}

void Executor::OnTaskDone(const std::string& id, BatchOutcome outcome) {
  if (running_ > 0) --running_;
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return;
  Task& task = it->second;
  task.phase = Phase::kFinished;
  if (!task.terminal_sent) {
    switch (outcome.kind) {
      case BatchOutcome::Kind::kFinished: {
        std::string data = WithParts(task, std::move(outcome.data));
        auto files = DecodeResultList(data, 0);
        std::string uuid =
            SendUpdate(task, TaskState::kFinished, std::move(outcome.message), std::nullopt, std::move(data));
        if (files.ok()) KeepFilesUntilAcknowledged(uuid, files.value().files);
        break;
      }
      case BatchOutcome::Kind::kKilled:
        SendUpdate(task, TaskState::kKilled, std::move(outcome.message), std::nullopt, std::nullopt);
        break;
      case BatchOutcome::Kind::kFailed:
        if (outcome.storage) {
          // The agent's disk, not the numbers: named so the scheduler moves them elsewhere,
          // with the reason the disk isolator gives a task that outgrows its disk.
          // Files are named relative to the sandbox: its path is long, and the agent's to read.
          std::string agent = agent_.empty() ? "agent at " + env_.agent_endpoint : agent_;
          std::string message = outcome.message;
          for (auto at = message.find(env_.sandbox + "/"); !env_.sandbox.empty() && at != std::string::npos;
               at = message.find(env_.sandbox + "/")) {
            message.erase(at, env_.sandbox.size() + 1);
          }
          SendUpdate(task, TaskState::kFailed, agent + ": disk error in its sandbox: " + message,
                     TaskReason::kContainerLimitationDisk, std::nullopt);
          break;
        }
        SendUpdate(task, TaskState::kFailed, std::move(outcome.message), std::nullopt, std::nullopt);
        break;
    }
  }
  RemoveFiles(task.parts);  // never announced: a killed or failed batch's, or after SHUTDOWN
  task.parts.clear();
  // The run called us: free it once it has returned.
  loop_.Post([this, id] {
    if (auto t = tasks_.find(id); t != tasks_.end()) t->second.run.reset();
  });
  StartQueued();
  MaybeFinishShutdown();
}

void Executor::OnMessage(const std::string& data) {
  auto fetched = DecodeFetchedNotice(data);
  if (!fetched.ok()) {
    spdlog::info("message from the framework ({} bytes)", data.size());
    return;
  }
  // The scheduler has what these updates named, safely: their files go, and the next parts
  // may be announced.
  for (const auto& uuid : fetched.value()) {
    if (auto files = files_of_update_.extract(uuid); !files.empty()) RemoveFiles(files.mapped());
    for (auto& [id, task] : tasks_) {
      if (task.announcing == uuid) AnnouncementDone(task);
    }
  }
}

void Executor::AnnouncementDone(Task& task) {
  task.announcing.reset();
  AnnounceParts(task);
}

void Executor::OnParts(const std::string& id, std::vector<ResultFile> files, std::uint64_t computed) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) {
    RemoveFiles(files);
    return;
  }
  Task& task = it->second;
  task.computed = computed;
  for (auto& file : files) task.parts.push_back(std::move(file));
  AnnounceParts(task);
}

void Executor::AnnounceParts(Task& task) {
  if (task.parts.empty() || task.announcing || task.terminal_sent) return;
  if (state_ == State::kShuttingDown || state_ == State::kExited) return;
  ResultList list;
  list.files = std::move(task.parts);
  task.parts.clear();
  // The Mesos UI shows the message beside the task's state.
  std::string message = std::to_string(task.computed) + " of " + std::to_string(task.numbers) +
                        (task.numbers == 1 ? " number" : " numbers");
  std::string uuid = SendUpdate(task, TaskState::kRunning, std::move(message), std::nullopt, EncodeResultList(list));
  task.announcing = uuid;
  KeepFilesUntilAcknowledged(uuid, list.files);
  // Should the scheduler's notice be lost (messages are not retried), announce again anyway.
  loop_.After(kNoticeWait, [this, id = task.info.task_id.value, uuid] {
    auto it = tasks_.find(id);
    if (it != tasks_.end() && it->second.announcing == uuid) AnnouncementDone(it->second);
  });
}

std::string Executor::WithParts(Task& task, std::string data) {
  if (task.parts.empty()) return data;
  auto list = DecodeResultList(data, 0);
  if (!list.ok()) return data;  // cannot happen: the run encoded it; the parts are removed
  for (auto& file : task.parts) list.value().files.push_back(std::move(file));
  task.parts.clear();
  return EncodeResultList(list.value());
}

void Executor::KeepFilesUntilAcknowledged(const std::string& uuid, const std::vector<ResultFile>& files) {
  if (!files.empty()) files_of_update_[uuid] = files;
}

std::string Executor::LocalPath(const std::string& agent_path) const {
  if (agent_path.starts_with(env_.agent_sandbox)) return env_.sandbox + agent_path.substr(env_.agent_sandbox.size());
  return agent_path;
}

void Executor::RemoveFiles(const std::vector<ResultFile>& files) const {
  for (const auto& file : files) ::unlink(LocalPath(file.path).c_str());
}

void Executor::OnKill(const v1::TaskID& task_id) {
  auto it = tasks_.find(task_id.value);
  if (it == tasks_.end() || it->second.terminal_sent) {
    spdlog::info("KILL for {} which is not running; nothing to do", task_id.value);
    return;
  }
  Task& task = it->second;
  if (task.phase == Phase::kQueued) {
    std::erase(queue_, task_id.value);
    task.phase = Phase::kFinished;
    SendUpdate(task, TaskState::kKilled, "killed before it started", std::nullopt, std::nullopt);
  } else if (task.phase == Phase::kRunning) {
    task.run->Kill();  // OnTaskDone reports TASK_KILLED
  }
}

void Executor::OnAcknowledged(const v1::TaskID& task_id, const std::string& uuid) {
  auto it = std::find_if(unacked_updates_.begin(), unacked_updates_.end(),
                         [&](const auto& entry) { return entry.first == uuid; });
  if (it == unacked_updates_.end()) {
    spdlog::debug("ACKNOWLEDGED for an unknown update of {}", task_id.value);
    return;
  }
  unacked_updates_.erase(it);
  if (auto t = tasks_.find(task_id.value); t != tasks_.end()) {
    t->second.acknowledged = true;
    if (t->second.terminal_sent && t->second.terminal_uuid == uuid) tasks_.erase(t);
  }
  MaybeFinishShutdown();
}

std::string Executor::SendUpdate(Task& task, TaskState state, std::optional<std::string> message,
                          std::optional<TaskReason> reason, std::optional<std::string> data) {
  ev::Call::Update update;
  v1::TaskStatus& status = update.status;
  status.task_id = task.info.task_id;
  status.state = state;
  status.message = std::move(message);
  status.source = v1::TaskSource::kExecutor;
  status.reason = reason;
  status.data = std::move(data);
  status.executor_id = v1::ExecutorID{env_.executor_id};
  status.timestamp = WallSeconds();
  status.uuid = RandomUuidBytes();
  if (v1::IsTerminal(state)) {
    task.terminal_sent = true;
    task.terminal_uuid = *status.uuid;
  }
  std::string uuid = *status.uuid;
  unacked_updates_.emplace_back(uuid, std::move(update));
  PostUpdate(uuid);
  return uuid;
}

void Executor::PostUpdate(const std::string& uuid) {
  if (state_ != State::kSubscribed && state_ != State::kShuttingDown) return;  // resent on SUBSCRIBE
  auto it = std::find_if(unacked_updates_.begin(), unacked_updates_.end(),
                         [&](const auto& entry) { return entry.first == uuid; });
  if (it == unacked_updates_.end()) return;
  ev::Call call;
  call.executor_id.value = env_.executor_id;
  call.framework_id.value = env_.framework_id;
  call.type = ev::CallType::kUpdate;
  call.update = it->second;
  connection_.Send(v1::Serialize(call), [this, uuid](Result<HttpResponse> result) {
    if (result.ok() && result.value().status == 202) return;
    std::string why = result.ok() ? std::to_string(result.value().status) + " " + result.value().body
                                  : result.error().message;
    spdlog::warn("UPDATE was not accepted ({}); retrying", why);
    loop_.After(std::chrono::seconds(1), [this, uuid] { PostUpdate(uuid); });
  });
}

std::vector<TaskProgressReport> Executor::RunningProgress() {
  std::vector<TaskProgressReport> reports;
  for (auto& [id, task] : tasks_) {
    if (task.phase != Phase::kRunning || task.terminal_sent || !task.run) continue;
    BatchProgress progress = task.run->Progress();
    reports.push_back({id, progress.numbers, progress.work});
  }
  return reports;
}

bool Executor::SendMessage(std::string data) {
  if (state_ != State::kSubscribed) return false;
  ev::Call call;
  call.executor_id.value = env_.executor_id;
  call.framework_id.value = env_.framework_id;
  call.type = ev::CallType::kMessage;
  call.message.emplace().data = std::move(data);
  // Not sent again: the next report supersedes this one.
  connection_.Send(v1::Serialize(call), [](Result<HttpResponse> result) {
    if (result.ok() && result.value().status == 202) return;
    spdlog::debug("MESSAGE was not accepted ({})", result.ok() ? std::to_string(result.value().status)
                                                               : result.error().message);
  });
  return true;
}

void Executor::Shutdown(const std::string& why) {
  if (state_ == State::kShuttingDown || state_ == State::kExited) return;
  spdlog::info("shutting down: {}", why);
  bool connected = state_ == State::kSubscribed;
  state_ = State::kShuttingDown;
  queue_.clear();
  for (auto& [id, task] : tasks_) {
    if (task.terminal_sent) continue;
    bool running = task.phase == Phase::kRunning;
    // Record the terminal update before killing, so the runner's report cannot send another.
    SendUpdate(task, TaskState::kKilled, "executor shutting down: " + why, std::nullopt, std::nullopt);
    if (running) {
      task.run->Kill();  // OnTaskDone follows
    } else {
      task.phase = Phase::kFinished;
    }
  }
  if (!connected) {
    Exit(0);
    return;
  }
  grace_timer_ = loop_.After(env_.shutdown_grace_period, [this] {
    grace_timer_.reset();
    spdlog::warn("grace period over with {} update(s) unacknowledged", unacked_updates_.size());
    for (const auto& [uuid, update] : unacked_updates_) {
      spdlog::debug("unacknowledged: {} {}", update.status.task_id.value, v1::Name(update.status.state));
    }
    Exit(0);
  });
  MaybeFinishShutdown();
}

void Executor::MaybeFinishShutdown() {
  if (state_ == State::kShuttingDown && unacked_updates_.empty() && running_ == 0) Exit(0);
}

void Executor::Exit(int code) {
  if (state_ == State::kExited) return;
  state_ = State::kExited;
  // Nobody acknowledges any more: the sandbox keeps no result files.
  for (const auto& [uuid, files] : files_of_update_) RemoveFiles(files);
  files_of_update_.clear();
  for (auto& [id, task] : tasks_) RemoveFiles(task.parts);
  if (grace_timer_) loop_.CancelTimer(*grace_timer_);
  if (recovery_timer_) loop_.CancelTimer(*recovery_timer_);
  progress_.Stop();
  connection_.Stop();
  on_exit_(code);
}

}  // namespace factorial::executor
