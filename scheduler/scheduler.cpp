#include "scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "factorial/logging.hpp"
#include "factorial/resources.hpp"
#include "factorial/result_codec.hpp"
#include "factorial/sizing.hpp"
#include "factorial/zk_detector.hpp"
#include "state_store.hpp"

namespace factorial::scheduler {
namespace {

namespace ev = v1::scheduler;
using v1::TaskState;

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

Scheduler::Scheduler(EventLoop& loop, SchedulerConfig config, const Workload& workload, ResultCallback on_result,
                     ExitCallback on_exit)
    : loop_(loop),
      config_(std::move(config)),
      hooks_{std::move(on_result), std::move(on_exit), {}},
      connection_(loop, MakeMasterSource(), ConnectionOptions(config_),
                  {.subscribe_body = [this] { return SubscribeBody(); },
                   .connected = {},
                   .record = ParseEvents<ev::Event>(&v1::ParseSchedulerEvent,
                                                    [this](const ev::Event& event) { HandleEvent(event); }),
                   .disconnected = [this](const MesosConnection::Disconnection& lost) { Disconnected(lost); }}),
      book_(workload, &CostNanoseconds),
      fetcher_(loop, config_.tls, config_.credential) {}

Scheduler::~Scheduler() { CancelTimers(); }

void Scheduler::Start() {
  if (config_.store != nullptr) {
    framework_.id = config_.store->framework_id();
    framework_.restarted = framework_.id.has_value();
    std::size_t resumed = 0;
    for (const auto& [n, saved] : config_.store->results()) {
      auto id = book_.workload().Find(n);
      if (!id || IsFinal(book_.state(*id))) continue;
      book_.Finish(*id, saved.ok);
      if (!saved.ok) exit_code_ = 1;
      ++resumed;
      if (hooks_.on_result) hooks_.on_result(saved);  // the printer skips lines already printed
    }
    if (resumed > 0 || framework_.restarted) {
      spdlog::info("resuming from {}: {} number(s) already final{}", config_.store->dir(), resumed,
                   framework_.restarted ? ", framework " + *framework_.id : std::string());
    }
  }
  offers_.busy_until = loop_.Now();  // --offer-wait counts from the start
  offers_.last_start = loop_.Now();
  if (book_.empty() || (book_.all_final() && !framework_.id)) {
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
  if (framework_.id) {
    // Resubscription needs the ID in both places (§11.6).
    call.framework_id = v1::FrameworkID{*framework_.id};
    subscribe.framework_info.id = v1::FrameworkID{*framework_.id};
  }
  spdlog::info("subscribing to {}{}", connection_.url(),
               framework_.id ? " as framework " + *framework_.id : std::string());
  return v1::Serialize(call);
}

std::unique_ptr<MasterSource> Scheduler::MakeMasterSource() {
  if (!config_.zookeeper) return std::make_unique<MasterList>(config_.masters);
  ZooKeeperDetectorOptions options;
  if (config_.connect_timeout > Duration::zero()) options.deadline = config_.connect_timeout;
  return std::make_unique<ZooKeeperMasterSource>(
      loop_, *config_.zookeeper,
      ZooKeeperDetector::Callbacks{.on_leader = [this](const std::string& url) { LeaderDetected(url); },
                                   .on_error =
                                       [this](const Error& error) {
                                         if (state_ == State::kExited) return;
                                         spdlog::critical("cannot find the leading master: {}", error.message);
                                         Exit(1);
                                       }},
      options);
}

// ZooKeeper names a new leader: resubscribe there with the framework ID, as after a 307.
void Scheduler::LeaderDetected(const std::string& url) {
  if (state_ == State::kExited || state_ == State::kTearingDown) return;
  if (connection_.subscribed() && connection_.url() == url) return;
  connection_.Reconnect("the leading master is now " + url);
}

void Scheduler::Disconnected(const MesosConnection::Disconnection& lost) {
  if (state_ == State::kExited || state_ == State::kTearingDown) return;
  state_ = State::kDisconnected;
  // Queued calls are dropped with the stream. An ACCEPT among them may never have reached
  // the master: reconciliation after resubscribing decides, and a launch it never saw is free.
  for (const auto& [ticket, call] : offer_calls_.calls) {
    for (const auto& task_id : call.task_ids) {
      if (Batch* batch = book_.FindTask(task_id); batch != nullptr && !batch->fetching) batch->unconfirmed = true;
    }
  }
  offer_calls_ = {};
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
      // Offers are used at once; only a call about it may still wait its turn.
      if (event.rescind) OnRescind(event.rescind->offer_id);
      break;
    case ev::EventType::kFailure:
      if (event.failure) {
        spdlog::warn("{} {} failed{}", event.failure->executor_id ? "executor" : "agent",
                     event.failure->executor_id ? event.failure->executor_id->value
                                                : event.failure->agent_id.value_or(v1::AgentID{}).value,
                     event.failure->status ? " with status " + std::to_string(*event.failure->status) : "");
      }
      break;
    case ev::EventType::kError:
      if (framework_.restarted && !framework_.ever_subscribed && event.error &&
          event.error->message == "Framework has been removed") {
        // The saved framework outlived its failover timeout: register anew; results stay.
        spdlog::warn("saved framework {} was removed; registering a new one", framework_.id.value_or("?"));
        framework_.restarted = false;
        framework_.id.reset();
        if (config_.store != nullptr) static_cast<void>(config_.store->SaveFrameworkId(std::nullopt));
        break;  // the master ends this stream; the connection subscribes again
      }
      spdlog::critical("the master sent ERROR: {}", event.error ? Excerpt(event.error->message) : "");
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
  bool resubscribed = framework_.id.has_value();
  bool first_after_restart = framework_.restarted && !framework_.ever_subscribed;
  framework_.ever_subscribed = true;
  framework_.id = subscribed.framework_id.value;
  if (config_.store != nullptr) {
    if (auto saved = config_.store->SaveFrameworkId(framework_.id); !saved.ok()) {
      spdlog::error("cannot save the framework ID: {}", saved.error().message);
    }
  }
  state_ = State::kSubscribed;
  refusals_ = {};  // a new stream: calls start afresh
  offers_.suppressed = false;
  double heartbeat_seconds = 15;
  if (subscribed.heartbeat_interval_seconds && *subscribed.heartbeat_interval_seconds > 0) {
    heartbeat_seconds = *subscribed.heartbeat_interval_seconds;
    connection_.SetHeartbeatInterval(
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(heartbeat_seconds)));
  }
  spdlog::info("subscribed as framework {} (heartbeat every {} s)", *framework_.id, heartbeat_seconds);
  // Explicit reconciliation of every task we think is live (§5.10).
  ev::Call reconcile;
  reconcile.type = ev::CallType::kReconcile;
  auto& r = reconcile.reconcile.emplace();
  if (first_after_restart) {
    // A new process does not know which tasks its predecessor launched: ask the master for
    // all of them (implicit reconciliation) and adopt those still ours before launching.
    SendCall(std::move(reconcile));
    framework_.adopt_until = loop_.Now() + config_.adopt_window;
    spdlog::info("restarted: reconciling every task of framework {}", *framework_.id);
  } else if (resubscribed) {
    // Asked again until answered (ReconcileUnanswered): a new leader drops the question for
    // tasks on agents that have not reregistered with it yet.
    for (const auto& [task_id, live] : book_.batches()) {
      Batch& batch = *book_.FindTask(task_id);
      if (batch.fetching) continue;  // its task is over and forgotten by the master
      batch.awaiting_answer = true;
      batch.reconciled_at = loop_.Now();
      r.tasks.push_back({v1::TaskID{batch.task_id},
                         batch.agent_id.empty() ? std::nullopt : std::optional(v1::AgentID{batch.agent_id})});
    }
    if (!r.tasks.empty()) {
      spdlog::info("reconciling {} task(s)", r.tasks.size());
      SendCall(std::move(reconcile));
    }
  }
  // Work that went back to pending meanwhile must not wait behind an earlier idle filter.
  if (book_.progress().pending > 0) Revive();
  if (hooks_.on_subscribed) hooks_.on_subscribed(*framework_.id);
  if (!timers_.check) ScheduleCheck();
  MaybeFinish();
}

void Scheduler::OnOffers(const std::vector<v1::Offer>& offers) {
  offers_.seen = true;
  double offered_cpus = 0;
  for (const auto& offer : offers) {  // even offers we decline teach us where agents are
    double cpus = ScalarTotal(offer.resources, "cpus");
    offered_cpus += cpus;
    offers_.recent.push_back({loop_.Now(), cpus, ScalarTotal(offer.resources, "mem")});
    offers_.hostnames[offer.agent_id.value] = offer.hostname;
    fetcher_.LearnAgent(offer);
  }
  if (loop_.Now() < framework_.adopt_until) {  // still learning which tasks survived the restart
    std::vector<v1::OfferID> all;
    for (const auto& offer : offers) all.push_back(offer.id);
    Decline(std::move(all), 0.5);
    return;
  }
  double running_cpus = 0;
  for (const auto& [id, batch] : book_.batches()) running_cpus += batch.fetching ? 0 : batch.cpus;
  BatchShaper shaper(book_, config_.batch, offered_cpus + running_cpus);
  ExecutorNeeds needs{config_.executor.executor_id.value, ScalarTotal(config_.executor.resources, "cpus"),
                      ScalarTotal(config_.executor.resources, "mem")};
  auto plans = PlanOffers(offers, shaper, needs);
  book_.EndPlanning();
  std::size_t launched = 0;
  std::vector<v1::OfferID> declined;
  for (const auto& plan : plans) {
    const v1::Offer& offer = offers[plan.offer_index];
    if (plan.launches.empty()) {
      declined.push_back(offer.id);
      continue;
    }
    Launch(offer, plan.launches, shaper.batches());
    launched += plan.launches.size();
  }
  bool more_pending = book_.progress().pending > 0;
  std::size_t used_offers = offers.size() - declined.size();
  if (!declined.empty()) {
    CallQueue::Ticket ticket =
        Decline(std::move(declined), more_pending ? config_.refuse_seconds_busy : config_.refuse_seconds_idle);
    if (!more_pending && ticket != 0) {
      offers_.idle_filter = true;
      offers_.idle_declines.push_back(ticket);
    }
  }
  if (launched > 0) {
    offers_.busy_until = loop_.Now();
    spdlog::info("launched {} task(s) on {} offer(s); {} number(s) pending", launched, used_offers,
                 book_.progress().pending);
  }
  if (!more_pending && !offers_.suppressed) {
    ev::Call suppress;
    suppress.type = ev::CallType::kSuppress;
    suppress.suppress.emplace();
    offers_.suppress_ticket = SendCall(std::move(suppress));
    offers_.suppressed = true;
  }
}

void Scheduler::Launch(const v1::Offer& offer, const std::vector<PlannedLaunch>& launches,
                       const std::vector<std::vector<NumberId>>& batches) {
  ev::Call call;
  call.type = ev::CallType::kAccept;
  auto& accept = call.accept.emplace();
  accept.offer_ids.push_back(offer.id);
  v1::Operation op;
  op.type = v1::OperationType::kLaunch;
  op.launch.emplace();
  std::vector<std::string> task_ids;
  for (const auto& launch : launches) {
    Batch& batch = book_.Launch(batches[launch.pending_index], offer.agent_id.value, loop_.Now());
    batch.hostname = offer.hostname;
    batch.cpus = ScalarTotal(launch.task_resources, "cpus");
    batch.mem = ScalarTotal(launch.task_resources, "mem");
    v1::TaskInfo task;
    std::string data;
    for (NumberId id : batch.ids) {
      if (!data.empty()) data += ' ';
      data += std::to_string(book_.number(id));
    }
    task.name = batch.ids.size() == 1
                    ? "factorial " + data
                    : fmt::format("factorial batch of {} from {}", batch.ids.size(), book_.number(batch.ids[0]));
    task.task_id.value = batch.task_id;
    task.agent_id = offer.agent_id;
    task.resources = launch.task_resources;
    task.executor = config_.executor;
    task.data = std::move(data);
    task_ids.push_back(batch.task_id);
    op.launch->push_back(std::move(task));
  }
  accept.operations.push_back(std::move(op));
  accept.filters = v1::Filters{config_.refuse_seconds_busy};
  auto ticket = std::make_shared<CallQueue::Ticket>(0);
  *ticket = SendCall(std::move(call), [this, ticket, offer_id = offer.id, task_ids](bool accepted) {
    OfferCallAnswered(*ticket);
    if (!accepted) AcceptFailed(offer_id, task_ids);
  });
  TrackOfferCall(*ticket, {offer.id}, std::move(task_ids));
}

// The master may or may not have applied a failed ACCEPT: its offer is declined (if it was
// used, the master ignores that) and its tasks are reconciled; the answers relaunch those
// the master never saw (TASK_LOST or TASK_UNKNOWN), and they did not count as attempts.
void Scheduler::AcceptFailed(const v1::OfferID& offer, const std::vector<std::string>& task_ids) {
  if (state_ != State::kSubscribed) return;  // resubscription reconciles every launched task
  for (const auto& id : task_ids) {
    Batch* batch = book_.FindTask(id);
    if (batch == nullptr || batch->fetching) continue;
    batch->unconfirmed = true;
    batch->awaiting_answer = true;
    batch->reconciled_at.reset();  // ask now
  }
  spdlog::warn("ACCEPT of offer {} failed; reconciling the {} task(s) it launched", offer.value, task_ids.size());
  Decline({offer}, config_.refuse_seconds_busy);
  ReconcileUnanswered();
}

// Explicit reconciliation of tasks the master was asked about and has not answered for (a
// failed ACCEPT, a resubscription), again every few seconds until it does, so no number
// waits forever on a call that was lost or a question that was dropped.
void Scheduler::ReconcileUnanswered() {
  if (state_ != State::kSubscribed) return;
  constexpr auto kReconcileAgain = std::chrono::seconds(5);
  ev::Call call;
  call.type = ev::CallType::kReconcile;
  auto& reconcile = call.reconcile.emplace();
  for (const auto& [task_id, live] : book_.batches()) {
    Batch& batch = *book_.FindTask(task_id);
    if (!batch.awaiting_answer || batch.fetching ||
        (batch.reconciled_at && loop_.Now() - *batch.reconciled_at < kReconcileAgain)) {
      continue;
    }
    batch.reconciled_at = loop_.Now();
    reconcile.tasks.push_back({v1::TaskID{batch.task_id},
                               batch.agent_id.empty() ? std::nullopt : std::optional(v1::AgentID{batch.agent_id})});
  }
  if (!reconcile.tasks.empty()) SendCall(std::move(call));
}

// A DECLINE that fails is sent again (twice): a lost one would leave its offer held.
CallQueue::Ticket Scheduler::Decline(std::vector<v1::OfferID> offers, double refuse_seconds, int attempt) {
  ev::Call call;
  call.type = ev::CallType::kDecline;
  auto& decline = call.decline.emplace();
  decline.offer_ids = offers;
  decline.filters = v1::Filters{refuse_seconds};
  auto ticket = std::make_shared<CallQueue::Ticket>(0);
  *ticket = SendCall(std::move(call), [this, ticket, offers, refuse_seconds, attempt](bool accepted) mutable {
    OfferCallAnswered(*ticket);
    if (accepted || attempt >= 3 || state_ != State::kSubscribed) return;
    // Work may have come back meanwhile, its REVIVE queued before this retry: an hour-long
    // filter sent after it would hold the offer back from that work.
    bool idle = book_.progress().pending == 0;
    double refuse = idle ? refuse_seconds : std::min(refuse_seconds, config_.refuse_seconds_busy);
    CallQueue::Ticket retry = Decline(std::move(offers), refuse, attempt + 1);
    if (idle && refuse >= config_.refuse_seconds_idle && retry != 0) {
      offers_.idle_filter = true;
      offers_.idle_declines.push_back(retry);
    }
  });
  TrackOfferCall(*ticket, offers, {});
  return *ticket;
}

void Scheduler::TrackOfferCall(CallQueue::Ticket ticket, const std::vector<v1::OfferID>& offers,
                               std::vector<std::string> task_ids) {
  if (ticket == 0) return;  // not sent: nothing waits
  auto& call = offer_calls_.calls[ticket];
  for (const auto& offer : offers) {
    call.offers.push_back(offer.value);
    offer_calls_.by_offer[offer.value] = ticket;
  }
  call.task_ids = std::move(task_ids);
}

void Scheduler::OfferCallAnswered(CallQueue::Ticket ticket) {
  auto it = offer_calls_.calls.find(ticket);
  if (it == offer_calls_.calls.end()) return;
  for (const auto& offer : it->second.offers) offer_calls_.by_offer.erase(offer);
  offer_calls_.calls.erase(it);
}

// The master took the offer back. A call about it that is still queued goes nowhere: a
// DECLINE of nothing but rescinded offers is dropped, and an ACCEPT's numbers are pending
// again at no cost (the master never saw them). A call already sent is left to its answer
// (for an ACCEPT, TASK_DROPPED with REASON_INVALID_OFFERS, which costs no retry either).
void Scheduler::OnRescind(const v1::OfferID& offer) {
  auto found = offer_calls_.by_offer.find(offer.value);
  if (found == offer_calls_.by_offer.end()) return;
  CallQueue::Ticket ticket = found->second;
  offer_calls_.by_offer.erase(found);
  auto it = offer_calls_.calls.find(ticket);
  if (it == offer_calls_.calls.end()) return;
  std::erase(it->second.offers, offer.value);
  if (!it->second.offers.empty() || !connection_.Withdraw(ticket)) return;
  std::vector<std::string> task_ids = std::move(it->second.task_ids);
  offer_calls_.calls.erase(it);
  if (task_ids.empty()) {
    spdlog::debug("offer {} was rescinded; its DECLINE is not sent", offer.value);
    // An hour-long filter that was never sent holds nothing back.
    if (std::erase(offers_.idle_declines, ticket) > 0 && offers_.idle_declines.empty()) offers_.idle_filter = false;
    return;
  }
  spdlog::info("offer {} was rescinded before its ACCEPT was sent; {} task(s) not launched", offer.value,
               task_ids.size());
  std::vector<NumberId> ids;
  for (const auto& task_id : task_ids) {
    Batch* batch = book_.FindTask(task_id);
    if (batch == nullptr) continue;
    ids.insert(ids.end(), batch->ids.begin(), batch->ids.end());
    book_.Forget(task_id);
  }
  RequeueNumbers(ids, Requeue::kWithdrawn, true, "offer " + offer.value + " was rescinded before the launch");
}

void Scheduler::OnUpdate(const v1::TaskStatus& status) {
  Batch* batch = book_.FindTask(status.task_id.value);
  if (batch == nullptr && !v1::IsTerminal(status.state) && status.state != TaskState::kUnknownState) {
    batch = book_.Adopt(status.task_id.value,
                        status.agent_id ? std::optional(status.agent_id->value) : std::nullopt, loop_.Now());
    if (batch != nullptr) {
      // Launched by this framework before a restart: take it over instead of computing again.
      if (status.agent_id) batch->hostname = offers_.hostnames[status.agent_id->value];
      spdlog::info("adopted task {} from before the restart ({})", status.task_id.value, v1::Name(status.state));
    }
  }
  if (batch == nullptr && status.state == TaskState::kFinished && status.data && LateResult(status)) {
    Acknowledge(status);
    MaybeFinish();
    return;
  }
  if (batch == nullptr) {
    // Not ours, over already (a late duplicate, a superseded attempt), or a batch of a
    // previous run whose numbers nobody knows any more.
    spdlog::warn("update {} for unknown task {}", v1::Name(status.state), Excerpt(status.task_id.value));
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
  batch->awaiting_answer = false;  // any update about the task answers the question
  if (status.state == TaskState::kStarting || status.state == TaskState::kRunning ||
      (status.state == TaskState::kFinished && status.data)) {
    offers_.last_start = loop_.Now();
  }
  spdlog::debug("task {}: {}{}", status.task_id.value, v1::Name(status.state),
                status.message ? " (" + Excerpt(*status.message) + ")" : "");
  if (batch->fetching) {
    // The task is over and its results are on the way; the fetches decide.
  } else if (status.state == TaskState::kFinished && !status.data &&
             status.reason == v1::TaskReason::kReconciliation) {
    // Reconciliation answers never carry data (§5.10): the task did finish, and the agent
    // retransmits its own TASK_FINISHED, with the result, until we acknowledge it.
    spdlog::debug("task {} finished per reconciliation; waiting for the agent's update", status.task_id.value);
  } else if (status.state == TaskState::kFinished) {
    OnFinished(*batch, status);
  } else {
    OnFailedUpdate(*batch, status);
  }
  Acknowledge(status);  // after the state change is recorded
  MaybeFinish();
}

// Any state but FINISHED.
void Scheduler::OnFailedUpdate(Batch& batch, const v1::TaskStatus& status) {
  bool single = batch.ids.size() == 1;
  switch (status.state) {
    case TaskState::kStaging:
    case TaskState::kStarting:
    case TaskState::kRunning:
    case TaskState::kKilling:
      if (status.agent_id) batch.agent_id = status.agent_id->value;
      batch.unconfirmed = false;  // the master has it
      return;
    case TaskState::kFinished:
      return;  // handled by OnFinished
    case TaskState::kUnknownState:
      // A reconciliation answer for a task the master lost track of: run it again (free if
      // its ACCEPT may never have reached the master).
      Settle(batch, "task unknown to the master");
      return;
    case TaskState::kError:
    case TaskState::kFailed:
    case TaskState::kKilled:
    case TaskState::kLost:
    case TaskState::kDropped:
    case TaskState::kUnreachable:
    case TaskState::kGone:
    case TaskState::kGoneByOperator:
    case TaskState::kUnknown: {
      std::string why = std::string(v1::Name(status.state));
      if (status.reason) why += " (" + std::string(v1::Name(*status.reason)) + ")";
      if (status.message) why += ": " + Excerpt(*status.message);
      // Only a launch that never reached an agent (dropped, or an ACCEPT the master never
      // applied) is free; anything else may have run and counts against --max-retries.
      bool unstarted = status.state == TaskState::kDropped || batch.unconfirmed;
      bool whole_failure = status.state == TaskState::kFailed || status.state == TaskState::kError;
      std::vector<NumberId> ids = batch.ids;
      std::string task_id = batch.task_id;
      book_.Forget(task_id);  // `batch` is gone from here on
      if (unstarted) {
        RequeueNumbers(ids, Requeue::kUnstarted, true, why);
      } else if (!single && whole_failure) {
        // Something in the batch (or the executor) broke it: halves isolate the culprit.
        spdlog::warn("task {} ({} numbers) failed: {}; splitting it", task_id, ids.size(), why);
        RequeueNumbers(ids, Requeue::kSplit, true, why);
      } else {
        bool memory = status.reason == v1::TaskReason::kContainerLimitationMemory && status.state == TaskState::kFailed;
        bool invalid = status.reason == v1::TaskReason::kTaskInvalid || status.state == TaskState::kError;
        // A lone number's deterministic failures are not retried.
        RequeueNumbers(ids, Requeue::kStarted, !(single && (memory || invalid)), why);
      }
      return;
    }
  }
}

void Scheduler::OnFinished(Batch& batch, const v1::TaskStatus& status) {
  batch.unconfirmed = false;
  std::string task_id = batch.task_id;
  auto decoded = DecodeResultList(status.data.value_or(""), book_.number(batch.ids[0]));
  // Check everything before using anything: a result that names a number twice, or one not
  // in the batch, or digits of the wrong shape, is a broken result and the batch runs again.
  std::string problem;
  std::unordered_set<NumberId> members(batch.ids.begin(), batch.ids.end());
  std::unordered_set<NumberId> named;
  std::vector<std::pair<NumberId, ResultEntry*>> entries;
  if (!decoded.ok()) {
    problem = decoded.error().message;
  } else {
    for (ResultEntry& entry : decoded.value().entries) {
      auto id = book_.workload().Find(entry.n);
      if (!id || !members.contains(*id) || !named.insert(*id).second) {
        problem = fmt::format("{} {}", entry.n, !id || !members.contains(*id) ? "is not in the batch" : "is named twice");
        break;
      }
      if (const auto* digits = std::get_if<std::string>(&entry.value);
          digits != nullptr && (digits->size() != FactorialDigits(entry.n) || !AllDigits(*digits))) {
        problem = fmt::format("a result of the wrong shape for {}! ({} digits, expected {})", entry.n, digits->size(),
                              FactorialDigits(entry.n));
        break;
      }
      entries.emplace_back(*id, &entry);
    }
    if (problem.empty() && !decoded.value().files.empty() && !fetcher_.KnowsAgent(batch.agent_id)) {
      problem = "no address known for agent " + (batch.agent_id.empty() ? "(none given)" : batch.agent_id);
    }
  }
  if (!problem.empty()) {
    std::vector<NumberId> ids = batch.ids;
    book_.Forget(task_id);
    RequeueNumbers(ids, Requeue::kStarted, true, "TASK_FINISHED with an unreadable result: " + problem);
    return;
  }
  if (status.agent_id) batch.agent_id = status.agent_id->value;
  for (auto& [id, entry] : entries) {
    if (book_.state(id) != NumberState::kLaunched) continue;  // a late result of an older attempt came first
    if (auto* digits = std::get_if<std::string>(&entry->value)) {
      Complete(id, true, std::move(*digits), &batch);
    } else if (const auto* failure = std::get_if<ResultFailure>(&entry->value)) {
      // One number of the batch failed; the others did not: it runs again alone.
      std::string why = fmt::format("{} in batch {}: {}", ReasonName(failure->reason), task_id, failure->message);
      RequeueNumbers(std::span(&id, 1), Requeue::kStarted, true, why);
    }
  }
  // Larger results wait in the agent's sandbox; the task is over, so the master forgets it.
  for (const auto& [id, entry] : entries) {
    if (const auto* slice = std::get_if<ResultFileSlice>(&entry->value)) {
      FetchFile(task_id, ResultFile{slice->path, slice->size, slice->sha256}, entry->n, slice);
    }
  }
  for (const ResultFile& file : decoded.value().files) FetchFile(task_id, file, 0, nullptr);
  if (batch.fetches == 0) Settle(batch, "its result did not include it");
}

// The inline result of a single-number task that is over for us (superseded by a newer
// attempt, or from before a restart): as good as a new one if its number is not final yet.
bool Scheduler::LateResult(const v1::TaskStatus& status) {
  auto parsed = JobBook::ParseTaskId(status.task_id.value);
  if (!parsed) return false;
  auto id = book_.workload().Find(parsed->first);
  if (!id || IsFinal(book_.state(*id))) return false;
  auto decoded = DecodeResultList(*status.data, parsed->first);
  if (!decoded.ok() || !decoded.value().files.empty() || decoded.value().entries.size() != 1) return false;
  auto* digits = std::get_if<std::string>(&decoded.value().entries[0].value);
  if (digits == nullptr || decoded.value().entries[0].n != parsed->first || digits->size() != FactorialDigits(parsed->first) ||
      !AllDigits(*digits)) {
    return false;
  }
  spdlog::info("{}! arrived from an earlier attempt, {}", parsed->first, status.task_id.value);
  Batch late;
  late.task_id = status.task_id.value;
  if (status.agent_id) {
    late.agent_id = status.agent_id->value;
    late.hostname = offers_.hostnames[late.agent_id];
  }
  late.launched_at = loop_.Now();
  Complete(*id, true, std::move(*digits), &late);
  return true;
}

void Scheduler::FetchFile(const std::string& task_id, const ResultFile& file, std::uint64_t slice_n,
                          const ResultFileSlice* slice) {
  Batch& batch = *book_.FindTask(task_id);
  batch.fetching = true;
  ++batch.fetches;
  auto done = [this, task_id](NumberId id, std::string digits) {
    Batch* owner = book_.FindTask(task_id);
    if (owner != nullptr && book_.state(id) == NumberState::kLaunched) Complete(id, true, std::move(digits), owner);
  };
  auto finished = [this, task_id, path = file.path](const Status& status) {
    if (!status.ok()) spdlog::warn("fetching {} of task {} failed: {}", path, task_id, status.error().message);
    FetchDone(task_id);
  };
  if (slice != nullptr) {
    // The single-number form: a slice of a file holding nothing but n!'s digits.
    fetcher_.Fetch(batch.agent_id, *slice, slice_n, [this, task_id, slice_n, done, finished](Result<std::string> digits) {
      if (digits.ok()) {
        if (auto id = book_.workload().Find(slice_n)) done(*id, std::move(digits).value());
        finished(OkStatus());
      } else {
        finished(digits.error());
      }
    });
    return;
  }
  std::vector<NumberId> ids = batch.ids;
  fetcher_.FetchFile(
      batch.agent_id, file,
      [this, ids = std::unordered_set<NumberId>(ids.begin(), ids.end())](std::uint64_t n) -> std::optional<NumberId> {
        auto id = book_.workload().Find(n);
        if (!id || !ids.contains(*id) || book_.state(*id) != NumberState::kLaunched) return std::nullopt;
        return id;
      },
      [done](NumberId id, std::string digits) { done(id, std::move(digits)); }, finished);
}

void Scheduler::FetchDone(const std::string& task_id) {
  Batch* batch = book_.FindTask(task_id);
  if (batch == nullptr) return;
  if (--batch->fetches > 0) return;
  Settle(*batch, "its result files did not deliver it");
  MaybeFinish();
}

// The batch is over: numbers it did not deliver run again (each fetch, each missing entry,
// counts as an attempt), and the task is forgotten.
void Scheduler::Settle(Batch& batch, const std::string& why) {
  std::vector<NumberId> left;
  for (NumberId id : batch.ids) {
    if (book_.state(id) == NumberState::kLaunched) left.push_back(id);
  }
  bool unstarted = batch.unconfirmed;
  std::string task_id = batch.task_id;
  book_.Forget(task_id);
  if (!left.empty()) {
    RequeueNumbers(left, unstarted ? Requeue::kUnstarted : Requeue::kStarted, true, "task " + task_id + ": " + why);
  }
}

void Scheduler::RequeueNumbers(std::span<const NumberId> ids, enum Requeue why, bool retryable,
                               const std::string& reason) {
  std::size_t before = book_.progress().pending;
  // Launches that never started fail a number (after kMaxUnstartedAttempts) only while no
  // task of ours has started for --offer-wait: otherwise they are races with rescinds.
  bool stuck = loop_.Now() - offers_.last_start >= config_.offer_wait;
  std::vector<NumberId> out = book_.Requeue(ids, why, retryable, config_.max_retries, stuck);
  std::size_t back = book_.progress().pending - before;
  if (back > 0) {
    if (back == 1) {
      spdlog::warn("{}! runs again ({})", book_.number(ids[0]), reason);
    } else {
      spdlog::warn("{} numbers run again ({})", back, reason);
    }
    ReviveSoon();
  }
  for (NumberId id : out) {
    spdlog::error("{}! failed: {}", book_.number(id), reason);
    Complete(id, false, reason, nullptr);
  }
}

void Scheduler::Complete(NumberId id, bool ok, std::string digits_or_error, const Batch* batch) {
  book_.Finish(id, ok);
  if (!ok) exit_code_ = 1;
  NumberResult result;
  result.n = book_.number(id);
  result.ok = ok;
  (ok ? result.digits : result.error) = std::move(digits_or_error);
  if (batch != nullptr) {
    result.task_id = batch->task_id;
    result.agent_id = batch->agent_id;
    result.agent_hostname = batch->hostname;
    result.seconds = std::chrono::duration<double>(loop_.Now() - batch->launched_at).count();
  }
  if (config_.store != nullptr) {  // journal first: a crash after this never recomputes n
    if (auto saved = config_.store->Append(result); !saved.ok()) {
      spdlog::error("cannot journal {}!: {}", result.n, saved.error().message);
    }
  }
  if (hooks_.on_result) hooks_.on_result(result);
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

// After the events already read: RESCINDs of the other offers of a launch that did not
// happen often arrive together, and each may take back a call (a DECLINE with the hour-long
// filter, a SUPPRESS) that would otherwise need this REVIVE.
void Scheduler::ReviveSoon() {
  if (revive_posted_) return;
  revive_posted_ = true;
  loop_.Post([this, alive = std::weak_ptr<int>(alive_)] {
    if (alive.expired()) return;
    revive_posted_ = false;
    if (book_.progress().pending > 0) Revive();
  });
}

void Scheduler::Revive() {
  // SUPPRESS, or an hour-long decline filter, holds back every offer until REVIVE.
  if (!(offers_.suppressed || offers_.idle_filter) || state_ != State::kSubscribed) return;
  offers_.idle_declines.clear();
  // A SUPPRESS still queued is simply not sent: with a slow master, SUPPRESS and REVIVE
  // after every launch that comes back would delay the next launch by two answers.
  if (offers_.suppressed && connection_.Withdraw(offers_.suppress_ticket)) {
    offers_.suppressed = false;
    if (!offers_.idle_filter) return;
  }
  ev::Call call;
  call.type = ev::CallType::kRevive;
  call.revive.emplace();
  SendCall(std::move(call));
  offers_.suppressed = false;
  offers_.idle_filter = false;
}

void Scheduler::ScheduleCheck() {
  timers_.check = loop_.After(std::chrono::seconds(1), [this] {
    timers_.check.reset();
    CheckUnschedulable();
  });
}

// A pending number is unschedulable when, for --offer-wait, no offer could hold it while
// nothing of ours was running (a running task gives its resources back when it ends). Only
// recent offers count: an agent that is gone no longer makes room for anything.
void Scheduler::CheckUnschedulable() {
  if (state_ == State::kExited || state_ == State::kTearingDown) return;
  TimePoint now = loop_.Now();
  CheckRefusals();
  if (state_ != State::kSubscribed && state_ != State::kDisconnected) return;
  ReconcileUnanswered();
  // The offer wait runs only while subscribed: without a master nothing can be offered, and a
  // master that is unreachable for a while does not make a number unschedulable.
  if (book_.progress().running > 0 || state_ != State::kSubscribed) offers_.busy_until = now;
  std::erase_if(offers_.recent, [&](const OfferHistory::Seen& seen) { return now - seen.at > config_.offer_wait; });
  offers_.largest_cpus = 0;
  offers_.largest_mem = 0;
  for (const auto& seen : offers_.recent) {
    offers_.largest_cpus = std::max(offers_.largest_cpus, seen.cpus);
    offers_.largest_mem = std::max(offers_.largest_mem, seen.mem);
  }
  // Nothing can have become schedulable while something of ours ran or was launched: its
  // resources come back when it ends.
  if (book_.progress().pending == 0 || now - offers_.busy_until < config_.offer_wait) {
    MaybeFinish();
    if (state_ == State::kSubscribed || state_ == State::kDisconnected) ScheduleCheck();
    return;
  }
  double min_cpus = config_.batch.batch_size == 1 ? config_.batch.task_cpus
                                                  : std::min(config_.batch.task_cpus, kMinTaskCpus);
  auto mem_of = [](std::uint64_t n) { return std::ceil(static_cast<double>(FactorialMemoryBytes(n)) / 1048576.0); };
  auto fits = [&](double mem) {
    return std::any_of(offers_.recent.begin(), offers_.recent.end(), [&](const OfferHistory::Seen& seen) {
      return min_cpus <= seen.cpus && mem <= seen.mem;
    });
  };
  std::vector<NumberId> overdue;
  book_.ForEachPending([&](NumberId id) {
    if (!fits(mem_of(book_.number(id)))) overdue.push_back(id);
    return true;
  });
  double wait_seconds = std::chrono::duration<double>(config_.offer_wait).count();
  std::string largest = offers_.recent.empty() ? "no offer at all"
                                               : fmt::format("the largest offer had {:g} cpus and {:g} MB",
                                                             offers_.largest_cpus, offers_.largest_mem);
  for (NumberId id : overdue) {
    if (book_.state(id) != NumberState::kPending) continue;
    std::string why = fmt::format("unschedulable: no usable offer within --offer-wait {:g} s (needs {:g} MB and at "
                                  "least {:g} cpus; {})",
                                  wait_seconds, mem_of(book_.number(id)), min_cpus, largest);
    spdlog::error("{}! failed: {}", book_.number(id), why);
    Complete(id, false, why, nullptr);
  }
  MaybeFinish();
  if (state_ == State::kSubscribed || state_ == State::kDisconnected) ScheduleCheck();
}

void Scheduler::MaybeFinish() {
  if (state_ != State::kSubscribed) return;
  if (book_.all_final()) Teardown(exit_code_, "all numbers are final");
}

void Scheduler::Interrupt(int code) {
  if (state_ == State::kExited || state_ == State::kTearingDown) return;
  if (config_.store != nullptr && !config_.teardown_on_stop) {
    spdlog::warn("stopping; framework {} and its running tasks are left for the next start (failover "
                 "timeout {} s)", framework_.id.value_or("(none yet)"), config_.framework.failover_timeout);
    Exit(code);
    return;
  }
  spdlog::warn("interrupted: killing running tasks and tearing down");
  if (state_ != State::kSubscribed) {
    Exit(code);  // nobody to tell; the failover timeout cleans up
    return;
  }
  for (const auto& [task_id, batch] : book_.batches()) {
    if (batch.fetching) continue;
    ev::Call kill;
    kill.type = ev::CallType::kKill;
    kill.kill.emplace().task_id = v1::TaskID{batch.task_id};
    if (!batch.agent_id.empty()) kill.kill->agent_id = v1::AgentID{batch.agent_id};
    SendCall(std::move(kill));
  }
  Teardown(code, "interrupted");
}

// TEARDOWN also kills every task and executor of the framework (§5.6.1).
void Scheduler::Teardown(int code, const std::string& why) {
  state_ = State::kTearingDown;
  exit_code_ = code;
  connection_.Drain();  // the master ends the stream; TEARDOWN's answer must still arrive
  spdlog::info("{}; tearing down framework {}", why, framework_.id.value_or("?"));
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
    timers_.teardown = loop_.After(std::chrono::milliseconds(200), [this, attempt] {
      timers_.teardown.reset();
      SendTeardown(attempt + 1);
    });
  });
}

// A 4xx says the call itself is refused (§5.3: malformed, or naming a framework, stream or
// offer the master does not know); 408 and 429 are only "not now". A 5xx or a broken
// connection says nothing about our calls.
void Scheduler::CallAnswered(const std::string& type, const Result<HttpResponse>& result) {
  if (!result.ok() || state_ != State::kSubscribed) return;
  long status = result.value().status;
  if (status >= 200 && status < 300) {
    refusals_ = {};
    return;
  }
  if (status < 400 || status >= 500 || status == 408 || status == 429) return;
  if (refusals_.count++ == 0) refusals_.since = loop_.Now();
  refusals_.last = fmt::format("{} answered {}{}", type, status,
                               result.value().body.empty() ? "" : " " + Excerpt(result.value().body));
  CheckRefusals();
}

void Scheduler::CheckRefusals() {
  if (state_ != State::kSubscribed || refusals_.count < config_.refused_calls_limit ||
      loop_.Now() - refusals_.since < config_.refused_calls_window) {
    return;
  }
  std::string why = fmt::format("the master refused every call for {:g} s ({} in a row; the last: {})",
                                std::chrono::duration<double>(loop_.Now() - refusals_.since).count(),
                                refusals_.count, refusals_.last);
  spdlog::critical("{}; giving up", why);
  Teardown(1, why);
}

void Scheduler::Exit(int code) {
  if (state_ == State::kExited) return;
  state_ = State::kExited;
  connection_.Stop();
  CancelTimers();
  hooks_.on_exit(code);
}

void Scheduler::CancelTimers() {
  for (auto* timer : {&timers_.check, &timers_.teardown}) {
    if (*timer) loop_.CancelTimer(**timer);
    timer->reset();
  }
}

CallQueue::Ticket Scheduler::SendCall(ev::Call call, std::function<void(bool)> done) {
  if (!framework_.id) {
    if (done) done(false);
    return 0;
  }
  call.framework_id = v1::FrameworkID{*framework_.id};
  std::string type(v1::scheduler::Name(call.type.value_or(ev::CallType::kUnknown)));
  return connection_.Send(v1::Serialize(call), [this, type, done = std::move(done)](Result<HttpResponse> result) {
    CallAnswered(type, result);
    bool accepted = result.ok() && (result.value().status == 202 || result.value().status == 200);
    if (!accepted) {
      std::string why = result.ok() ? std::to_string(result.value().status) + " " + Excerpt(result.value().body)
                                    : result.error().message;
      spdlog::warn("{} call failed: {}", type, why);
      // Lost calls are recovered by the protocol: unacknowledged updates are resent by the
      // agent, offers come back after their filter, and a broken master drops the stream.
    }
    if (done) done(accepted);
  });
}

}  // namespace factorial::scheduler
