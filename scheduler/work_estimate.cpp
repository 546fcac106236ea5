#include "work_estimate.hpp"

#include <algorithm>

namespace factorial::scheduler {
namespace {

// Tasks shorter than this say more about launch latency than about pace.
constexpr double kMinCalibrationSeconds = 1.0;
// A pace measured on few tasks is trusted within these bounds of the model's.
constexpr double kMinSpeed = 0.2, kMaxSpeed = 5.0;
// Two samples closer than this give no rate.
constexpr double kMinRateSpan = 1.0;

}  // namespace

WorkEstimator::WorkEstimator(double total_work, double window_seconds)
    : total_(std::max(0.0, total_work)), window_(window_seconds) {}

void WorkEstimator::AddResolved(double work) { resolved_ += work; }

void WorkEstimator::TaskStarted(const std::string& task_id, double work, int lanes, double now) {
  Running& r = running_[task_id];
  r = Running{};
  r.work = std::max(0.0, work);
  r.lanes = std::max(1, lanes);
  r.started = now;
  r.reported_at = now;
}

void WorkEstimator::TaskProgress(const std::string& task_id, double work_done, double now) {
  auto it = running_.find(task_id);
  if (it == running_.end()) return;
  // Reports are unordered and may be lost: keep the largest.
  if (work_done >= it->second.reported) {
    it->second.reported = std::min(work_done, it->second.work);
    it->second.reported_at = now;
  }
}

void WorkEstimator::Calibrate(const Running& task, double now) {
  double seconds = now - task.started;
  if (seconds >= kMinCalibrationSeconds && task.work > 0) {
    calibrated_work_ += task.work;
    calibrated_lane_seconds_ += seconds * task.lanes;
  }
}

void WorkEstimator::TaskComputed(const std::string& task_id, double work_resolved, double now) {
  auto it = running_.find(task_id);
  if (it == running_.end()) return;
  it->second.delivered = std::max(0.0, work_resolved);
  if (it->second.computed) return;
  it->second.computed = true;
  Calibrate(it->second, now);
}

void WorkEstimator::TaskEnded(const std::string& task_id, double work_resolved, bool completed, double now) {
  auto it = running_.find(task_id);
  if (it != running_.end()) {
    if (completed && !it->second.computed) Calibrate(it->second, now);
    running_.erase(it);
  }
  resolved_ += std::max(0.0, work_resolved);
}

double WorkEstimator::speed() const {
  if (calibrated_lane_seconds_ <= 0) return 1.0;
  return std::clamp(calibrated_work_ / calibrated_lane_seconds_, kMinSpeed, kMaxSpeed);
}

double WorkEstimator::Done(double now) const {
  double done = resolved_;
  double pace = speed();
  for (const auto& [id, r] : running_) {
    if (r.computed) {
      done += std::max(0.0, std::max(r.reported, kRunningCap * r.work) - r.delivered);
      continue;
    }
    double extrapolated = r.reported + std::max(0.0, now - r.reported_at) * r.lanes * pace;
    done += std::max(r.reported, std::min(extrapolated, kRunningCap * r.work));
  }
  return std::min(done, total_);
}

WorkEstimator::Estimate WorkEstimator::Sample(double now) {
  Estimate e;
  e.total = total_;
  e.done = Done(now);
  if (!samples_.empty() && now < samples_.back().first) now = samples_.back().first;
  samples_.emplace_back(now, e.done);
  // Keep one sample at or before the window's start, so the rate spans the whole window.
  while (samples_.size() > 2 && samples_[1].first <= now - window_) samples_.pop_front();
  double span = samples_.back().first - samples_.front().first;
  if (span >= kMinRateSpan) {
    double rate = (samples_.back().second - samples_.front().second) / span;
    if (rate > 0) {
      e.rate = rate;
      e.eta = std::max(0.0, total_ - e.done) / rate;
    }
  }
  if (e.done >= total_) e.eta = 0.0;
  return e;
}

}  // namespace factorial::scheduler
