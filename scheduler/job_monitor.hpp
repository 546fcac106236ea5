#pragma once

// Builds the job's JobStatus snapshots on the scheduler's loop, from the JobBook (numbers,
// running tasks), the JobActivity (counters, agents, failures, progress reports) and a
// WorkEstimator it keeps up to date by comparing the running tasks with the last snapshot's.
// The snapshot is immutable once built: the status server's threads read only that.

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "job_status.hpp"
#include "progress_line.hpp"
#include "scheduler.hpp"
#include "work_estimate.hpp"

namespace factorial::scheduler {

class JobMonitor {
 public:
  // Before the scheduler starts: numbers already final (a resumed journal) count as done.
  JobMonitor(const Scheduler& scheduler, std::string name, std::string version,
             std::vector<std::pair<std::string, std::string>> settings);

  std::shared_ptr<const JobStatus> Snapshot(TimePoint now);
  const WorkEstimator::Estimate& estimate() const { return estimate_; }

 private:
  struct Tracked {
    std::vector<NumberId> ids;
  };
  double Seconds(TimePoint t) const;

  const Scheduler& scheduler_;
  std::string name_, version_;
  std::vector<std::pair<std::string, std::string>> settings_;
  WorkEstimator estimator_;
  double resolved_before_ = 0;  // final before the run
  double resolved_seen_ = 0;    // resolved work passed to the estimator
  std::unordered_map<std::string, Tracked> tracked_;
  RateMeter numbers_meter_;
  WorkEstimator::Estimate estimate_;
};

}  // namespace factorial::scheduler
