#pragma once

// The scheduler's book of work: one job per distinct number, its state, its attempts and the
// task IDs they ran under. Pure bookkeeping: no I/O, no clock (callers pass the time).
//
//   pending --Launch--> launched --Finish(ok)--> done
//      ^                   |  \---Finish(!ok)--> failed
//      +--- Retry (attempts left) ---+
//
// Progress counts are kept as states change, so reading them costs nothing. Task IDs are
// "factorial-<n>-<attempt>": a restarted scheduler recognises its predecessor's tasks by name
// and adopts them (Adopt) instead of computing the number again.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "factorial/event_loop.hpp"

namespace factorial::scheduler {

enum class JobState { kPending, kLaunched, kDone, kFailed };

struct Job {
  std::uint64_t n = 0;
  JobState state = JobState::kPending;
  int attempts = 0;     // launches so far (adopted attempts included)
  std::string task_id;  // current attempt
  std::string agent_id;
  double mem = 0;  // MB the task asks for
  TimePoint pending_since{};
  TimePoint launched_at{};
  // Launched, and its task finished with a result that is being fetched from the sandbox:
  // the master has forgotten the task, so it is neither reconciled nor killed.
  bool fetching = false;
  // The current attempt ended before it reached an agent (TASK_DROPPED, or an ACCEPT the
  // master never applied). Such attempts do not count against --max-retries, up to
  // kMaxUnstartedAttempts of them.
  bool dropped = false;
  int unstarted_attempts = 0;
  // The ACCEPT that launched the current attempt failed: reconciliation decides whether the
  // master launched it anyway. `reconciled_at` is when it was last asked (none: ask now).
  bool unconfirmed = false;
  std::optional<TimePoint> reconciled_at;
};

// A permanently broken cluster (every launch dropped) still ends: after this many attempts
// that never started, a number fails.
inline constexpr int kMaxUnstartedAttempts = 50;

struct Progress {
  std::size_t done = 0, running = 0, pending = 0, failed = 0;
};

class JobBook {
 public:
  // Duplicates in `numbers` are one job. `mem_of(n)` is each task's memory in MB.
  JobBook(const std::vector<std::uint64_t>& numbers, double (*mem_of)(std::uint64_t), TimePoint now);

  std::size_t size() const { return jobs_.size(); }
  bool empty() const { return jobs_.empty(); }
  bool all_final() const { return progress_.done + progress_.failed == jobs_.size(); }
  const Progress& progress() const { return progress_; }

  Job* Find(std::uint64_t n);
  // The job any attempt of which ran as `task_id`; nullptr if none did.
  Job* FindTask(const std::string& task_id);

  // Pending numbers, ascending (so task sizes never decrease along it).
  const std::set<std::uint64_t>& pending() const { return pending_; }
  // Every launched job, for reconciliation and kills.
  std::vector<const Job*> Launched() const;

  // Starts the next attempt of a pending job on `agent_id`; returns its task ID.
  const std::string& Launch(Job& job, const std::string& agent_id, TimePoint now);
  // A job whose attempt failed goes back to pending iff `retryable` and fewer than
  // `max_retries` retries of started attempts (and fewer than kMaxUnstartedAttempts of
  // attempts that never started) were made; returns true iff it did. Otherwise the caller
  // finishes it.
  bool Retry(Job& job, bool retryable, int max_retries, TimePoint now);
  // Final: done (ok) or failed.
  void Finish(Job& job, bool ok);
  // The job's task finished with a result to fetch: launched (not final) until it arrives.
  void StartFetch(Job& job);

  // A task named like ours for a number not final yet, left by a previous run: the job takes
  // it as its current attempt. Returns the job, or nullptr if the name is not ours or the
  // number is final or unknown.
  Job* Adopt(const std::string& task_id, const std::optional<std::string>& agent_id, TimePoint now);

  static std::string TaskId(std::uint64_t n, int attempt);
  // {n, attempt} of a task ID made by TaskId().
  static std::optional<std::pair<std::uint64_t, int>> ParseTaskId(const std::string& task_id);

 private:
  void SetState(Job& job, JobState state);

  std::map<std::uint64_t, Job> jobs_;
  std::set<std::uint64_t> pending_;
  std::map<std::string, std::uint64_t> task_to_n_;  // every attempt's task id
  Progress progress_;
};

bool IsFinal(JobState state);

}  // namespace factorial::scheduler
