#pragma once

// factorial-scheduler's protocol state machine (v1 scheduler API, mesos-v1-api.md §5, §9.1).
// Runs on one EventLoop thread: every callback is serial, so no state needs a lock. The
// subscription (framework ID, ordered calls, refusals, TEARDOWN) is a FrameworkLink's, offers
// and the calls about them an OfferDesk's, the work a JobBook's, what finished tasks deliver a
// TaskResults' (with a ResultFetcher for the sandbox); this class maps events to them.
//
// Work: each distinct number is computed once, in batch tasks shaped by a BatchShaper. A
// number's result arrives inline in the task's TASK_FINISHED or in result files fetched from the
// agent's sandbox. A batch that fails as a whole (FAILED, ERROR) is split in halves and run
// again; one that is lost (LOST, DROPPED, GONE, UNREACHABLE, KILLED not by us) runs again
// whole; a number that fails on its own is retried alone, up to max_retries times; a lone
// number's ERROR or out-of-memory failure is final. Every UPDATE carrying a uuid is
// acknowledged after its state change is recorded; one that carries results (a TASK_FINISHED,
// a TASK_RUNNING naming parts) only once they are safe: fetched, checked, handed to the output
// and durable there (`set_when_durable`). Until then the agent keeps the update, resends it
// (copies are ignored) and the executor keeps the files it names.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <optional>
#include <deque>
#include <unordered_set>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "factorial/event_loop.hpp"
#include "factorial/messages.hpp"
#include "agent_health.hpp"
#include "framework_link.hpp"
#include "job_activity.hpp"
#include "job_book.hpp"
#include "number_result.hpp"
#include "offer_desk.hpp"
#include "planner.hpp"
#include "result_fetcher.hpp"
#include "sandbox_reader.hpp"
#include "scheduler_config.hpp"
#include "task_results.hpp"
#include "workload.hpp"

namespace factorial::scheduler {

class Scheduler {
 public:
  using ResultCallback = std::function<void(const NumberResult&)>;
  using ExitCallback = std::function<void(int code)>;
  using Progress = scheduler::Progress;

  // `workload` must outlive the scheduler.
  Scheduler(EventLoop& loop, SchedulerConfig config, const Workload& workload, ResultCallback on_result,
            ExitCallback on_exit);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void Start();
  // SIGINT/SIGTERM: kill running tasks and wait for their last updates (up to kStopKillWait),
  // finish fetching the results of tasks that finished (up to kStopFetchWait), tear down,
  // exit with `code` (130/143). With a state store and
  // teardown_on_stop false, unfinished work is left running for the next start.
  void Interrupt(int code);
  static constexpr auto kStopFetchWait = std::chrono::seconds(20);
  // How long an interrupt waits for the last update of each task it killed: a task that
  // finished before its KILL arrived says TASK_FINISHED, with its results.
  static constexpr auto kStopKillWait = std::chrono::seconds(5);
  // Called on every successful (re)subscription (systemd readiness).
  void set_on_subscribed(std::function<void(const std::string&)> fn) { hooks_.on_subscribed = std::move(fn); }
  // `fn(then)` runs `then` once every result handed to on_result so far is durable (journaled
  // and committed with --state-dir, written to the output otherwise); it may never run it if
  // the output failed. Unset: a result is safe once handed over.
  using WhenDurable = std::function<void(std::function<void()> then)>;
  void set_when_durable(WhenDurable fn) { hooks_.when_durable = std::move(fn); }

  // Introspection for tests, progress and status.
  Progress progress() const { return book_.progress(); }
  bool subscribed() const { return link_.state() == State::kSubscribed; }
  const std::optional<std::string>& framework_id() const { return link_.framework_id(); }
  const std::string& current_master() const { return link_.url(); }
  const OfferDesk::Stats& offer_stats() const { return desk_.stats(); }
  const JobBook::Stats& task_stats() const { return book_.stats(); }
  const JobBook& book() const { return book_; }
  const JobActivity& activity() const { return activity_; }
  const AgentHealth& health() const { return health_; }

 private:
  using State = FrameworkLink::State;

  struct Hooks {
    ResultCallback on_result;
    ExitCallback on_exit;
    std::function<void(const std::string&)> on_subscribed;
    WhenDurable when_durable;
  };
  // Updates that carry results, from arrival until their acknowledgement is sent, and the
  // last kRecentAcks acknowledged (raw uuids): an agent resends an update it has no
  // acknowledgement for (first after 10 s), and a copy must not fetch again.
  struct Acks {
    static constexpr std::size_t kRecent = 4096;
    std::unordered_set<std::string> in_progress;
    std::unordered_set<std::string> recent;
    std::deque<std::string> recent_order;
  };
  // The desk's view of the rest: the loop's clock, the link's calls, the book's work.
  class DeskPort final : public OfferDesk::Port {
   public:
    explicit DeskPort(Scheduler& scheduler) : s_(scheduler) {}
    TimePoint Now() const override { return s_.loop_.Now(); }
    void Later(std::function<void()> fn) override { s_.loop_.Post(std::move(fn)); }
    void After(Duration delay, std::function<void()> fn) override { s_.loop_.After(delay, std::move(fn)); }
    bool Subscribed() const override { return s_.link_.state() == State::kSubscribed; }
    bool WorkPending() const override { return s_.book_.progress().pending > 0; }
    CallQueue::Ticket Send(v1::scheduler::Call call, std::function<void(bool)> done) override {
      return s_.link_.Send(std::move(call), std::move(done));
    }
    bool Withdraw(CallQueue::Ticket ticket) override { return s_.link_.Withdraw(ticket); }

   private:
    Scheduler& s_;
  };

  FrameworkLink::Hooks LinkHooks();
  TaskResults::Outcomes ResultOutcomes();
  void HandleEvent(const v1::scheduler::Event& event);
  void OnSubscribed(const FrameworkLink::Subscription& subscription);
  void Reconcile(const FrameworkLink::Subscription& subscription);
  void Disconnected();
  // The tasks planned for one offer.
  struct OfferTasks {
    const v1::Offer* offer = nullptr;
    std::vector<v1::TaskInfo> tasks;
  };
  std::size_t AdoptJournaled();
  void OnOffers(const std::vector<v1::Offer>& offers);
  std::vector<v1::Offer> WithoutFailedDisks(const std::vector<v1::Offer>& offers) const;
  std::vector<v1::TaskInfo> PlanTasks(const v1::Offer& offer, const std::vector<PlannedLaunch>& launches,
                                      const std::vector<std::vector<NumberId>>& batches);
  bool JournalLaunches(const std::vector<OfferTasks>& accepts);
  void WithdrawLaunches(const std::vector<OfferTasks>& accepts, const std::string& why);
  void AcceptFailed(const std::vector<std::string>& task_ids);
  void OnRescind(const v1::OfferID& offer);
  void ReconcileUnanswered();
  void OnUpdate(const v1::TaskStatus& status);
  bool DuplicateUpdate(const v1::TaskStatus& status);
  // What acknowledges `status` once its results are safe (see set_when_durable).
  std::function<void()> AcknowledgeWhenSafe(const v1::TaskStatus& status);
  const Batch* Adopt(const v1::TaskStatus& status);
  void UnknownTask(const v1::TaskStatus& status);
  void OnFailedUpdate(const Batch& batch, const v1::TaskStatus& status);
  // `launch_failed`: its executor never started (LaunchFailed), so its numbers run again free.
  void TaskEnded(std::string task_id, const v1::TaskStatus& status, bool launch_failed = false);
  void Settle(std::string task_id, const std::string& why);
  // `last`: the attempt that just ended, if any (a number that fails for good names it).
  void RequeueNumbers(std::span<const NumberId> ids, enum Requeue why, bool retryable, const std::string& reason,
                      const Batch* last = nullptr);
  void Complete(NumberId id, bool ok, std::string digits_or_error, const Batch* batch,
                std::optional<DigitsSlice> slice = std::nullopt);
  void MaybeFinish();
  void ScheduleCheck();
  void CheckUnschedulable();
  // Agents whose executor does not start (scheduler_health.cpp).
  std::vector<v1::Offer> ScreenOffers(const std::vector<v1::Offer>& offers);
  bool LaunchFailed(const Batch& batch, const v1::TaskStatus& status);
  void ReadExecutorStderr(const std::string& agent_id, const std::string& cause, const std::string& message);
  void Diagnosed(const std::string& agent_id, const std::string& cause, const std::string& detail);
  void MaybeEndSetAside();
  void FailUnschedulable();
  void DiskFailure(const Batch& ended, const v1::TaskStatus& status);
  bool Fetching() const;
  bool AwaitingKills() const;
  void MaybeStop();
  void KilledAtStop(const std::string& task_id);
  void Stop();
  void Teardown(int code, const std::string& why);
  void Exit(int code);
  void CancelTimers();

  EventLoop& loop_;
  SchedulerConfig config_;
  Hooks hooks_;
  FrameworkLink link_;  // the subscription, and every call in order (§9.1)
  JobBook book_;
  ResultFetcher fetcher_;
  TaskResults results_;  // what finished tasks deliver
  DeskPort desk_port_{*this};
  OfferDesk desk_;  // every offer, and every call about offers
  TimePoint adopt_until_{};  // after a restart, offers are declined until then
  std::optional<EventLoop::TimerId> check_timer_;
  int exit_code_ = 0;
  JobActivity activity_{loop_.Now()};
  AgentHealth health_;  // which agents can start the executor
  SandboxReader sandbox_{loop_, config_.tls, config_.credential};
  std::set<std::string> diagnosing_;  // agents whose executor's stderr is being read
  std::set<std::string> reported_;    // agent, cause and detail already logged
  bool ended_set_aside_ = false;      // the run ends: every agent is set aside
  // Interrupted with this exit status: nothing is launched, and the run stops once the
  // results of finished tasks are in (or stop_timer_ fires).
  std::optional<int> stop_code_;
  std::optional<EventLoop::TimerId> stop_timer_;
  // The interrupt killed our running tasks; until kill_timer_ fires, the run waits for each
  // one's last update.
  bool killed_at_stop_ = false;
  bool kill_wait_over_ = false;
  std::optional<EventLoop::TimerId> kill_timer_;
  bool stopped_ = false;  // Stop ran
  Acks acks_;
};

}  // namespace factorial::scheduler
