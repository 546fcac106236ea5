#pragma once

// What the scheduler did, for the status page, /metrics and the progress estimate: counters
// of tasks and numbers (offers and launches are the OfferDesk's and JobBook's stats),
// per-agent tallies, recent failures and in-task progress reports. The Scheduler records into
// it on its loop (a line per event it handles); JobMonitor reads it there to build snapshots.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "factorial/event_loop.hpp"
#include "factorial/messages.hpp"
#include "factorial/progress_report.hpp"
#include "job_book.hpp"
#include "job_status.hpp"
#include "number_result.hpp"

namespace factorial::scheduler {

class JobActivity {
 public:
  static constexpr std::size_t kRecentFailures = 20;

  explicit JobActivity(TimePoint started) : started_(started) {}

  // A terminal update of a task of ours (the first one).
  void TaskOver(const Batch& batch, const v1::TaskStatus& status, TimePoint now);
  // The task failed for want of disk on its agent (after TaskOver).
  void DiskError(const Batch& batch);
  // A number is final.
  void NumberResolved(const NumberResult& result, const Batch* batch, TimePoint now);
  // An executor's progress report (progress_report.hpp) about a live task of ours.
  void Progress(TaskProgressReport report, TimePoint now);

  const JobCounters& counters() const { return counters_; }
  const std::map<std::string, AgentStatus>& agents() const { return agents_; }
  const std::deque<FailureNote>& failures() const { return failures_; }
  struct Report {
    TaskProgressReport report;
    TimePoint at;
  };
  const std::unordered_map<std::string, Report>& reports() const { return reports_; }
  TimePoint started() const { return started_; }
  // Estimated CPU seconds of the numbers resolved so far (finished or failed).
  double resolved_work() const { return resolved_work_; }
  // Cpu-seconds our tasks held on the cluster (cpus x launch to end), tasks over so far.
  double cpu_seconds() const { return cpu_seconds_; }

 private:
  AgentStatus& Agent(const Batch& batch);
  void Note(FailureNote note);

  TimePoint started_;
  JobCounters counters_;
  std::map<std::string, AgentStatus> agents_;
  std::deque<FailureNote> failures_;
  std::unordered_map<std::string, Report> reports_;
  double resolved_work_ = 0;
  double cpu_seconds_ = 0;
};

}  // namespace factorial::scheduler
