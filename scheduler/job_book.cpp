#include "job_book.hpp"

#include <algorithm>
#include <charconv>
#include <climits>

namespace factorial::scheduler {
namespace {

constexpr std::string_view kTaskPrefix = "factorial-";

template <typename T>
std::optional<T> Digits(std::string_view text) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

bool IsFinal(JobState state) { return state == JobState::kDone || state == JobState::kFailed; }

JobBook::JobBook(const std::vector<std::uint64_t>& numbers, double (*mem_of)(std::uint64_t), TimePoint now) {
  for (std::uint64_t n : numbers) {
    auto [it, added] = jobs_.try_emplace(n);
    if (!added) continue;  // duplicates are computed once
    it->second.n = n;
    it->second.mem = mem_of(n);
    it->second.pending_since = now;
    pending_.insert(n);
  }
  progress_.pending = pending_.size();
}

Job* JobBook::Find(std::uint64_t n) {
  auto it = jobs_.find(n);
  return it == jobs_.end() ? nullptr : &it->second;
}

Job* JobBook::FindTask(const std::string& task_id) {
  auto it = task_to_n_.find(task_id);
  return it == task_to_n_.end() ? nullptr : Find(it->second);
}

std::vector<const Job*> JobBook::Launched() const {
  std::vector<const Job*> out;
  out.reserve(progress_.running);
  for (const auto& [n, job] : jobs_) {
    if (job.state == JobState::kLaunched) out.push_back(&job);
  }
  return out;
}

void JobBook::StartFetch(Job& job) {
  SetState(job, JobState::kLaunched);
  job.fetching = true;
}

void JobBook::SetState(Job& job, JobState state) {
  job.fetching = false;  // any change of state ends a fetch
  auto counter = [this](JobState s) -> std::size_t& {
    switch (s) {
      case JobState::kPending: return progress_.pending;
      case JobState::kLaunched: return progress_.running;
      case JobState::kDone: return progress_.done;
      case JobState::kFailed: return progress_.failed;
    }
    return progress_.pending;  // unreachable: every state is listed
  };
  if (job.state == JobState::kPending) pending_.erase(job.n);
  --counter(job.state);
  job.state = state;
  ++counter(state);
  if (state == JobState::kPending) pending_.insert(job.n);
}

const std::string& JobBook::Launch(Job& job, const std::string& agent_id, TimePoint now) {
  ++job.attempts;
  job.task_id = TaskId(job.n, job.attempts);
  job.agent_id = agent_id;
  job.launched_at = now;
  job.dropped = false;
  job.unconfirmed = false;
  SetState(job, JobState::kLaunched);
  task_to_n_[job.task_id] = job.n;
  return job.task_id;
}

bool JobBook::Retry(Job& job, bool retryable, int max_retries, TimePoint now) {
  if (job.state == JobState::kLaunched && job.dropped) ++job.unstarted_attempts;
  if (!retryable || job.attempts - job.unstarted_attempts > max_retries ||
      job.unstarted_attempts > kMaxUnstartedAttempts) {
    return false;
  }
  job.unconfirmed = false;
  SetState(job, JobState::kPending);
  job.pending_since = now;
  return true;
}

void JobBook::Finish(Job& job, bool ok) { SetState(job, ok ? JobState::kDone : JobState::kFailed); }

Job* JobBook::Adopt(const std::string& task_id, const std::optional<std::string>& agent_id, TimePoint now) {
  auto parsed = ParseTaskId(task_id);
  if (!parsed) return nullptr;
  auto [n, attempt] = *parsed;
  Job* job = Find(n);
  if (job == nullptr || IsFinal(job->state)) return nullptr;
  task_to_n_[task_id] = n;
  job->attempts = std::max(job->attempts, attempt);
  if (job->state == JobState::kPending || job->task_id.empty()) {
    SetState(*job, JobState::kLaunched);
    job->task_id = task_id;
    job->launched_at = now;
    if (agent_id) job->agent_id = *agent_id;
  }
  return job;
}

std::string JobBook::TaskId(std::uint64_t n, int attempt) {
  return std::string(kTaskPrefix) + std::to_string(n) + "-" + std::to_string(attempt);
}

std::optional<std::pair<std::uint64_t, int>> JobBook::ParseTaskId(const std::string& task_id) {
  if (task_id.rfind(kTaskPrefix, 0) != 0) return std::nullopt;
  auto dash = task_id.rfind('-');
  if (dash == std::string::npos || dash <= kTaskPrefix.size()) return std::nullopt;
  std::string_view id(task_id);
  auto n = Digits<std::uint64_t>(id.substr(kTaskPrefix.size(), dash - kTaskPrefix.size()));
  auto attempt = Digits<int>(id.substr(dash + 1));
  if (!n || !attempt) return std::nullopt;
  return std::pair{*n, *attempt};
}

}  // namespace factorial::scheduler
