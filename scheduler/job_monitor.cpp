#include "job_monitor.hpp"

#include <algorithm>

#include "factorial/cost_model.hpp"
#include "factorial/task_input.hpp"

namespace factorial::scheduler {
namespace {

double TotalWork(const JobBook& book, double& final_work) {
  final_work = 0;
  for (NumberId id = 0; id < book.size(); ++id) {
    if (IsFinal(book.state(id))) final_work += EstimatedCpuSeconds(book.number(id));
  }
  return book.pending_work() + final_work;
}

}  // namespace

JobMonitor::JobMonitor(const Scheduler& scheduler, std::string name, std::string version,
                       std::vector<std::pair<std::string, std::string>> settings)
    : scheduler_(scheduler),
      name_(std::move(name)),
      version_(std::move(version)),
      settings_(std::move(settings)),
      estimator_(TotalWork(scheduler.book(), resolved_before_)) {
  estimator_.AddResolved(resolved_before_);
}

double JobMonitor::Seconds(TimePoint t) const {
  return std::chrono::duration<double>(t - scheduler_.activity().started()).count();
}

std::shared_ptr<const JobStatus> JobMonitor::Snapshot(TimePoint now) {
  const JobBook& book = scheduler_.book();
  const JobActivity& activity = scheduler_.activity();
  double t = Seconds(now);
  auto status = std::make_shared<JobStatus>();
  std::map<std::string, AgentStatus> agents = activity.agents();
  // Tasks that started since the last snapshot, and the running ones' reports.
  for (const auto& [task_id, batch] : book.batches()) {
    if (!tracked_.contains(task_id)) {
      double work = 0;
      for (NumberId id : batch.ids) work += EstimatedCpuSeconds(book.number(id));
      int lanes = std::min<int>(TaskLanes(batch.cpus), static_cast<int>(batch.ids.size()));
      estimator_.TaskStarted(task_id, work, lanes, std::min(t, Seconds(batch.launched_at)));
      tracked_.emplace(task_id, Tracked{batch.ids});
    }
    if (batch.fetching) {  // finished: its results are on the way
      double delivered = 0;
      for (NumberId id : batch.ids) {
        if (IsFinal(book.state(id))) delivered += EstimatedCpuSeconds(book.number(id));
      }
      estimator_.TaskComputed(task_id, delivered, t);
      continue;
    }
    status->tasks_running += 1;
    status->cpus_held += batch.cpus;
    AgentStatus& agent = agents[batch.agent_id];
    agent.id = batch.agent_id;
    if (!batch.hostname.empty()) agent.hostname = batch.hostname;
    agent.tasks_running += 1;
    agent.cpus += batch.cpus;
  }
  for (const auto& [task_id, report] : activity.reports()) {
    if (!tracked_.contains(task_id)) continue;
    estimator_.TaskProgress(task_id, report.report.work, Seconds(report.at));
    status->reported_numbers += report.report.numbers;
    status->reported_work += report.report.work;
  }
  // Tasks over since the last snapshot.
  for (auto it = tracked_.begin(); it != tracked_.end();) {
    if (book.batches().contains(it->first)) {
      ++it;
      continue;
    }
    bool completed = std::all_of(it->second.ids.begin(), it->second.ids.end(),
                                 [&](NumberId id) { return book.state(id) == NumberState::kDone; });
    estimator_.TaskEnded(it->first, 0, completed, t);
    it = tracked_.erase(it);
  }
  double resolved = activity.resolved_work();
  estimator_.AddResolved(resolved - resolved_seen_);
  resolved_seen_ = resolved;
  estimate_ = estimator_.Sample(t);

  const Progress& progress = book.progress();
  numbers_meter_.Sample(RateMeter::Clock::time_point{} +
                            std::chrono::duration_cast<RateMeter::Clock::duration>(std::chrono::duration<double>(t)),
                        progress.done + progress.failed);
  status->name = name_;
  status->version = version_;
  status->state = book.all_final() ? "done" : scheduler_.subscribed() ? "running" : "connecting";
  status->framework_id = scheduler_.framework_id().value_or("");
  status->master = scheduler_.current_master();
  status->elapsed_seconds = t;
  status->numbers_total = book.size();
  status->numbers_done = progress.done;
  status->numbers_failed = progress.failed;
  status->numbers_pending = progress.pending;
  status->numbers_running = progress.running;
  status->work_total = estimate_.total;
  status->work_done = estimate_.done;
  status->work_rate = estimate_.rate;
  status->numbers_rate = numbers_meter_.rate();
  status->eta_seconds = estimate_.eta;
  status->counters = activity.counters();
  status->counters.tasks_launched = scheduler_.task_stats().tasks_launched;
  status->counters.offers_accepted = scheduler_.offer_stats().offers_used;
  status->counters.offers_declined = scheduler_.offer_stats().offers_declined;
  status->counters.calls_failed = scheduler_.offer_stats().calls_failed;
  for (auto& [id, agent] : agents) status->agents.push_back(std::move(agent));
  status->recent_failures.assign(activity.failures().begin(), activity.failures().end());
  for (const auto& [id, agent] : scheduler_.health().agents()) {
    status->launch_failures += agent.launch_failures;
    auto left = scheduler_.health().SetAsideFor(id, now);
    if (!left) continue;
    status->set_aside.push_back({id, agent.hostname, agent.cause, agent.detail, agent.failures,
                                 std::chrono::duration<double>(*left).count()});
  }
  status->settings = settings_;
  return status;
}

}  // namespace factorial::scheduler
