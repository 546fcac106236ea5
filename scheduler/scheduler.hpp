#pragma once

// factorial-scheduler's protocol state machine (v1 scheduler API, mesos-v1-api.md §5, §9.1).
// Runs on one EventLoop thread: every callback is serial, so no state needs a lock. The
// subscription itself (stream, redirects, backoff, heartbeats, ordered calls) is a
// MesosConnection's, the work a JobBook's, large results a ResultFetcher's; this class maps
// events to calls.
//
// Work: each distinct number is computed once, in batch tasks shaped by a BatchShaper. A
// number's result arrives inline in the task's TASK_FINISHED or in FRF1 files fetched from the
// agent's sandbox. A batch that fails as a whole (FAILED, ERROR) is split in halves and run
// again; one that is lost (LOST, DROPPED, GONE, UNREACHABLE, KILLED not by us) runs again
// whole; a number that fails on its own is retried alone, up to max_retries times; a lone
// number's ERROR or out-of-memory failure is final. Every UPDATE carrying a uuid is
// acknowledged after its state change is recorded.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "factorial/event_loop.hpp"
#include "factorial/master_url.hpp"
#include "factorial/mesos_connection.hpp"
#include "factorial/messages.hpp"
#include "batch_shaper.hpp"
#include "job_book.hpp"
#include "number_result.hpp"
#include "planner.hpp"
#include "result_fetcher.hpp"
#include "scheduler_config.hpp"
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
  // SIGINT/SIGTERM: kill running tasks, tear down, exit with `code` (130/143). With a state
  // store and teardown_on_stop false, unfinished work is left running for the next start.
  void Interrupt(int code);
  // Called on every successful (re)subscription (systemd readiness).
  void set_on_subscribed(std::function<void(const std::string&)> fn) { hooks_.on_subscribed = std::move(fn); }

  // Introspection for tests and progress.
  Progress progress() const { return book_.progress(); }
  bool subscribed() const { return state_ == State::kSubscribed; }
  const std::optional<std::string>& framework_id() const { return framework_.id; }
  const std::string& current_master() const { return connection_.url(); }

 private:
  enum class State { kDisconnected, kSubscribed, kTearingDown, kExited };

  struct Hooks {
    ResultCallback on_result;
    ExitCallback on_exit;
    std::function<void(const std::string&)> on_subscribed;
  };
  struct Framework {
    std::optional<std::string> id;
    bool restarted = false;        // the ID came from the state store
    bool ever_subscribed = false;  // in this process
    TimePoint adopt_until{};       // offers are declined until then after a restart
  };
  struct OfferHistory {
    bool suppressed = false;
    // A DECLINE with the idle filter (an hour) is in force: it survives resubscription and
    // SUPPRESS's flag, so work that comes back must REVIVE regardless.
    bool idle_filter = false;
    std::vector<CallQueue::Ticket> idle_declines;  // the DECLINEs that set it, since the last REVIVE
    CallQueue::Ticket suppress_ticket = 0;          // the last SUPPRESS
    bool seen = false;
    double largest_cpus = 0, largest_mem = 0;  // of the offers in `recent`
    // What offers held recently (the last --offer-wait): a number no recent offer could hold
    // while nothing of ours runs is unschedulable.
    struct Seen {
      TimePoint at;
      double cpus = 0, mem = 0;
    };
    std::vector<Seen> recent;
    TimePoint busy_until{};  // the last time a task of ours was running or launched
    // The last time a task of ours reached an executor (or the start): launches dropped
    // meanwhile are lost races, not a broken cluster, until --offer-wait passes without one.
    TimePoint last_start{};
    std::map<std::string, std::string> hostnames;  // agent id -> its offers' hostname
  };
  // ACCEPTs and DECLINEs still in the call queue (a slow master answers each call late), so a
  // RESCIND can take back a call about an offer that is gone: a launch on it would only come
  // back TASK_DROPPED, and a queue of calls about dead offers would make every later launch
  // late too (issue 12, item 5).
  struct OfferCalls {
    struct Call {
      std::vector<std::string> offers;    // not rescinded yet
      std::vector<std::string> task_ids;  // an ACCEPT's launches
    };
    std::unordered_map<CallQueue::Ticket, Call> calls;
    std::unordered_map<std::string, CallQueue::Ticket> by_offer;
  };
  // Calls answered 4xx since the last one the master took (2xx).
  struct Refusals {
    int count = 0;
    TimePoint since{};
    std::string last;  // "<CALL> answered <status> <body>"
  };
  struct Timers {
    std::optional<EventLoop::TimerId> check;
    std::optional<EventLoop::TimerId> teardown;
  };

  std::string SubscribeBody() const;
  void Disconnected(const MesosConnection::Disconnection& lost);
  std::unique_ptr<MasterSource> MakeMasterSource();
  void LeaderDetected(const std::string& url);
  void HandleEvent(const v1::scheduler::Event& event);
  void OnSubscribed(const v1::scheduler::Event::Subscribed& subscribed);
  void OnOffers(const std::vector<v1::Offer>& offers);
  void Launch(const v1::Offer& offer, const std::vector<PlannedLaunch>& launches,
              const std::vector<std::vector<NumberId>>& batches);
  void AcceptFailed(const v1::OfferID& offer, const std::vector<std::string>& task_ids);
  CallQueue::Ticket Decline(std::vector<v1::OfferID> offers, double refuse_seconds, int attempt = 1);
  void TrackOfferCall(CallQueue::Ticket ticket, const std::vector<v1::OfferID>& offers,
                      std::vector<std::string> task_ids);
  void OfferCallAnswered(CallQueue::Ticket ticket);
  void OnRescind(const v1::OfferID& offer);
  void ReconcileUnanswered();
  void OnUpdate(const v1::TaskStatus& status);
  void OnFailedUpdate(Batch& batch, const v1::TaskStatus& status);
  void OnFinished(Batch& batch, const v1::TaskStatus& status);
  void FetchFile(const std::string& task_id, const ResultFile& file, std::uint64_t slice_n,
                 const ResultFileSlice* slice);
  void FetchDone(const std::string& task_id);
  bool LateResult(const v1::TaskStatus& status);
  void Settle(Batch& batch, const std::string& why);
  void RequeueNumbers(std::span<const NumberId> ids, enum Requeue why, bool retryable, const std::string& reason);
  void Complete(NumberId id, bool ok, std::string digits_or_error, const Batch* batch);
  void Acknowledge(const v1::TaskStatus& status);
  void MaybeFinish();
  void ScheduleCheck();
  void CheckUnschedulable();
  void Revive();
  void ReviveSoon();
  void Teardown(int code, const std::string& why);
  void SendTeardown(int attempt);
  void Exit(int code);
  void CancelTimers();
  void CallAnswered(const std::string& type, const Result<HttpResponse>& result);
  void CheckRefusals();
  CallQueue::Ticket SendCall(v1::scheduler::Call call, std::function<void(bool accepted)> done = {});

  EventLoop& loop_;
  SchedulerConfig config_;
  Hooks hooks_;
  MesosConnection connection_;  // the stream, and every other call in order (§9.1)
  JobBook book_;
  ResultFetcher fetcher_;
  State state_ = State::kDisconnected;
  Framework framework_;
  OfferHistory offers_;
  OfferCalls offer_calls_;
  Refusals refusals_;
  Timers timers_;
  int exit_code_ = 0;
  bool revive_posted_ = false;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // posted work checks it
};


}  // namespace factorial::scheduler
