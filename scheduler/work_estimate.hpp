#pragma once

// How far a job is and when it ends, in work rather than numbers: a job of 6,000 small numbers
// and 40 large ones is mostly the large ones, and counting numbers says 0% until the first
// batch ends and then extrapolates wildly. Work is estimated CPU seconds (cost_model.hpp).
//
// Work done = work of numbers with a result (finished or failed for good)
//           + for each running task, its share so far:
//               max(what the task reported, at most a `kRunningCap` of its work):
//               reported work + (seconds since that report) x lanes x speed,
//             where `speed` is estimated work per lane-second measured on the tasks that
//             finished (the cost model was fitted on another machine), 1 until one has;
//           + for each task finished whose results are still downloading: a `kRunningCap`
//             of its work, less that of its numbers already delivered.
// Rate    = work done per second over the last `window` (the slope between samples);
// ETA     = work left / rate.
// Crediting running tasks by their elapsed time is what makes the first seconds sensible: a
// job whose first batches are all still running moves at the pace its lanes work.
//
// Pure bookkeeping: the caller passes the time (seconds on any monotonic clock), so tests
// drive it with a recorded or simulated timeline.

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace factorial::scheduler {

class WorkEstimator {
 public:
  // A running task is credited at most this share of its estimated work until it ends: the
  // estimate may be low, and a task is not done until it says so.
  static constexpr double kRunningCap = 0.95;

  explicit WorkEstimator(double total_work, double window_seconds = 20);

  // Work of numbers resolved outside tasks (resumed from a journal, unschedulable).
  void AddResolved(double work);
  // A task of `work` estimated CPU seconds started running `lanes` numbers at a time.
  void TaskStarted(const std::string& task_id, double work, int lanes, double now);
  // The task reports `work_done` of its work finished (numbers it completed).
  void TaskProgress(const std::string& task_id, double work_done, double now);
  // The task ran to its end (TASK_FINISHED) and its results are being fetched, `work_resolved`
  // of its numbers' work delivered so far (and counted by the caller): its pace calibrates
  // `speed` (the first time), and until TaskEnded it is credited its capped work less what is
  // delivered, so the work done neither falls back nor counts twice while results download.
  void TaskComputed(const std::string& task_id, double work_resolved, double now);
  // The task is over; `work_resolved` of its numbers have a result now (the rest went back
  // to pending and will run in another task). `completed`: it ran to its end (TASK_FINISHED),
  // so its pace calibrates `speed` (unless TaskComputed did).
  void TaskEnded(const std::string& task_id, double work_resolved, bool completed, double now);

  struct Estimate {
    double total = 0;
    double done = 0;
    std::optional<double> rate;  // work per second
    std::optional<double> eta;   // seconds
  };
  // Records a sample at `now` and estimates from the samples in the window.
  Estimate Sample(double now);

  double speed() const;
  double total() const { return total_; }
  double resolved() const { return resolved_; }

 private:
  struct Running {
    double work = 0;
    int lanes = 1;
    double started = 0;
    double reported = 0;     // work reported so far
    double reported_at = 0;  // when (started, before any report)
    bool computed = false;   // TaskComputed: results on the way, pace calibrated
    double delivered = 0;    // work of its numbers resolved while computed
  };
  void Calibrate(const Running& task, double now);
  double Done(double now) const;

  double total_;
  double window_;
  double resolved_ = 0;
  std::unordered_map<std::string, Running> running_;
  // Speed: estimated work over lane-seconds of tasks that ran to their end.
  double calibrated_work_ = 0, calibrated_lane_seconds_ = 0;
  std::deque<std::pair<double, double>> samples_;  // (time, work done)
};

}  // namespace factorial::scheduler
