#pragma once

// The offer desk: every offer the master sends comes in here, and every call about offers goes
// out from here (ACCEPT, DECLINE, REVIVE, SUPPRESS). It keeps what offers taught (recent sizes,
// agents' hostnames, when a task of ours last started), the decline filters in force, and the
// ACCEPTs and DECLINEs still waiting in the call queue, so that a RESCIND can take them back.
//
// It knows nothing of numbers or tasks' states: the Scheduler plans launches with the JobBook
// and hands the desk finished TaskInfos; the desk hands back the task IDs of launches that
// did not happen. Its collaborators are behind Port (send a call, withdraw a queued one, the
// time, work for later), so a test drives it with a fake clock and reads the exact calls.
// Single-threaded: called from the scheduler's event loop only.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "factorial/call_queue.hpp"
#include "factorial/event_loop.hpp"
#include "factorial/messages.hpp"

namespace factorial::scheduler {

struct OfferPolicy {
  double refuse_seconds_busy = 1;     // decline filter while work is pending
  double refuse_seconds_idle = 3600;  // decline filter with nothing to do (then SUPPRESS)
  // A number no offer could hold for this long, while nothing of ours ran, is unschedulable;
  // launches dropped for this long without any task of ours starting mean a broken cluster.
  Duration offer_wait = std::chrono::seconds(120);
  // At most one REVIVE for ended tasks per this long: the master allocates at once on REVIVE
  // but its guide asks frameworks not to revive often, and it offers freed cpus at its next
  // allocation cycle (1 s by default) anyway.
  Duration task_end_revive_interval = std::chrono::seconds(1);
};

class OfferDesk {
 public:
  // What the desk needs from outside.
  class Port {
   public:
    virtual ~Port() = default;
    virtual TimePoint Now() const = 0;
    // Runs `fn` after the events already read (EventLoop::Post).
    virtual void Later(std::function<void()> fn) = 0;
    // Runs `fn` once `delay` has passed (EventLoop::After).
    virtual void After(Duration delay, std::function<void()> fn) = 0;
    // Calls can reach the master now (subscribed, not tearing down).
    virtual bool Subscribed() const = 0;
    // Some number waits for an offer.
    virtual bool WorkPending() const = 0;
    // Queues `call` behind the calls before it; 0 if it cannot be sent at all (then `done`
    // has already run with false). `done(accepted)` runs when the master answers.
    virtual CallQueue::Ticket Send(v1::scheduler::Call call, std::function<void(bool accepted)> done) = 0;
    // Takes back a call still waiting its turn; false once it is in flight or answered.
    virtual bool Withdraw(CallQueue::Ticket ticket) = 0;
  };

  // Counted since the start, for status reports.
  struct Stats {
    std::uint64_t offers = 0;           // received
    std::uint64_t offers_used = 0;      // by an ACCEPT with launches
    std::uint64_t offers_declined = 0;  // DECLINEs queued (retries not counted)
    std::uint64_t rescinded = 0;
    std::uint64_t calls_withdrawn = 0;  // ACCEPTs and DECLINEs a RESCIND took back unsent
    std::uint64_t calls_failed = 0;     // ACCEPTs and DECLINEs the master did not take
    std::uint64_t revives = 0;          // of them for ended tasks: revives_task_end
    std::uint64_t revives_task_end = 0;
    std::uint64_t revives_rate_limited = 0;  // REVIVEs for ended tasks deferred by the limit
    std::uint64_t suppresses = 0;
  };

  using AcceptFailed = std::function<void(const std::vector<std::string>& task_ids)>;

  OfferDesk(Port& port, OfferPolicy policy);
  OfferDesk(const OfferDesk&) = delete;
  OfferDesk& operator=(const OfferDesk&) = delete;

  // --offer-wait counts from now.
  void Start();

  // ---- offers in, calls out ------------------------------------------------------------
  // Offers arrived: their sizes and hostnames are remembered, even those declined.
  void Offered(const std::vector<v1::Offer>& offers);
  // ACCEPT of `offer` launching `tasks` (refusing the rest of the agent briefly). If the master
  // does not take it while subscribed, the offer is declined (ignored if it was used) and
  // `failed` gets the task IDs: the master may or may not have launched them.
  void Accept(const v1::OfferID& offer, std::vector<v1::TaskInfo> tasks, AcceptFailed failed);
  // The offers of a round that launched nothing. With work still pending they come back soon
  // (the short filter); with none, the hour-long filter holds them and SUPPRESS stops new ones
  // until Revive.
  void Unused(std::vector<v1::OfferID> offers, bool more_pending);
  // Declines with `refuse_seconds`. A DECLINE that fails is sent again (twice): a lost one
  // would leave its offers held. Returns the call's ticket (0: not sent).
  CallQueue::Ticket Decline(std::vector<v1::OfferID> offers, double refuse_seconds);
  // Tasks were launched now: nothing can become schedulable before they end.
  void Launched();

  // ---- the master ------------------------------------------------------------------------
  // A new subscription: SUPPRESS does not outlive it, an hour-long decline filter does.
  void Subscribed();
  // The stream is gone with every queued call. Returns the task IDs of the ACCEPTs among them:
  // they may never have reached the master.
  std::vector<std::string> Disconnected();
  // The master took an offer back. A call about it still queued goes nowhere: a DECLINE of
  // nothing but rescinded offers is dropped, an ACCEPT is withdrawn and its task IDs returned
  // (their launches never happened). A call already sent is left to its answer.
  std::vector<std::string> Rescinded(const v1::OfferID& offer);
  // Offers are wanted again: REVIVE, if SUPPRESS or an hour-long filter holds them back.
  void Revive();
  // Revive after the events already read, if work is still pending then.
  void ReviveSoon();
  // A task of ours ended: its cpus went back to the master, which offers them only at its
  // next allocation cycle, unless a REVIVE asks at once. So after the events already read
  // (task ends read together make one REVIVE, and offers read meanwhile are planned first:
  // the desk holds no offer past its round), REVIVE if work is still pending. At most one
  // REVIVE per task_end_revive_interval (counting every REVIVE sent): task ends within it
  // wait for its end and make one REVIVE then, unless another REVIVE went out meanwhile.
  void TaskEnded();

  // ---- what offers taught ----------------------------------------------------------------
  // A task of ours reached an executor.
  void TaskStarted();
  // No task of ours has started for --offer-wait: dropped launches are a broken cluster, not
  // races with rescinds.
  bool Stuck() const;
  // The hostname of the agent's offers; empty if none was seen.
  std::string Hostname(const std::string& agent_id) const;
  // Once a second: forgets offers older than --offer-wait. `busy`: something of ours runs, or
  // no master could offer anything. True once --offer-wait has passed without either.
  bool WaitedOut(bool busy);
  // Whether an offer of the last --offer-wait had `cpus`, `mem_mb` and `disk_mb`.
  bool CouldHold(double cpus, double mem_mb, double disk_mb = 0) const;
  // Why a number needing `cpus`, `mem_mb` and `disk_mb` is failed as unschedulable.
  std::string Unschedulable(double cpus, double mem_mb, double disk_mb = 0) const;

  // A task on the agent could not write its results (its sandbox's disk is full or broken):
  // from now on its offers count as having no disk, so tasks that write result files go to
  // other agents. `diagnosis` says what happened there. True the first time for the agent.
  bool DiskFailed(const std::string& agent_id, std::string diagnosis);
  bool HasDiskFailed(const std::string& agent_id) const { return disk_failures_.contains(agent_id); }
  bool AnyDiskFailed() const { return !disk_failures_.empty(); }

  const Stats& stats() const { return stats_; }
  bool suppressed() const { return suppressed_; }
  bool idle_filter() const { return idle_filter_; }

 private:
  // An ACCEPT or DECLINE still in the call queue (a slow master answers each call late): a
  // launch on a rescinded offer would only come back TASK_DROPPED, and a queue of calls about
  // dead offers would make every later launch late too.
  struct QueuedCall {
    std::vector<std::string> offers;    // not rescinded yet
    std::vector<std::string> task_ids;  // an ACCEPT's launches
  };
  struct Seen {
    TimePoint at;
    double cpus = 0, mem = 0, disk = 0;
    std::string agent_id;
  };

  CallQueue::Ticket SendDecline(std::vector<v1::OfferID> offers, double refuse_seconds, int attempt);
  void DeclineAnswered(std::vector<v1::OfferID> offers, double refuse_seconds, int attempt);
  void Track(CallQueue::Ticket ticket, const std::vector<v1::OfferID>& offers, std::vector<std::string> task_ids);
  void Answered(CallQueue::Ticket ticket, bool accepted);
  void HoldIdle(CallQueue::Ticket ticket);
  void Suppress();
  void SendRevive();
  void ReviveForEndedTasks();

  Port& port_;
  OfferPolicy policy_;
  Stats stats_;
  bool suppressed_ = false;
  CallQueue::Ticket suppress_ticket_ = 0;  // the last SUPPRESS
  // A DECLINE with the idle filter (an hour) is in force: it survives resubscription and
  // SUPPRESS's flag, so work that comes back must REVIVE regardless.
  bool idle_filter_ = false;
  std::vector<CallQueue::Ticket> idle_declines_;  // the DECLINEs that set it, since the last REVIVE
  std::unordered_map<CallQueue::Ticket, QueuedCall> queued_;
  std::unordered_map<std::string, CallQueue::Ticket> queued_by_offer_;
  // What offers held recently (the last --offer-wait): a number no recent offer could hold
  // while nothing of ours runs is unschedulable.
  std::vector<Seen> recent_;
  double largest_cpus_ = 0, largest_mem_ = 0, largest_disk_ = 0;  // of the offers in `recent_`, as of WaitedOut
  std::map<std::string, std::string> disk_failures_;  // agent id -> diagnosis
  TimePoint busy_until_{};  // the last time a task of ours was running or launched
  // The last time a task of ours reached an executor (or the start): launches dropped
  // meanwhile are lost races, not a broken cluster, until --offer-wait passes without one.
  TimePoint last_start_{};
  std::map<std::string, std::string> hostnames_;  // agent id -> its offers' hostname
  bool revive_posted_ = false;
  bool task_end_posted_ = false;
  bool task_end_timer_ = false;  // a REVIVE for ended tasks waits for the rate limit
  TimePoint last_task_end_{};
  std::optional<TimePoint> last_revive_;  // the last REVIVE sent
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // work given to Later checks it
};

}  // namespace factorial::scheduler
