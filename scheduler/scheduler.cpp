#include "scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

#include <spdlog/spdlog.h>

#include "factorial/cost_model.hpp"
#include "factorial/logging.hpp"
#include "factorial/resources.hpp"
#include "factorial/sizing.hpp"
#include "factorial/task_input.hpp"
#include "batch_shaper.hpp"
#include "state_store.hpp"

namespace factorial::scheduler {
namespace {

namespace ev = v1::scheduler;
using v1::TaskState;

// Tasks not answered for are asked about again after this long.
constexpr auto kReconcileAgain = std::chrono::seconds(5);

// RECONCILE of `tasks`; none: every task of the framework (implicit reconciliation).
ev::Call ReconcileCall(const std::vector<TaskQuestion>& tasks) {
  ev::Call call;
  call.type = ev::CallType::kReconcile;
  auto& reconcile = call.reconcile.emplace();
  for (const auto& task : tasks) {
    reconcile.tasks.push_back({v1::TaskID{task.task_id},
                               task.agent_id.empty() ? std::nullopt : std::optional(v1::AgentID{task.agent_id})});
  }
  return call;
}

}  // namespace

Scheduler::Scheduler(EventLoop& loop, SchedulerConfig config, const Workload& workload, ResultCallback on_result,
                     ExitCallback on_exit)
    : loop_(loop),
      config_(std::move(config)),
      hooks_{std::move(on_result), std::move(on_exit), {}, {}},
      link_(loop, config_, LinkHooks()),
      book_(workload, &CostNanoseconds),
      fetcher_(loop, config_.tls, config_.credential, /*slice_crc32c=*/config_.store != nullptr,
               config_.download_memory),
      results_(book_, fetcher_, ResultOutcomes()),
      desk_(desk_port_, OfferPolicy{.refuse_seconds_busy = config_.refuse_seconds_busy,
                                    .refuse_seconds_idle = config_.refuse_seconds_idle,
                                    .offer_wait = config_.offer_wait}) {
  if (config_.store != nullptr) {
    // A task over is closed in the journal, so a restart does not wait on it; durable with
    // the next commit, and a replay that misses it finds its numbers final or the task gone.
    book_.OnForget([store = config_.store](const Batch& batch) {
      if (auto closed = store->RecordOver(batch.task_id); !closed.ok()) {
        spdlog::warn("--state-dir {}: {}", store->dir(), closed.error().message);
      }
    });
  }
}

Scheduler::~Scheduler() { CancelTimers(); }

FrameworkLink::Hooks Scheduler::LinkHooks() {
  return {.event = [this](const ev::Event& event) { HandleEvent(event); },
          .subscribed = [this](const FrameworkLink::Subscription& subscription) { OnSubscribed(subscription); },
          .disconnected = [this] { Disconnected(); },
          .failed = [this] { Exit(1); },
          .refused = [this](const std::string& why) { Teardown(1, why); },
          // Every number is final: a new framework would only be torn down again.
          .register_anew =
              [this] {
                if (!book_.all_final()) return true;
                Exit(exit_code_);
                return false;
              }};
}

TaskResults::Outcomes Scheduler::ResultOutcomes() {
  return {.done = [this](NumberId id, std::string digits, std::optional<DigitsSlice> slice,
                         const Batch& batch) { Complete(id, true, std::move(digits), &batch, std::move(slice)); },
          .again = [this](std::span<const NumberId> ids, bool retryable, const std::string& why,
                          const Batch& from) { RequeueNumbers(ids, Requeue::kStarted, retryable, why, &from); },
          .settle = [this](const std::string& task_id, const std::string& why) { Settle(task_id, why); },
          .fetched = [this] { MaybeFinish(); }};
}

void Scheduler::Start() {
  std::optional<std::string> framework_id;
  if (config_.store != nullptr) {
    framework_id = config_.store->framework_id();
    std::size_t resumed = 0;
    // Their lines are in the journal or the placed output, and the output has them already
    // (ResultSink::Resume, ResumePlaced).
    auto resume = [&](std::uint64_t n, bool ok) {
      auto id = book_.workload().Find(n);
      if (!id || IsFinal(book_.state(*id))) return;
      book_.Finish(*id, ok);
      if (!ok) exit_code_ = 1;
      ++resumed;
    };
    for (const auto& saved : config_.store->replayed()) resume(saved.n, saved.ok);
    for (const auto& placed : config_.store->placed()) resume(placed.at.n, placed.at.ok);
    std::size_t adopted = AdoptJournaled();
    if (resumed > 0 || framework_id || adopted > 0) {
      spdlog::info("resuming from {}: {} number(s) already final, {} task(s) launched before and not over{}",
                   config_.store->dir(), resumed, adopted, framework_id ? ", framework " + *framework_id : std::string());
    }
  }
  desk_.Start();
  if (book_.empty() || (book_.all_final() && !framework_id)) {
    Exit(exit_code_);
    return;
  }
  link_.Start(std::move(framework_id));
}

// Tasks the journal says were launched and are not over run on (within the framework's failover
// timeout) and are adopted as they are: their numbers are not launched again, and the master is
// asked about each once subscribed. A number named by two tasks (retried while an earlier
// task's files were still fetched) belongs to the later. A task with nothing left to deliver
// is closed.
std::size_t Scheduler::AdoptJournaled() {
  const auto& open = config_.store->open_batches();
  std::vector<bool> claimed(book_.size());
  auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  std::size_t adopted = 0;
  for (auto it = open.rbegin(); it != open.rend(); ++it) {
    std::vector<NumberId> ids;
    for (std::uint64_t n : it->numbers) {
      auto id = book_.workload().Find(n);
      if (!id || claimed[*id]) continue;
      claimed[*id] = true;
      ids.push_back(*id);
    }
    auto age = std::chrono::milliseconds(std::max<std::int64_t>(0, wall_ms - it->launched_unix_ms));
    Placement where{it->agent_id, it->hostname, it->cpus, it->mem};
    const Batch* batch = book_.AdoptBatch(it->task_id, std::move(ids), where,
                                          loop_.Now() - std::chrono::duration_cast<Duration>(age));
    if (batch == nullptr) {
      static_cast<void>(config_.store->RecordOver(it->task_id));
      continue;
    }
    fetcher_.RememberAgent(it->agent_id, it->agent_url);
    spdlog::debug("adopting task {} ({} number(s)) on agent {}", it->task_id, batch->ids.size(), it->agent_id);
    ++adopted;
  }
  return adopted;
}

// Queued calls are dropped with the stream. An ACCEPT among them may never have reached the
// master: reconciliation after resubscribing decides, and a launch it never saw is free.
void Scheduler::Disconnected() {
  for (const auto& task_id : desk_.Disconnected()) book_.MarkUnconfirmed(task_id);
}

// ---- events ------------------------------------------------------------------------------

void Scheduler::HandleEvent(const ev::Event& event) {
  switch (event.type) {
    case ev::EventType::kOffers:
      if (event.offers && link_.state() == State::kSubscribed) OnOffers(event.offers->offers);
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
    case ev::EventType::kMessage:
      if (auto report = ParseProgressReport(event.message ? event.message->data : std::string());
          report && book_.FindTask(report->task_id) != nullptr) {
        activity_.Progress(std::move(*report), loop_.Now());
      } else {
        spdlog::debug("message from executor ({} bytes)", event.message ? event.message->data.size() : 0);
      }
      break;
    case ev::EventType::kHeartbeat:
    case ev::EventType::kSubscribed:  // the link's own
    case ev::EventType::kError:
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

void Scheduler::OnSubscribed(const FrameworkLink::Subscription& subscription) {
  desk_.Subscribed();
  Reconcile(subscription);
  // Work that went back to pending meanwhile must not wait behind an earlier idle filter.
  if (book_.progress().pending > 0) desk_.Revive();
  if (hooks_.on_subscribed) hooks_.on_subscribed(*link_.framework_id());
  if (!check_timer_) ScheduleCheck();
  MaybeFinish();
}

// Explicit reconciliation of every task we think is live (§5.10).
void Scheduler::Reconcile(const FrameworkLink::Subscription& subscription) {
  if (subscription.first_after_restart) {
    // The journal names the tasks launched before the restart (adopted already, asked about
    // below); the master is also asked for every task of the framework (implicit
    // reconciliation), so single-number tasks of a journal without launch records are adopted
    // by name, and nothing is launched before the answers.
    link_.Send(ReconcileCall({}));
    adopt_until_ = loop_.Now() + config_.adopt_window;
    spdlog::info("restarted: reconciling every task of framework {}", *link_.framework_id());
  } else if (subscription.resubscribed) {
    book_.AwaitAnswers();
  }
  // Asked again until answered (ReconcileUnanswered): a new leader drops the question for
  // tasks on agents that have not reregistered with it yet.
  auto questions = book_.Questions(loop_.Now(), kReconcileAgain);
  if (!questions.empty()) {
    spdlog::info("reconciling {} task(s)", questions.size());
    link_.Send(ReconcileCall(questions));
  }
}

void Scheduler::OnOffers(const std::vector<v1::Offer>& all_offers) {
  desk_.Offered(all_offers);  // even offers we decline teach us where agents are
  for (const auto& offer : all_offers) fetcher_.LearnAgent(offer);
  // Still learning which tasks survived the restart, or stopping.
  if (loop_.Now() < adopt_until_ || stop_code_) {
    std::vector<v1::OfferID> all;
    for (const auto& offer : all_offers) all.push_back(offer.id);
    desk_.Decline(std::move(all), 0.5);
    return;
  }
  const std::vector<v1::Offer> offers = ScreenOffers(all_offers);  // not those of agents set aside
  ExecutorNeeds needs{config_.executor.executor_id.value, ScalarTotal(config_.executor.resources, "cpus"),
                      ScalarTotal(config_.executor.resources, "mem"), ScalarTotal(config_.executor.resources, "disk")};
  std::vector<v1::Offer> trimmed;
  if (desk_.AnyDiskFailed()) trimmed = WithoutFailedDisks(offers);
  const std::vector<v1::Offer>& planned = desk_.AnyDiskFailed() ? trimmed : offers;
  // The cpus the work is shared over: those offered for tasks (not the executors' share),
  // and those our running tasks hold.
  double cpus = OfferedTaskCpus(planned, needs);
  for (const auto& [id, batch] : book_.batches()) cpus += batch.fetching ? 0 : batch.cpus;
  BatchShaper shaper(book_, config_.batch, cpus);
  auto plans = PlanOffers(planned, shaper, needs);
  book_.EndPlanning();
  std::size_t launched = 0;
  std::vector<v1::OfferID> unused;
  std::vector<OfferTasks> accepts;
  for (const auto& plan : plans) {
    const v1::Offer& offer = offers[plan.offer_index];
    if (plan.launches.empty()) {
      unused.push_back(offer.id);
      continue;
    }
    accepts.push_back({&offer, PlanTasks(offer, plan.launches, shaper.batches())});
    launched += plan.launches.size();
  }
  if (!JournalLaunches(accepts)) {
    WithdrawLaunches(accepts, "the journal could not record the launch");
    for (const auto& accept : accepts) unused.push_back(accept.offer->id);
    accepts.clear();
    launched = 0;
    loop_.Post([this] { Interrupt(1); });
  }
  for (auto& accept : accepts) {
    desk_.Accept(accept.offer->id, std::move(accept.tasks),
                 [this](const std::vector<std::string>& task_ids) { AcceptFailed(task_ids); });
  }
  std::size_t used_offers = offers.size() - unused.size();
  if (launched > 0) desk_.Launched();
  desk_.Unused(std::move(unused), book_.progress().pending > 0);
  if (launched > 0) {
    spdlog::info("launched {} task(s) on {} offer(s); {} number(s) pending", launched, used_offers,
                 book_.progress().pending);
  }
}

// The offers as the planner sees them: an agent whose disk failed a task of ours (full, or
// broken) keeps its cpus and memory for tasks whose results travel inline, but its disk is not
// trusted with result files again.
std::vector<v1::Offer> Scheduler::WithoutFailedDisks(const std::vector<v1::Offer>& offers) const {
  std::vector<v1::Offer> planned = offers;
  for (auto& offer : planned) {
    if (!desk_.HasDiskFailed(offer.agent_id.value)) continue;
    std::erase_if(offer.resources, [](const v1::Resource& r) { return r.name == "disk"; });
  }
  return planned;
}

std::vector<v1::TaskInfo> Scheduler::PlanTasks(const v1::Offer& offer, const std::vector<PlannedLaunch>& launches,
                                               const std::vector<std::vector<NumberId>>& batches) {
  std::vector<v1::TaskInfo> tasks;
  for (const auto& launch : launches) {
    Placement where{offer.agent_id.value, offer.hostname, ScalarTotal(launch.task_resources, "cpus"),
                    ScalarTotal(launch.task_resources, "mem")};
    const Batch& batch = book_.Launch(batches[launch.pending_index], where, loop_.Now());
    v1::TaskInfo task;
    std::vector<std::uint64_t> numbers;
    numbers.reserve(batch.ids.size());
    for (NumberId id : batch.ids) numbers.push_back(book_.number(id));
    std::string data = EncodeTaskNumbers(numbers);
    // The Mesos UI lists tasks by name and shows their labels: which job, how big a batch.
    double work = 0;
    for (std::uint64_t n : numbers) work += EstimatedCpuSeconds(n);
    task.name = numbers.size() == 1 ? fmt::format("{}: {}!", config_.framework.name, numbers[0])
                                    : fmt::format("{}: {} numbers from {}!, ~{:.1f} cpu s", config_.framework.name,
                                                  numbers.size(), numbers[0], work);
    task.labels = v1::Labels{{"job", config_.framework.name},
                             {"batch_size", std::to_string(numbers.size())},
                             {"estimated_cpu_seconds", fmt::format("{:.3f}", work)}};
    task.task_id.value = batch.task_id;
    task.agent_id = offer.agent_id;
    task.resources = launch.task_resources;
    task.executor = config_.executor;
    task.data = std::move(data);
    tasks.push_back(std::move(task));
  }
  return tasks;
}

// With --state-dir, every task of the round is in the journal and durable before any of its
// ACCEPTs goes out (one fdatasync for the round, whatever its number of tasks and offers), so
// a restarted scheduler knows every task that may be running. False: the journal failed.
bool Scheduler::JournalLaunches(const std::vector<OfferTasks>& accepts) {
  StateStore* store = config_.store;
  if (store == nullptr || accepts.empty()) return true;
  std::int64_t wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  Status written = OkStatus();
  for (const auto& accept : accepts) {
    for (const auto& task : accept.tasks) {
      const Batch* batch = book_.FindTask(task.task_id.value);
      if (batch == nullptr || !written.ok()) continue;
      JournaledBatch record{.task_id = batch->task_id,
                            .agent_id = batch->agent_id,
                            .hostname = batch->hostname,
                            .agent_url = fetcher_.AgentUrl(batch->agent_id),
                            .cpus = batch->cpus,
                            .mem = batch->mem,
                            .launched_unix_ms = wall_ms,
                            .numbers = {}};
      record.numbers.reserve(batch->ids.size());
      for (NumberId id : batch->ids) record.numbers.push_back(book_.number(id));
      written = store->RecordLaunch(record);
    }
  }
  if (written.ok()) written = store->Commit();
  if (written.ok()) return true;
  spdlog::error("--state-dir {}: cannot journal {} launch(es): {}; stopping", store->dir(), accepts.size(),
                written.error().message);
  return false;
}

// Launches planned but never sent: their numbers are pending again at no cost.
void Scheduler::WithdrawLaunches(const std::vector<OfferTasks>& accepts, const std::string& why) {
  std::vector<NumberId> ids;
  for (const auto& accept : accepts) {
    for (const auto& task : accept.tasks) {
      Batch withdrawn = book_.Forget(task.task_id.value);
      ids.insert(ids.end(), withdrawn.ids.begin(), withdrawn.ids.end());
    }
  }
  if (!ids.empty()) RequeueNumbers(ids, Requeue::kWithdrawn, true, why);
}

// The master may or may not have applied a failed ACCEPT (the desk declined its offer, which
// the master ignores if it was used): its tasks are reconciled, and the answers relaunch those
// the master never saw (TASK_LOST or TASK_UNKNOWN) at no cost to their numbers.
void Scheduler::AcceptFailed(const std::vector<std::string>& task_ids) {
  for (const auto& task_id : task_ids) {
    book_.MarkUnconfirmed(task_id);
    book_.AwaitAnswer(task_id);
  }
  ReconcileUnanswered();
}

// Explicit reconciliation of tasks the master was asked about and has not answered for (a
// failed ACCEPT, a resubscription), again every few seconds until it does, so no number
// waits forever on a call that was lost or a question that was dropped.
void Scheduler::ReconcileUnanswered() {
  if (link_.state() != State::kSubscribed) return;
  auto questions = book_.Questions(loop_.Now(), kReconcileAgain);
  if (!questions.empty()) link_.Send(ReconcileCall(questions));
}

// A launch whose ACCEPT the desk took back never happened: its numbers are pending again, and
// the attempt costs them nothing (the master never saw it).
void Scheduler::OnRescind(const v1::OfferID& offer) {
  std::vector<NumberId> ids;
  for (const auto& task_id : desk_.Rescinded(offer)) {
    Batch withdrawn = book_.Forget(task_id);
    ids.insert(ids.end(), withdrawn.ids.begin(), withdrawn.ids.end());
  }
  if (!ids.empty()) {
    RequeueNumbers(ids, Requeue::kWithdrawn, true, "offer " + offer.value + " was rescinded before the launch");
  }
}

void Scheduler::OnUpdate(const v1::TaskStatus& status) {
  if (DuplicateUpdate(status)) return;
  const Batch* batch = book_.FindTask(status.task_id.value);
  if (batch == nullptr) batch = Adopt(status);
  if (batch == nullptr && status.state == TaskState::kFinished &&
      results_.Late(status, status.agent_id ? desk_.Hostname(status.agent_id->value) : std::string(), loop_.Now())) {
    link_.Acknowledge(status);
    MaybeFinish();
    return;
  }
  if (batch == nullptr) {
    UnknownTask(status);
    return;
  }
  book_.Answered(batch->task_id);
  if (status.state == TaskState::kStarting || status.state == TaskState::kRunning ||
      (status.state == TaskState::kFinished && status.data)) {
    desk_.TaskStarted();
    health_.TaskStarted(batch->task_id, batch->agent_id);
  }
  spdlog::debug("task {}: {}{}", status.task_id.value, v1::Name(status.state),
                status.message ? " (" + Excerpt(*status.message) + ")" : "");
  bool reconciled_finish = status.state == TaskState::kFinished && !status.data;
  if (v1::IsTerminal(status.state) && !batch->fetching && !reconciled_finish) {
    activity_.TaskOver(*batch, status, loop_.Now());
    desk_.TaskEnded();  // its cpus are free now
  }
  if (batch->fetching) {
    // The task is over and its results are on the way; the fetches decide.
  } else if (status.state == TaskState::kFinished && !status.data &&
             status.reason == v1::TaskReason::kReconciliation) {
    // Reconciliation answers never carry data (§5.10): the task did finish, and the agent
    // retransmits its own TASK_FINISHED, with the result, until we acknowledge it.
    spdlog::debug("task {} finished per reconciliation; waiting for the agent's update", status.task_id.value);
  } else if (status.state == TaskState::kFinished) {
    results_.Finished(*batch, status, AcknowledgeWhenSafe(status));
    MaybeFinish();
    return;
  } else if (status.state == TaskState::kRunning && status.data) {
    // Result files the task closed while it computes: fetched now, acknowledged once safe.
    book_.Confirm(batch->task_id, status.agent_id ? std::optional(status.agent_id->value) : std::nullopt);
    results_.Parts(*batch, status, AcknowledgeWhenSafe(status));
    return;
  } else {
    OnFailedUpdate(*batch, status);
  }
  if (v1::IsTerminal(status.state)) health_.TaskOver(status.task_id.value);
  link_.Acknowledge(status);  // after the state change is recorded
  MaybeFinish();
}

// A copy the agent resent of an update that carries results: ignored while they are being
// handled (the acknowledgement follows), acknowledged again once they were.
bool Scheduler::DuplicateUpdate(const v1::TaskStatus& status) {
  if (!status.uuid) return false;
  if (acks_.in_progress.contains(*status.uuid)) {
    spdlog::debug("task {}: {} sent again while its results are handled", status.task_id.value,
                  v1::Name(status.state));
    return true;
  }
  if (!acks_.recent.contains(*status.uuid)) return false;
  link_.Acknowledge(status);
  return true;
}

std::function<void()> Scheduler::AcknowledgeWhenSafe(const v1::TaskStatus& status) {
  if (!status.uuid) return [] {};
  // Only what the acknowledgement needs: the data may be 64 KiB.
  v1::TaskStatus ack;
  ack.task_id = status.task_id;
  ack.agent_id = status.agent_id;
  ack.uuid = status.uuid;
  ack.executor_id = status.executor_id;
  // A result list with `file` lines: the executor keeps those files until told they are safe.
  const std::string& data = status.data.value_or(std::string());
  bool names_files = data.starts_with("FR1\n") && data.find("\nfile ") != std::string::npos;
  acks_.in_progress.insert(*status.uuid);
  auto send = [this, ack, names_files] {
    acks_.in_progress.erase(*ack.uuid);
    if (acks_.recent.insert(*ack.uuid).second) {
      acks_.recent_order.push_back(*ack.uuid);
      if (acks_.recent_order.size() > Acks::kRecent) {
        acks_.recent.erase(acks_.recent_order.front());
        acks_.recent_order.pop_front();
      }
    }
    link_.Acknowledge(ack);
    if (names_files && ack.agent_id && ack.executor_id) {
      ev::Call notice;
      notice.type = ev::CallType::kMessage;
      notice.message.emplace() = {*ack.agent_id, *ack.executor_id, EncodeFetchedNotice({*ack.uuid})};
      link_.Send(std::move(notice));
    }
    MaybeFinish();  // the last results are safe: the framework may go
  };
  return [this, send = std::move(send)] {
    if (hooks_.when_durable) {
      hooks_.when_durable(send);
    } else {
      send();
    }
  };
}

// A live task we do not know, named like one of our single-number tasks for a pending number:
// launched by this framework before a restart, so it is taken over instead of computed again.
const Batch* Scheduler::Adopt(const v1::TaskStatus& status) {
  if (v1::IsTerminal(status.state) || status.state == TaskState::kUnknownState) return nullptr;
  std::optional<std::string> agent = status.agent_id ? std::optional(status.agent_id->value) : std::nullopt;
  const Batch* batch = book_.Adopt(status.task_id.value, agent, loop_.Now(), agent ? desk_.Hostname(*agent) : "");
  if (batch != nullptr) {
    spdlog::info("adopted task {} from before the restart ({})", status.task_id.value, v1::Name(status.state));
  }
  return batch;
}

// Not ours, over already (a late duplicate, a superseded attempt), or a batch of a previous run
// whose numbers nobody knows any more: killed if it still runs (§5.10).
void Scheduler::UnknownTask(const v1::TaskStatus& status) {
  spdlog::warn("update {} for unknown task {}", v1::Name(status.state), Excerpt(status.task_id.value));
  if (!v1::IsTerminal(status.state) && status.state != TaskState::kUnknownState && status.agent_id) {
    link_.Kill(status.task_id.value, status.agent_id->value);
  }
  link_.Acknowledge(status);
}

// Any state but FINISHED.
void Scheduler::OnFailedUpdate(const Batch& batch, const v1::TaskStatus& status) {
  switch (status.state) {
    case TaskState::kStaging:
    case TaskState::kStarting:
    case TaskState::kRunning:
    case TaskState::kKilling:
      book_.Confirm(batch.task_id, status.agent_id ? std::optional(status.agent_id->value) : std::nullopt);
      return;
    case TaskState::kFinished:
      return;  // handled by TaskResults::Finished
    case TaskState::kUnknownState:
      // A reconciliation answer for a task the master lost track of: run it again (free if
      // its ACCEPT may never have reached the master).
      Settle(batch.task_id, "task unknown to the master");
      return;
    case TaskState::kKilled:
      if (killed_at_stop_) return KilledAtStop(batch.task_id);
      TaskEnded(batch.task_id, status);
      return;
    case TaskState::kError:
    case TaskState::kFailed:
    case TaskState::kLost:
    case TaskState::kDropped:
    case TaskState::kUnreachable:
    case TaskState::kGone:
    case TaskState::kGoneByOperator:
    case TaskState::kUnknown:
      TaskEnded(batch.task_id, status, LaunchFailed(batch, status));
      return;
  }
}

// The task is over without a result: what that costs its numbers depends on how it ended.
void Scheduler::TaskEnded(std::string task_id, const v1::TaskStatus& status, bool launch_failed) {
  std::string why = std::string(v1::Name(status.state));
  if (status.reason) why += " (" + std::string(v1::Name(*status.reason)) + ")";
  if (status.message) why += ": " + Excerpt(*status.message);
  Batch ended = book_.Forget(task_id);
  bool single = ended.ids.size() == 1;
  // Only a launch that never reached an agent (dropped, or an ACCEPT the master never
  // applied) or whose executor never started is free; anything else may have run and counts
  // against --max-retries.
  bool unstarted = status.state == TaskState::kDropped || ended.unconfirmed || launch_failed;
  bool whole_failure = status.state == TaskState::kFailed || status.state == TaskState::kError;
  if (status.state == TaskState::kFailed && status.reason == v1::TaskReason::kContainerLimitationDisk) {
    // The agent's disk, not the numbers: they run elsewhere at no cost (halves, to fit
    // smaller disks), and the agent's disk is not given result files again. Bounded: each
    // agent fails so at most as often as tasks of ours were running there.
    DiskFailure(ended, status);
    RequeueNumbers(ended.ids, Requeue::kSplit, true, why, &ended);
  } else if (unstarted) {
    RequeueNumbers(ended.ids, Requeue::kUnstarted, true, why, &ended);
  } else if (!single && whole_failure) {
    // Something in the batch (or the executor) broke it: halves isolate the culprit.
    spdlog::warn("task {} ({} numbers) failed: {}; splitting it", task_id, ended.ids.size(), why);
    RequeueNumbers(ended.ids, Requeue::kSplit, true, why, &ended);
  } else {
    bool memory = status.reason == v1::TaskReason::kContainerLimitationMemory && status.state == TaskState::kFailed;
    bool invalid = status.reason == v1::TaskReason::kTaskInvalid || status.state == TaskState::kError;
    // A lone number's deterministic failures are not retried.
    RequeueNumbers(ended.ids, Requeue::kStarted, !(single && (memory || invalid)), why, &ended);
  }
}

// Said once per agent: which agent, what its disk did, and the executor's own words.
void Scheduler::DiskFailure(const Batch& ended, const v1::TaskStatus& status) {
  activity_.DiskError(ended);
  std::string agent_id = ended.agent_id.empty() && status.agent_id ? status.agent_id->value : ended.agent_id;
  std::string host = ended.hostname.empty() ? desk_.Hostname(agent_id) : ended.hostname;
  std::string message = status.message.value_or("");
  std::string what = "no room for its results";
  for (auto [error, said] : {std::pair{"No space left on device", "no space left on device"},
                             std::pair{"Disk quota exceeded", "disk quota exceeded"},
                             std::pair{"Input/output error", "input/output error"}}) {
    if (message.find(error) != std::string::npos) what = said;
  }
  // The executor's words after its own naming of the agent ("...: disk error in its sandbox: ").
  static constexpr std::string_view kCause = "in its sandbox: ";
  std::size_t cause = message.find(kCause);
  std::string detail = cause == std::string::npos ? message : message.substr(cause + kCause.size());
  std::string diagnosis =
      fmt::format("agent {}: {} in its sandbox (agent {}, task {}{}{})", host.empty() ? agent_id : host, what, agent_id,
                  ended.task_id, detail.empty() ? "" : ": ", Excerpt(detail));
  if (desk_.DiskFailed(agent_id, diagnosis)) {
    spdlog::error("{}; result files go to other agents from now on", diagnosis);
  }
}

// The batch is over: numbers it did not deliver run again (each fetch, each missing entry,
// counts as an attempt), and the task is forgotten.
void Scheduler::Settle(std::string task_id, const std::string& why) {
  health_.TaskOver(task_id);
  Batch ended = book_.Forget(task_id);
  std::vector<NumberId> left;
  for (NumberId id : ended.ids) {
    if (book_.state(id) == NumberState::kLaunched) left.push_back(id);
  }
  if (!left.empty()) {
    RequeueNumbers(left, ended.unconfirmed ? Requeue::kUnstarted : Requeue::kStarted, true,
                   "task " + task_id + ": " + why, &ended);
  }
}

void Scheduler::RequeueNumbers(std::span<const NumberId> ids, enum Requeue why, bool retryable,
                               const std::string& reason, const Batch* last) {
  std::size_t before = book_.progress().pending;
  // Launches that never started fail a number (after kMaxUnstartedAttempts) only while no
  // task of ours has started for --offer-wait: otherwise they are races with rescinds.
  std::vector<NumberId> out = book_.Requeue(ids, why, retryable, config_.max_retries, desk_.Stuck());
  std::size_t back = book_.progress().pending - before;
  if (back > 0) {
    if (back == 1) {
      spdlog::warn("{}! runs again ({})", book_.number(ids[0]), reason);
    } else {
      spdlog::warn("{} numbers run again ({})", back, reason);
    }
    desk_.ReviveSoon();
  }
  for (NumberId id : out) {
    spdlog::error("{}! failed: {}", book_.number(id), reason);
    Complete(id, false, reason, last);  // a failed number names its last attempt's task and agent
  }
}

void Scheduler::Complete(NumberId id, bool ok, std::string digits_or_error, const Batch* batch,
                         std::optional<DigitsSlice> slice) {
  book_.Finish(id, ok);
  if (!ok) exit_code_ = 1;
  NumberResult result;
  result.n = book_.number(id);
  result.ok = ok;
  (ok ? result.digits : result.error) = std::move(digits_or_error);
  result.digits_slice = std::move(slice);
  if (batch != nullptr) {
    result.task_id = batch->task_id;
    result.agent_id = batch->agent_id;
    result.agent_hostname = batch->hostname;
    result.seconds = std::chrono::duration<double>(loop_.Now() - batch->launched_at).count();
  }
  activity_.NumberResolved(result, batch, loop_.Now());
  if (hooks_.on_result) hooks_.on_result(result);  // which journals it first, with --state-dir
}

void Scheduler::ScheduleCheck() {
  check_timer_ = loop_.After(std::chrono::seconds(1), [this] {
    check_timer_.reset();
    CheckUnschedulable();
  });
}

void Scheduler::CheckUnschedulable() {
  if (!link_.live()) return;
  link_.CheckRefusals();
  if (!link_.live()) return;
  ReconcileUnanswered();
  // The offer wait runs only while subscribed: without a master nothing can be offered, and a
  // master that is unreachable for a while does not make a number unschedulable. Nothing can
  // have become schedulable while something of ours ran or was launched either: its resources
  // come back when it ends.
  bool waited = desk_.WaitedOut(book_.progress().running > 0 || link_.state() != State::kSubscribed);
  if (waited && book_.progress().pending > 0) FailUnschedulable();
  MaybeEndSetAside();
  MaybeFinish();
  if (link_.live()) ScheduleCheck();
}

// A pending number is unschedulable when, for --offer-wait, no offer could hold it while
// nothing of ours was running (a running task gives its resources back when it ends).
void Scheduler::FailUnschedulable() {
  double min_cpus = config_.batch.batch_size == 1 ? config_.batch.task_cpus
                                                  : std::min(config_.batch.task_cpus, kMinTaskCpus);
  auto mem_of = [](std::uint64_t n) { return std::ceil(static_cast<double>(FactorialMemoryBytes(n)) / 1048576.0); };
  std::vector<NumberId> overdue;
  book_.ForEachPending([&](NumberId id) {
    std::uint64_t n = book_.number(id);
    if (!desk_.CouldHold(min_cpus, mem_of(n), ResultDiskMegabytes(n))) overdue.push_back(id);
    return true;
  });
  for (NumberId id : overdue) {
    if (book_.state(id) != NumberState::kPending) continue;
    std::uint64_t n = book_.number(id);
    std::string why = desk_.Unschedulable(min_cpus, mem_of(n), ResultDiskMegabytes(n));
    spdlog::error("{}! failed: {}", book_.number(id), why);
    Complete(id, false, why, nullptr);
  }
}

}  // namespace factorial::scheduler
