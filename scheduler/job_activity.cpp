#include "job_activity.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "factorial/cost_model.hpp"
#include "factorial/logging.hpp"

namespace factorial::scheduler {

AgentStatus& JobActivity::Agent(const Batch& batch) {
  AgentStatus& agent = agents_[batch.agent_id];
  agent.id = batch.agent_id;
  if (!batch.hostname.empty()) agent.hostname = batch.hostname;
  return agent;
}

void JobActivity::Note(FailureNote note) {
  failures_.push_back(std::move(note));
  if (failures_.size() > kRecentFailures) failures_.pop_front();
}

void JobActivity::TaskOver(const Batch& batch, const v1::TaskStatus& status, TimePoint now) {
  reports_.erase(batch.task_id);
  cpu_seconds_ += batch.cpus * std::max(0.0, std::chrono::duration<double>(now - batch.launched_at).count());
  using TaskState = v1::TaskState;
  if (status.state == TaskState::kFinished) {
    ++counters_.tasks_finished;
    return;
  }
  bool failed = status.state == TaskState::kFailed || status.state == TaskState::kError;
  ++(failed ? counters_.tasks_failed : counters_.tasks_lost);
  if (!batch.agent_id.empty()) ++Agent(batch).tasks_failed;
  std::string why = std::string(v1::Name(status.state));
  if (status.reason) why += " (" + std::string(v1::Name(*status.reason)) + ")";
  if (status.message) why += ": " + Excerpt(*status.message);
  Note({std::chrono::duration<double>(now - started_).count(),
        fmt::format("task {} ({} number{})", batch.task_id, batch.ids.size(), batch.ids.size() == 1 ? "" : "s"),
        batch.hostname.empty() ? batch.agent_id : batch.hostname, why});
}

void JobActivity::DiskError(const Batch& batch) {
  ++counters_.disk_errors;
  if (!batch.agent_id.empty()) ++Agent(batch).disk_errors;
}

void JobActivity::NumberResolved(const NumberResult& result, const Batch* batch, TimePoint now) {
  resolved_work_ += EstimatedCpuSeconds(result.n);
  bool ok = result.ok;
  if (ok) {
    ++counters_.numbers_finished;
    counters_.result_bytes += result.digit_count();
  } else {
    ++counters_.numbers_failed;
    Note({std::chrono::duration<double>(now - started_).count(), std::to_string(result.n) + "!",
          batch == nullptr ? std::string() : (batch->hostname.empty() ? batch->agent_id : batch->hostname),
          result.error});
  }
  if (batch == nullptr || batch->agent_id.empty()) return;
  AgentStatus& agent = Agent(*batch);
  ++(ok ? agent.numbers_done : agent.numbers_failed);
}

void JobActivity::Progress(TaskProgressReport report, TimePoint now) {
  auto& slot = reports_[report.task_id];
  // Unordered and lossy: the largest figure stands.
  if (report.work >= slot.report.work) slot = {std::move(report), now};
}

}  // namespace factorial::scheduler
