#include "scheduler.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "factorial/sha256.hpp"
#include "factorial/sizing.hpp"
#include "state_store.hpp"

namespace factorial::scheduler {
namespace {

namespace ev = v1::scheduler;
using v1::TaskState;


bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

MesosConnection::Options ConnectionOptions(const SchedulerConfig& config) {
  MesosConnection::Options options;
  options.path = "/api/v1/scheduler";
  options.peer = "master";
  options.basic_auth = config.credential;
  options.tls = config.tls;
  options.heartbeat_factor = config.heartbeat_factor;
  options.backoff_initial = config.backoff_initial;
  options.backoff_max = config.backoff_max;
  options.seed = config.seed;
  options.subscribe_deadline = config.connect_timeout;
  return options;
}

}  // namespace

double TaskMemoryMb(std::uint64_t n) {
  return std::ceil(static_cast<double>(FactorialMemoryBytes(n)) / 1048576.0);
}

Scheduler::Scheduler(EventLoop& loop, SchedulerConfig config, std::vector<std::uint64_t> numbers,
                     ResultCallback on_result, ExitCallback on_exit)
    : loop_(loop),
      config_(std::move(config)),
      on_result_(std::move(on_result)),
      on_exit_(std::move(on_exit)),
      connection_(loop, std::make_unique<MasterList>(config_.masters), ConnectionOptions(config_),
                  {.subscribe_body = [this] { return SubscribeBody(); },
                   .connected = {},
                   .record = ParseEvents<ev::Event>(&v1::ParseSchedulerEvent,
                                                    [this](const ev::Event& event) { HandleEvent(event); }),
                   .disconnected = [this](const MesosConnection::Disconnection& lost) { Disconnected(lost); }}) {
  for (std::uint64_t n : numbers) {
    if (jobs_.contains(n)) continue;  // duplicates are computed once
    Job job;
    job.n = n;
    job.mem = TaskMemoryMb(n);
    jobs_[n] = job;
    pending_.insert(n);
  }
}

void Scheduler::SetState(Job& job, JobState state) {
  auto final_state = [](JobState s) { return s == JobState::kDone || s == JobState::kFailed; };
  if (job.state == JobState::kPending) pending_.erase(job.n);
  if (final_state(job.state)) --final_jobs_;
  job.state = state;
  if (state == JobState::kPending) pending_.insert(job.n);
  if (final_state(state)) ++final_jobs_;
}

Scheduler::~Scheduler() { CancelTimers(); }

Scheduler::Progress Scheduler::progress() const {
  Progress p;
  for (const auto& [n, job] : jobs_) {
    switch (job.state) {
      case JobState::kPending: ++p.pending; break;
      case JobState::kLaunched: ++p.running; break;
      case JobState::kDone: ++p.done; break;
      case JobState::kFailed: ++p.failed; break;
    }
  }
  return p;
}

void Scheduler::Start() {
  TimePoint now = loop_.Now();
  for (auto& [n, job] : jobs_) job.pending_since = now;
  if (config_.store != nullptr) {
    framework_id_ = config_.store->framework_id();
    restarted_ = framework_id_.has_value();
    std::size_t resumed = 0;
    for (const auto& [n, saved] : config_.store->results()) {
      auto it = jobs_.find(n);
      if (it == jobs_.end()) continue;
      SetState(it->second, saved.ok ? JobState::kDone : JobState::kFailed);
      if (!saved.ok) exit_code_ = 1;
      ++resumed;
      if (on_result_) on_result_(saved);  // the printer skips lines already printed
    }
    if (resumed > 0 || restarted_) {
      spdlog::info("resuming from {}: {} number(s) already final{}", config_.store->dir(), resumed,
                   restarted_ ? ", framework " + *framework_id_ : std::string());
    }
  }
  bool all_final = final_jobs_ == jobs_.size();
  if (jobs_.empty() || (all_final && !framework_id_)) {
    Exit(exit_code_);
    return;
  }
  connection_.Start();
}

// ---- subscription ------------------------------------------------------------------------

std::string Scheduler::SubscribeBody() const {
  ev::Call call;
  call.type = ev::CallType::kSubscribe;
  auto& subscribe = call.subscribe.emplace();
  subscribe.framework_info = config_.framework;
  if (framework_id_) {
    // Resubscription needs the ID in both places (§11.6).
    call.framework_id = v1::FrameworkID{*framework_id_};
    subscribe.framework_info.id = v1::FrameworkID{*framework_id_};
  }
  spdlog::info("subscribing to {}{}", connection_.url(),
               framework_id_ ? " as framework " + *framework_id_ : std::string());
  return v1::Serialize(call);
}

void Scheduler::Disconnected(const MesosConnection::Disconnection& lost) {
  if (state_ == State::kExited || state_ == State::kTearingDown) return;
  state_ = State::kDisconnected;
  if (!lost.will_retry) {
    spdlog::critical("cannot subscribe: {}", lost.reason);
    Exit(1);
  }
}

// ---- events ------------------------------------------------------------------------------

void Scheduler::HandleEvent(const ev::Event& event) {
  switch (event.type) {
    case ev::EventType::kSubscribed:
      if (event.subscribed) OnSubscribed(*event.subscribed);
      break;
    case ev::EventType::kOffers:
      if (event.offers && state_ == State::kSubscribed) OnOffers(event.offers->offers);
      break;
    case ev::EventType::kUpdate:
      if (event.update) OnUpdate(event.update->status);
      break;
    case ev::EventType::kRescind:
      break;  // offers are never held, so nothing was built on it
    case ev::EventType::kFailure:
      if (event.failure) {
        spdlog::warn("{} {} failed{}", event.failure->executor_id ? "executor" : "agent",
                     event.failure->executor_id ? event.failure->executor_id->value
                                                : event.failure->agent_id.value_or(v1::AgentID{}).value,
                     event.failure->status ? " with status " + std::to_string(*event.failure->status) : "");
      }
      break;
    case ev::EventType::kError:
      if (restarted_ && !ever_subscribed_ && event.error && event.error->message == "Framework has been removed") {
        // The saved framework outlived its failover timeout: register anew; results stay.
        spdlog::warn("saved framework {} was removed; registering a new one", framework_id_.value_or("?"));
        restarted_ = false;
        framework_id_.reset();
        if (config_.store != nullptr) static_cast<void>(config_.store->SaveFrameworkId(std::nullopt));
        break;  // the master ends this stream; Disconnected() subscribes again
      }
      spdlog::critical("the master sent ERROR: {}", event.error ? event.error->message : "");
      Exit(1);
      break;
    case ev::EventType::kMessage:
      spdlog::info("message from executor ({} bytes)", event.message ? event.message->data.size() : 0);
      break;
    case ev::EventType::kHeartbeat:
      break;
    case ev::EventType::kInverseOffers:
    case ev::EventType::kRescindInverseOffer:
    case ev::EventType::kUpdateOperationStatus:
    case ev::EventType::kUnknown:
      // Not asked for: no maintenance handling, no offer operations with IDs.
      spdlog::debug("ignoring event {}", v1::scheduler::Name(event.type));
      break;
  }
}

void Scheduler::OnSubscribed(const ev::Event::Subscribed& subscribed) {
  bool resubscribed = framework_id_.has_value();
  bool first_after_restart = restarted_ && !ever_subscribed_;
  ever_subscribed_ = true;
  framework_id_ = subscribed.framework_id.value;
  if (config_.store != nullptr) {
    if (auto saved = config_.store->SaveFrameworkId(framework_id_); !saved.ok()) {
      spdlog::error("cannot save the framework ID: {}", saved.error().message);
    }
  }
  state_ = State::kSubscribed;
  suppressed_ = false;
  double heartbeat_seconds = 15;
  if (subscribed.heartbeat_interval_seconds && *subscribed.heartbeat_interval_seconds > 0) {
    heartbeat_seconds = *subscribed.heartbeat_interval_seconds;
    connection_.SetHeartbeatInterval(
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(heartbeat_seconds)));
  }
  spdlog::info("subscribed as framework {} (heartbeat every {} s)", *framework_id_, heartbeat_seconds);
  // Explicit reconciliation of every task we think is live (§5.10).
  ev::Call reconcile;
  reconcile.type = ev::CallType::kReconcile;
  auto& r = reconcile.reconcile.emplace();
  for (const auto& [n, job] : jobs_) {
    if (job.state == JobState::kLaunched) {
      r.tasks.push_back({v1::TaskID{job.task_id}, job.agent_id.empty()
                                                      ? std::nullopt
                                                      : std::optional(v1::AgentID{job.agent_id})});
    }
  }
  if (first_after_restart) {
    // A new process does not know which tasks its predecessor launched: ask the master for
    // all of them (implicit reconciliation) and adopt those still ours before launching.
    r.tasks.clear();
    SendCall(std::move(reconcile));
    adopt_until_ = loop_.Now() + config_.adopt_window;
    spdlog::info("restarted: reconciling every task of framework {}", *framework_id_);
  } else if (resubscribed && !r.tasks.empty()) {
    spdlog::info("reconciling {} task(s)", r.tasks.size());
    SendCall(std::move(reconcile));
  }
  if (on_subscribed_) on_subscribed_(*framework_id_);
  if (!check_timer_) {
    check_timer_ = loop_.After(std::chrono::seconds(1), [this] {
      check_timer_.reset();
      CheckUnschedulable();
    });
  }
  MaybeFinish();
}

void Scheduler::OnOffers(const std::vector<v1::Offer>& offers) {
  saw_offer_ = true;
  for (const auto& offer : offers) {  // even offers we decline teach us where agents are
    largest_cpus_ = std::max(largest_cpus_, ScalarTotal(offer.resources, "cpus"));
    largest_mem_ = std::max(largest_mem_, ScalarTotal(offer.resources, "mem"));
    if (offer.url) {
      const auto& a = offer.url->address;
      agent_urls_[offer.agent_id.value] =
          offer.url->scheme + "://" + a.ip.value_or(a.hostname.value_or(offer.hostname)) + ":" + std::to_string(a.port);
    }
  }
  if (loop_.Now() < adopt_until_) {  // still learning which tasks survived the restart
    ev::Call call;
    call.type = ev::CallType::kDecline;
    auto& decline = call.decline.emplace();
    for (const auto& offer : offers) decline.offer_ids.push_back(offer.id);
    decline.filters = v1::Filters{0.5};
    SendCall(std::move(call));
    return;
  }
  std::vector<PendingTask> pending;
  std::vector<std::uint64_t> pending_n(pending_.begin(), pending_.end());
  pending.reserve(pending_n.size());
  for (std::uint64_t n : pending_n) pending.push_back({{}, config_.task_cpus, jobs_.at(n).mem});
  ExecutorNeeds needs{config_.executor.executor_id.value, ScalarTotal(config_.executor.resources, "cpus"),
                      ScalarTotal(config_.executor.resources, "mem")};
  auto plans = PlanOffers(offers, pending, needs);
  std::size_t launched = 0;
  std::vector<v1::OfferID> declined;
  for (const auto& plan : plans) {
    const v1::Offer& offer = offers[plan.offer_index];
    if (plan.launches.empty()) {
      declined.push_back(offer.id);
      continue;
    }
    ev::Call call;
    call.type = ev::CallType::kAccept;
    auto& accept = call.accept.emplace();
    accept.offer_ids.push_back(offer.id);
    v1::Operation op;
    op.type = v1::OperationType::kLaunch;
    op.launch.emplace();
    for (const auto& launch : plan.launches) {
      Job& job = jobs_.at(pending_n[launch.pending_index]);
      ++job.attempts;
      job.task_id = NextTaskId(job);
      job.agent_id = offer.agent_id.value;
      SetState(job, JobState::kLaunched);
      job.launched_at = loop_.Now();
      task_to_n_[job.task_id] = job.n;
      v1::TaskInfo task;
      task.name = "factorial " + std::to_string(job.n);
      task.task_id.value = job.task_id;
      task.agent_id = offer.agent_id;
      task.resources = launch.task_resources;
      task.executor = config_.executor;
      task.data = std::to_string(job.n);
      op.launch->push_back(std::move(task));
      ++launched;
    }
    accept.operations.push_back(std::move(op));
    accept.filters = v1::Filters{config_.refuse_seconds_busy};
    SendCall(std::move(call));
  }
  bool more_pending = !pending_.empty();
  if (!declined.empty()) {
    ev::Call call;
    call.type = ev::CallType::kDecline;
    auto& decline = call.decline.emplace();
    decline.offer_ids = declined;
    decline.filters = v1::Filters{more_pending ? config_.refuse_seconds_busy : config_.refuse_seconds_idle};
    SendCall(std::move(call));
  }
  if (launched > 0) spdlog::info("launched {} task(s) on {} offer(s)", launched, offers.size() - declined.size());
  if (!more_pending && !suppressed_) {
    ev::Call suppress;
    suppress.type = ev::CallType::kSuppress;
    suppress.suppress.emplace();
    SendCall(std::move(suppress));
    suppressed_ = true;
  }
}

std::string Scheduler::NextTaskId(const Job& job) const {
  return "factorial-" + std::to_string(job.n) + "-" + std::to_string(job.attempts);
}

void Scheduler::OnUpdate(const v1::TaskStatus& status) {
  auto it = task_to_n_.find(status.task_id.value);
  if (it == task_to_n_.end() && Adopt(status)) it = task_to_n_.find(status.task_id.value);
  if (it == task_to_n_.end()) {
    spdlog::warn("update {} for unknown task {}", v1::Name(status.state), status.task_id.value);
    if (!v1::IsTerminal(status.state) && status.state != TaskState::kUnknownState && status.agent_id) {
      ev::Call kill;  // not ours (any more): kill it (§5.10)
      kill.type = ev::CallType::kKill;
      kill.kill.emplace().task_id = status.task_id;
      kill.kill->agent_id = status.agent_id;
      SendCall(std::move(kill));
    }
    Acknowledge(status);
    return;
  }
  Job& job = jobs_.at(it->second);
  bool current = job.task_id == status.task_id.value;
  spdlog::debug("task {}: {}{}", status.task_id.value, v1::Name(status.state),
                status.message ? " (" + *status.message + ")" : "");
  if (job.state == JobState::kDone || job.state == JobState::kFailed) {
    // Already final; a late duplicate or an older attempt.
  } else if (status.state == TaskState::kFinished && !status.data &&
             status.reason == v1::TaskReason::kReconciliation) {
    // Reconciliation answers never carry data (§5.10): the task did finish, and the agent
    // retransmits its own TASK_FINISHED, with the result, until we acknowledge it.
    spdlog::debug("task {} finished per reconciliation; waiting for the agent's update", status.task_id.value);
  } else if (status.state == TaskState::kFinished) {
    OnFinished(job, status);
  } else if (!current) {
    // A failure of a superseded attempt changes nothing.
  } else {
    switch (status.state) {
      case TaskState::kStaging:
      case TaskState::kStarting:
      case TaskState::kRunning:
      case TaskState::kKilling:
        if (status.agent_id) job.agent_id = status.agent_id->value;
        break;
      case TaskState::kError:
        AttemptFailed(job, "TASK_ERROR: " + status.message.value_or("invalid task"), false);
        break;
      case TaskState::kUnknownState:
        // A reconciliation answer for a task the master lost track of: run it again.
        AttemptFailed(job, "task unknown to the master", true);
        break;
      default: {  // FAILED, KILLED, LOST, DROPPED, GONE, GONE_BY_OPERATOR, UNREACHABLE
        std::string why = std::string(v1::Name(status.state));
        if (status.reason) why += " (" + std::string(v1::Name(*status.reason)) + ")";
        if (status.message) why += ": " + *status.message;
        bool memory = status.reason == v1::TaskReason::kContainerLimitationMemory && status.state == TaskState::kFailed;
        bool invalid = status.reason == v1::TaskReason::kTaskInvalid;
        AttemptFailed(job, why, !memory && !invalid);  // deterministic failures are not retried
      }
    }
  }
  Acknowledge(status);  // after the state change is recorded
  MaybeFinish();
}

// A task named like ours ("factorial-<n>-<attempt>") for a number not yet final: launched by
// this framework before a restart. Take it over instead of computing the number again.
bool Scheduler::Adopt(const v1::TaskStatus& status) {
  const std::string& id = status.task_id.value;
  static constexpr std::string_view kPrefix = "factorial-";
  if (id.rfind(kPrefix, 0) != 0) return false;
  auto dash = id.rfind('-');
  if (dash == std::string::npos || dash <= kPrefix.size()) return false;
  std::uint64_t n = 0, attempt = 0;
  try {
    n = std::stoull(id.substr(kPrefix.size(), dash - kPrefix.size()));
    attempt = std::stoull(id.substr(dash + 1));
  } catch (...) {
    return false;
  }
  auto job = jobs_.find(n);
  if (job == jobs_.end() || job->second.state == JobState::kDone || job->second.state == JobState::kFailed) {
    return false;
  }
  task_to_n_[id] = n;
  Job& j = job->second;
  j.attempts = std::max(j.attempts, static_cast<int>(attempt));
  if (j.state == JobState::kPending || j.task_id.empty()) {
    SetState(j, JobState::kLaunched);
    j.task_id = id;
    j.launched_at = loop_.Now();
    if (status.agent_id) j.agent_id = status.agent_id->value;
  }
  spdlog::info("adopted task {} from before the restart ({})", id, v1::Name(status.state));
  return true;
}

void Scheduler::OnFinished(Job& job, const v1::TaskStatus& status) {
  const std::string data = status.data.value_or("");
  if (!data.empty() && data.front() == '{') {
    // Too large to inline: the executor names a sandbox file (path, size, sha256).
    auto ref = nlohmann::json::parse(data, nullptr, false);
    if (ref.is_discarded() || !ref.contains("path") || !ref["path"].is_string() || !ref.contains("size") ||
        !ref["size"].is_number_unsigned() || !ref.contains("sha256") || !ref["sha256"].is_string() ||
        !status.agent_id) {
      AttemptFailed(job, "TASK_FINISHED with an unreadable result reference", true);
      return;
    }
    SetState(job, JobState::kLaunched);  // still ours until the file arrives
    FetchResult(job.n, status.task_id.value, status.agent_id->value, ref["path"].get<std::string>(),
                ref["size"].get<std::uint64_t>(), ref["sha256"].get<std::string>());
    return;
  }
  if (!AllDigits(data) || data.size() != FactorialDigits(job.n)) {
    AttemptFailed(job, "TASK_FINISHED with a result of the wrong shape (" + std::to_string(data.size()) +
                           " bytes, expected " + std::to_string(FactorialDigits(job.n)) + " digits)",
                  true);
    return;
  }
  job.task_id = status.task_id.value;
  Complete(job, true, data);
}

void Scheduler::FetchResult(std::uint64_t n, std::string task_id, const std::string& agent_id, std::string path,
                            std::uint64_t size, std::string sha256) {
  auto url = agent_urls_.find(agent_id);
  if (url == agent_urls_.end()) {
    AttemptFailed(jobs_.at(n), "no address known for agent " + agent_id, true);
    return;
  }
  HttpRequest request;
  request.method = "GET";
  std::string escaped;
  for (char c : path) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '-' || c == '_' || c == '.') {
      escaped.push_back(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      escaped += buf;
    }
  }
  request.url = url->second + "/files/download?path=" + escaped;
  request.timeout = std::chrono::minutes(10);
  request.tls = config_.tls;
  request.basic_auth = config_.credential;  // agents with --authenticate_http_readonly ask for it
  loop_.Send(std::move(request), [this, n, task_id, size, sha256](Result<HttpResponse> result) {
    auto it = jobs_.find(n);
    if (it == jobs_.end() || it->second.state != JobState::kLaunched) return;
    Job& job = it->second;
    std::string problem;
    if (!result.ok()) {
      problem = result.error().message;
    } else if (result.value().status != 200) {
      problem = "HTTP " + std::to_string(result.value().status);
    } else if (result.value().body.size() != size || Sha256Hex(result.value().body) != sha256) {
      problem = "size or SHA-256 mismatch";
    } else if (result.value().body.size() != FactorialDigits(n) || !AllDigits(result.value().body)) {
      problem = "not the digits of " + std::to_string(n) + "!";
    }
    if (!problem.empty()) {
      AttemptFailed(job, "fetching the result of " + task_id + " failed: " + problem, true);
    } else {
      job.task_id = task_id;
      Complete(job, true, std::move(result.value().body));
    }
    MaybeFinish();
  });
}

void Scheduler::AttemptFailed(Job& job, const std::string& why, bool retryable) {
  job.last_error = why;
  if (retryable && job.attempts <= config_.max_retries) {
    spdlog::warn("{}! attempt {} failed ({}); retrying", job.n, job.attempts, why);
    SetState(job, JobState::kPending);
    job.pending_since = loop_.Now();
    Revive();
    return;
  }
  spdlog::error("{}! failed: {}", job.n, why);
  Complete(job, false, why);
}

void Scheduler::Complete(Job& job, bool ok, std::string digits_or_error) {
  SetState(job, ok ? JobState::kDone : JobState::kFailed);
  if (!ok) exit_code_ = 1;
  NumberResult result;
  result.n = job.n;
  result.ok = ok;
  (ok ? result.digits : result.error) = std::move(digits_or_error);
  result.task_id = job.task_id;
  result.agent_id = job.agent_id;
  // A number that never launched (unschedulable) took no task time.
  result.seconds =
      job.launched_at == TimePoint{} ? 0 : std::chrono::duration<double>(loop_.Now() - job.launched_at).count();
  if (config_.store != nullptr) {  // journal first: a crash after this never recomputes n
    if (auto saved = config_.store->Append(result); !saved.ok()) {
      spdlog::error("cannot journal {}!: {}", job.n, saved.error().message);
    }
  }
  if (on_result_) on_result_(result);
}

void Scheduler::Acknowledge(const v1::TaskStatus& status) {
  if (!status.uuid) return;  // master-generated: never acknowledged (§5.9)
  if (!status.agent_id) {
    spdlog::warn("cannot acknowledge an update of {} without agent_id", status.task_id.value);
    return;
  }
  ev::Call call;
  call.type = ev::CallType::kAcknowledge;
  auto& ack = call.acknowledge.emplace();
  ack.agent_id = *status.agent_id;
  ack.task_id = status.task_id;
  ack.uuid = *status.uuid;
  SendCall(std::move(call));
}

void Scheduler::Revive() {
  if (!suppressed_ || state_ != State::kSubscribed) return;
  ev::Call call;
  call.type = ev::CallType::kRevive;
  call.revive.emplace();
  SendCall(std::move(call));
  suppressed_ = false;
}

void Scheduler::CheckUnschedulable() {
  if (state_ == State::kExited || state_ == State::kTearingDown) return;
  TimePoint now = loop_.Now();
  for (std::uint64_t n : std::vector<std::uint64_t>(pending_.begin(), pending_.end())) {
    Job& job = jobs_.at(n);
    if (now - job.pending_since < config_.offer_wait) continue;
    if (saw_offer_ && (config_.task_cpus <= largest_cpus_ && job.mem <= largest_mem_)) continue;
    std::string why = saw_offer_ ? "unschedulable: needs " + std::to_string(config_.task_cpus) + " cpus and " +
                                       std::to_string(static_cast<long long>(job.mem)) + " MB; the largest offer had " +
                                       std::to_string(largest_cpus_) + " cpus and " +
                                       std::to_string(static_cast<long long>(largest_mem_)) + " MB"
                                 : "unschedulable: no offer arrived within --offer-wait";
    AttemptFailed(job, why, false);
  }
  MaybeFinish();
  if (state_ == State::kSubscribed || state_ == State::kDisconnected) {
    check_timer_ = loop_.After(std::chrono::seconds(1), [this] {
      check_timer_.reset();
      CheckUnschedulable();
    });
  }
}

void Scheduler::MaybeFinish() {
  if (state_ != State::kSubscribed) return;
  if (final_jobs_ == jobs_.size()) Teardown(exit_code_);
}

void Scheduler::Interrupt(int code) {
  if (state_ == State::kExited || state_ == State::kTearingDown) return;
  if (config_.store != nullptr && !config_.teardown_on_stop) {
    spdlog::warn("stopping; framework {} and its running tasks are left for the next start (failover "
                 "timeout {} s)", framework_id_.value_or("(none yet)"), config_.framework.failover_timeout);
    Exit(code);
    return;
  }
  spdlog::warn("interrupted: killing running tasks and tearing down");
  if (state_ != State::kSubscribed) {
    Exit(code);  // nobody to tell; the failover timeout cleans up
    return;
  }
  for (const auto& [n, job] : jobs_) {
    if (job.state != JobState::kLaunched) continue;
    ev::Call kill;
    kill.type = ev::CallType::kKill;
    kill.kill.emplace().task_id = v1::TaskID{job.task_id};
    if (!job.agent_id.empty()) kill.kill->agent_id = v1::AgentID{job.agent_id};
    SendCall(std::move(kill));
  }
  Teardown(code);
}

// TEARDOWN also kills every task and executor of the framework (§5.6.1).
void Scheduler::Teardown(int code) {
  state_ = State::kTearingDown;
  exit_code_ = code;
  connection_.Drain();  // the master ends the stream; TEARDOWN's answer must still arrive
  spdlog::info("all numbers are final; tearing down framework {}", framework_id_.value_or("?"));
  // Calls are ordered: acknowledgements and kills made before reach the master first, which
  // matters because they would be refused once the framework is gone.
  SendTeardown(1);
}

void Scheduler::SendTeardown(int attempt) {
  ev::Call call;
  call.type = ev::CallType::kTeardown;
  SendCall(std::move(call), [this, attempt](bool accepted) {
    if (accepted || attempt >= 3) {
      if (!accepted) spdlog::error("TEARDOWN was not accepted; the failover timeout will clean up");
      Exit(exit_code_);
      return;
    }
    teardown_timer_ = loop_.After(std::chrono::milliseconds(200), [this, attempt] {
      teardown_timer_.reset();
      SendTeardown(attempt + 1);
    });
  });
}

void Scheduler::Exit(int code) {
  if (state_ == State::kExited) return;
  state_ = State::kExited;
  connection_.Stop();
  CancelTimers();
  on_exit_(code);
}

void Scheduler::CancelTimers() {
  for (auto* timer : {&check_timer_, &teardown_timer_}) {
    if (*timer) loop_.CancelTimer(**timer);
    timer->reset();
  }
}

void Scheduler::SendCall(ev::Call call, std::function<void(bool)> done) {
  if (!framework_id_) {
    if (done) done(false);
    return;
  }
  call.framework_id = v1::FrameworkID{*framework_id_};
  std::string type(v1::scheduler::Name(call.type.value_or(ev::CallType::kUnknown)));
  connection_.Send(v1::Serialize(call), [type, done = std::move(done)](Result<HttpResponse> result) {
    bool accepted = result.ok() && (result.value().status == 202 || result.value().status == 200);
    if (!accepted) {
      std::string why = result.ok() ? std::to_string(result.value().status) + " " + result.value().body
                                    : result.error().message;
      spdlog::warn("{} call failed: {}", type, why);
      // Lost calls are recovered by the protocol: unacknowledged updates are resent by the
      // agent, offers come back after their filter, and a broken master drops the stream.
    }
    if (done) done(accepted);
  });
}

}  // namespace factorial::scheduler
