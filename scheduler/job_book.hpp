#pragma once

// The scheduler's book of work: the state of every distinct number of the Workload, and the
// tasks (batches of numbers) running them. Pure bookkeeping: no I/O, no clock (callers pass
// the time).
//
//   number:  pending --Launch--> launched --Finish(ok)--> done
//               ^                    |  \---Finish(!ok)--> failed
//               +--- Requeue / Retry ---+
//
// Per number the book keeps 4 bytes (state, attempts, attempts that never started, launches)
// beside the Workload's own arrays, so 10^7 pending numbers cost ~40 MB in all. Pending work
// is read in launch order: numbers sent back (a batch that failed, split in halves, or a task
// lost) first, as the groups they came back in; then numbers never launched, in input order,
// so results come back roughly in the order the output prints them.
//
// Task IDs: a batch of one number is "factorial-<n>-<launch>", a batch of several
// "factorial-<run>-b<seq>". With --state-dir every task is journaled before its launch, and a
// restarted scheduler takes its predecessor's open tasks back (AdoptBatch); a single-number
// task is also recognised by name (Adopt), for journals that predate launch records.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "factorial/event_loop.hpp"
#include "workload.hpp"

namespace factorial::scheduler {

using NumberId = Workload::Id;

enum class NumberState : std::uint8_t { kPending, kLaunched, kDone, kFailed };

// One launched task. Only the JobBook changes one (through the operations below); everyone else
// reads it.
struct Batch {
  std::string task_id;
  std::vector<NumberId> ids;  // distinct; the numbers not final when it was launched
  std::string agent_id;
  std::string hostname;  // the agent's, from its offer
  double cpus = 0;
  double mem = 0;  // MB
  TimePoint launched_at{};
  // Result files of the task being fetched: parts it announced while it runs, then the files
  // its TASK_FINISHED named. `fetching`: the task finished and its last results are on the
  // way; the master has forgotten the task, so it is neither reconciled nor killed.
  int fetches = 0;
  bool fetching = false;
  // The ACCEPT that launched it failed or was lost: reconciliation decides whether the master
  // launched it anyway, and a launch it never saw costs the numbers no retry.
  bool unconfirmed = false;
  // The master was asked about the task (after a failed ACCEPT, or after resubscribing) and
  // has not answered with any update for it yet. It is asked again until it does: a master
  // drops questions it cannot answer yet, such as about a task on an agent that has not
  // reregistered after a master failover. `reconciled_at` is when it was last asked (none:
  // ask now).
  bool awaiting_answer = false;
  std::optional<TimePoint> reconciled_at;
};

// Where a task goes: the offer's agent and the resources taken from it.
struct Placement {
  std::string agent_id;
  std::string hostname;
  double cpus = 0;
  double mem = 0;  // MB
};

// A task the master is asked about (RECONCILE).
struct TaskQuestion {
  std::string task_id;
  std::string agent_id;  // empty if not known
};

// A permanently broken cluster (every launch dropped) still ends: after this many attempts
// that never started, a number fails, once the caller says the cluster is stuck (Requeue's
// `cap_unstarted`). While other tasks start, drops are lost races (an offer rescinded before
// the launch landed) that pick on whichever numbers are at the front, so they are not capped.
inline constexpr int kMaxUnstartedAttempts = 50;

struct Progress {
  std::size_t done = 0, running = 0, pending = 0, failed = 0;
};

// Why numbers go back to pending, which decides what the attempt costs them.
enum class Requeue {
  kStarted,    // the attempt may have run: counts against --max-retries
  kUnstarted,  // it never reached an agent (TASK_DROPPED, an ACCEPT never applied): free, up
               // to kMaxUnstartedAttempts
  kSplit,      // a batch of several failed as a whole: free; it comes back as two halves, so
               // one bad number is isolated in log2(size) rounds and then pays as above
  kWithdrawn,  // its ACCEPT was taken back before it was sent (the offer was rescinded while
               // the call waited its turn): not an attempt at all
};

class JobBook {
 public:
  // `workload` must outlive the book. `cost_ns(n)`: estimated CPU nanoseconds of n!, summed
  // over pending numbers (pending_work()).
  JobBook(const Workload& workload, std::uint64_t (*cost_ns)(std::uint64_t));

  const Workload& workload() const { return workload_; }
  std::uint64_t number(NumberId id) const { return workload_.number(id); }
  std::size_t size() const { return slots_.size(); }
  bool empty() const { return slots_.empty(); }
  bool all_final() const { return progress_.done + progress_.failed == slots_.size(); }
  const Progress& progress() const { return progress_; }
  NumberState state(NumberId id) const { return slots_[id].state; }
  int attempts(NumberId id) const { return slots_[id].attempts; }
  // Estimated CPU seconds of every pending number.
  double pending_work() const { return static_cast<double>(pending_work_ns_) * 1e-9; }
  std::uint64_t pending_work_ns() const { return pending_work_ns_; }

  // ---- reading pending work, in launch order (one planning round) ----
  // The next pending number, not taken; nullopt when nothing more is pending. Numbers taken
  // or set aside in this round are not seen again until EndPlanning.
  std::optional<NumberId> PeekPending();
  // Takes the number PeekPending returned, for a task about to be launched.
  void TakePending();
  // Whether the next pending number came back in the same group as the one taken last (a
  // task does not mix groups, so halves of a failed batch stay halves).
  bool SameGroupAsTaken();
  // No offer can hold the next pending number now: pass over it for this round.
  void SetAside();
  // Whether the next pending number is read from the input order (not sent back in a group).
  bool PeekIsFresh();
  // Whether `id` is read from the input order, pending and not yet taken or set aside in this
  // round: a task may take it out of launch order (TakeId), to keep numbers close in value
  // together.
  bool Available(NumberId id) const;
  // Takes `id` (Available) for a task about to be launched.
  void TakeId(NumberId id);
  // Ends the round: numbers set aside are pending again where they were.
  void EndPlanning();

  // ---- tasks ----
  // A new task for `ids` (taken, pending, distinct) placed `where`; returns it.
  const Batch& Launch(std::vector<NumberId> ids, const Placement& where, TimePoint now);
  const Batch* FindTask(const std::string& task_id) const;
  // Every live task.
  const std::unordered_map<std::string, Batch>& batches() const { return batches_; }
  // The task is over: forget it, returning what it was (empty if not known). Its numbers
  // that are still launched must be finished or requeued by the caller.
  Batch Forget(const std::string& task_id);

  // ---- what the master said about a task (unknown task IDs are ignored) ----
  // Its ACCEPT may not have reached the master (it failed, or the stream was lost with it
  // queued). A task whose results are being fetched is over and stays as it is.
  void MarkUnconfirmed(const std::string& task_id);
  // The master has the task (an update from the agent), on `agent_id` if given.
  void Confirm(const std::string& task_id, const std::optional<std::string>& agent_id = std::nullopt);
  // The master is to be asked about the task (at the next Questions) until it answers.
  void AwaitAnswer(const std::string& task_id);
  // Every live task awaits an answer (after resubscribing).
  void AwaitAnswers();
  // Any update about the task answers the question.
  void Answered(const std::string& task_id);
  // The tasks awaiting an answer not asked about within `again`, now marked asked `now`.
  std::vector<TaskQuestion> Questions(TimePoint now, Duration again);
  // `files` more of the task's result files are being fetched; `over`: the task finished (it
  // is kept as fetching until the last is in), else they are parts it announced while it runs.
  void MarkFetching(const std::string& task_id, int files = 1, bool over = true);
  // One fetch of the task is over; true when it was the last and the task is over.
  bool FetchDone(const std::string& task_id);
  // The task's attempt at `id` is over (it reported the number failed, and the caller requeues
  // or fails it): the task no longer answers for it, so a retry launched while the task's files
  // are still fetched is the number's only attempt, and the task's end does not charge it again.
  void Release(const std::string& task_id, NumberId id);

  // Counted since the start, for status reports.
  struct Stats {
    std::uint64_t tasks_launched = 0;
    std::uint64_t tasks_adopted = 0;
    std::map<std::string, std::uint64_t> tasks_per_agent;  // launched, by agent ID
  };
  const Stats& stats() const { return stats_; }

  // ---- numbers ----
  // Final: done (ok) or failed. A number that is not launched (journaled before, or
  // unschedulable while pending) may be finished too.
  void Finish(NumberId id, bool ok);
  // Sends launched numbers back to pending as one group at the front (`kSplit` with two or
  // more: as two halves). Returns the numbers that may not run again (out of retries, over
  // kMaxUnstartedAttempts with `cap_unstarted`, or `retryable` false); the caller finishes
  // those as failed. Numbers already final are skipped.
  std::vector<NumberId> Requeue(std::span<const NumberId> ids, Requeue why, bool retryable, int max_retries,
                                bool cap_unstarted = true);

  // A task launched by a previous run (from the journal), still running for all we know: its
  // numbers (distinct, none launched) that are pending become launched, and the task is
  // unconfirmed and awaits the master's answer. Numbers already final stay so (the task may
  // still report them; they are taken once). Returns the task, or nullptr if its ID is in
  // use or none of its numbers is pending.
  const Batch* AdoptBatch(const std::string& task_id, std::vector<NumberId> ids, const Placement& where,
                          TimePoint launched_at);
  // Runs `fn(task)` when a task is forgotten (it is over): the journal's "over" record.
  void OnForget(std::function<void(const Batch&)> fn) { on_forget_ = std::move(fn); }

  // A task named like a single-number task of ours for a pending number, left by a previous
  // run: the number takes it as its current attempt. Returns the task, or nullptr if the name
  // is not ours or the number is not pending.
  const Batch* Adopt(const std::string& task_id, const std::optional<std::string>& agent_id, TimePoint now,
                    const std::string& hostname = {});

  static std::string TaskId(std::uint64_t n, int launch);
  // What the book keeps per distinct number (the Workload's arrays aside).
  static const std::size_t kBytesPerNumber;
  // {n, launch} of a task ID made by TaskId().
  static std::optional<std::pair<std::uint64_t, int>> ParseTaskId(const std::string& task_id);

  // Every pending number, by calling `fn(id)`; stops early when it returns false. O(pending +
  // input positions not yet reached).
  void ForEachPending(const std::function<bool(NumberId)>& fn) const;

 private:
  struct Slot {
    NumberState state = NumberState::kPending;
    std::uint8_t attempts = 0;   // started attempts that failed
    std::uint8_t unstarted = 0;  // attempts that never started
    std::uint8_t launches = 0;   // for single-number task IDs; wraps harmlessly (IDs of
                                 // finished tasks may be reused by Mesos)
    bool fresh = true;           // not yet read from the input order
    bool passed = false;         // taken or set aside in the current planning round
  };
  void SetState(NumberId id, NumberState state);
  std::optional<NumberId> Advance();
  Batch* Live(const std::string& task_id);  // not fetching; nullptr if unknown or fetching
  Batch& NewBatch(const std::string& task_id, std::vector<NumberId> ids, const std::string& agent_id, TimePoint now);

  const Workload& workload_;
  std::uint64_t (*cost_ns_)(std::uint64_t);
  std::vector<Slot> slots_;
  Progress progress_;
  std::uint64_t pending_work_ns_ = 0;

  // Numbers sent back, in launch order. `pos`: the first entry that may still be pending.
  struct Group {
    std::uint64_t serial = 0;
    std::vector<NumberId> ids;
    std::size_t pos = 0;
  };
  std::deque<Group> groups_;
  std::uint64_t next_group_serial_ = 1;  // 0 is the input order
  std::size_t cursor_ = 0;               // input positions before it hold no fresh number
  // The planning round's read position: a group index and entry, then an input position.
  struct Scan {
    std::size_t group = 0;
    std::size_t entry = 0;
    std::size_t position = 0;
    bool started = false;
  };
  Scan scan_;
  std::optional<NumberId> peeked_;
  std::uint64_t peeked_serial_ = 0, taken_serial_ = 0;
  std::vector<NumberId> passed_;  // taken or set aside this round
  std::unordered_map<std::string, Batch> batches_;
  Stats stats_;
  std::function<void(const Batch&)> on_forget_;
  std::string run_token_;
  std::uint64_t next_batch_ = 0;
};

inline const std::size_t JobBook::kBytesPerNumber = sizeof(JobBook::Slot);

bool IsFinal(NumberState state);

}  // namespace factorial::scheduler
