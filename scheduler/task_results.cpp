#include "task_results.hpp"

#include <unordered_set>

#include <spdlog/spdlog.h>

#include "factorial/logging.hpp"
#include "factorial/factorial_digits.hpp"
#include "factorial/sizing.hpp"

namespace factorial::scheduler {

TaskResults::TaskResults(JobBook& book, ResultFetcher& fetcher, Outcomes outcomes)
    : book_(book), fetcher_(fetcher), outcomes_(std::move(outcomes)) {}

void TaskResults::Finished(const Batch& batch, const v1::TaskStatus& status, std::function<void()> safe) {
  book_.Confirm(batch.task_id);
  std::string task_id = batch.task_id;
  auto decoded = DecodeResultList(status.data.value_or(""), book_.number(batch.ids[0]));
  auto entries = decoded.ok() ? Check(batch, decoded.value()) : decoded.error();
  if (!entries.ok()) {
    Batch ended = book_.Forget(task_id);
    outcomes_.again(ended.ids, true, "TASK_FINISHED with an unreadable result: " + entries.error().message, ended);
    if (safe) safe();
    return;
  }
  if (safe) on_settled_[task_id] = std::move(safe);
  if (status.agent_id) book_.Confirm(task_id, status.agent_id->value);
  bool alone = batch.ids.size() == 1;
  for (auto& [id, entry] : entries.value()) {
    if (book_.state(id) != NumberState::kLaunched) continue;  // a late result of an older attempt came first
    if (auto* digits = std::get_if<std::string>(&entry->value)) {
      outcomes_.done(id, std::move(*digits), std::nullopt, batch);
    } else {
      // One number of the batch failed; the others did not: it runs again alone. A number
      // that ran out of memory alone will again, as when its task failed for memory.
      const auto& failure = std::get<ResultFailure>(entry->value);
      book_.Release(task_id, id);  // its files, fetched next, do not hold it
      outcomes_.again(std::span(&id, 1), !(alone && failure.reason == ResultFailure::Reason::kOom),
                      fmt::format("{} in batch {}: {}", ReasonName(failure.reason), task_id, failure.message), batch);
    }
  }
  // Larger results wait in the agent's sandbox; the task is over, so the master forgets it.
  // Parts still on their way keep it as fetching too. Counted first: a fetch may fail at once.
  const auto& files = decoded.value().files;
  if (batch.fetches == 0 && files.empty()) {
    Settle(task_id, "its result did not include it");
    return;
  }
  book_.MarkFetching(task_id, static_cast<int>(files.size()), true);
  if (!files.empty()) spdlog::info("task {} finished; fetching {} result file(s)", task_id, files.size());
  const Batch copy = batch;
  for (const ResultFile& file : files) Fetch(copy, file, true, {});
}

void TaskResults::Parts(const Batch& batch, const v1::TaskStatus& status, std::function<void()> safe) {
  const std::string& task_id = batch.task_id;
  auto decoded = DecodeResultList(status.data.value_or(""), 0);
  auto entries = decoded.ok() ? Check(batch, decoded.value()) : decoded.error();
  if (!entries.ok() || !entries.value().empty()) {
    // Parts are files only. The numbers stay with the task: what it does not deliver by its
    // end runs again then.
    spdlog::warn("task {}: a TASK_RUNNING with results that cannot be used: {}", task_id,
                 entries.ok() ? "inline entries where only files belong" : entries.error().message);
    safe();
    return;
  }
  const auto& files = decoded.value().files;
  if (files.empty()) {
    safe();
    return;
  }
  auto left = std::make_shared<std::size_t>(files.size());
  auto each = [left, safe = std::move(safe)] {
    if (--*left == 0) safe();
  };
  book_.MarkFetching(task_id, static_cast<int>(files.size()), false);
  part_fetches_ += files.size();
  const Batch copy = batch;
  for (const ResultFile& file : files) Fetch(copy, file, false, each);
}

Result<TaskResults::Checked> TaskResults::Check(const Batch& batch, ResultList& results) const {
  std::unordered_set<NumberId> members(batch.ids.begin(), batch.ids.end());
  std::unordered_set<NumberId> named;
  Checked entries;
  auto broken = [](std::string why) { return MakeError(Errc::kCorruption, std::move(why)); };
  for (ResultEntry& entry : results.entries) {
    auto id = book_.workload().Find(entry.n);
    if (!id || !members.contains(*id) || !named.insert(*id).second) {
      return broken(fmt::format("{} {}", entry.n, !id || !members.contains(*id) ? "is not in the batch" : "is named twice"));
    }
    if (const auto* digits = std::get_if<std::string>(&entry.value);
        digits != nullptr && !HasFactorialShape(entry.n, *digits)) {
      return broken(fmt::format("a result of the wrong shape for {}! ({} digits, expected {})", entry.n,
                                digits->size(), FactorialLengthText(entry.n)));
    }
    entries.emplace_back(*id, &entry);
  }
  if (!results.files.empty() && !fetcher_.KnowsAgent(batch.agent_id)) {
    return broken("no address known for agent " + (batch.agent_id.empty() ? "(none given)" : batch.agent_id));
  }
  return entries;
}

bool TaskResults::Late(const v1::TaskStatus& status, const std::string& hostname, TimePoint now) {
  if (!status.data) return false;
  auto parsed = JobBook::ParseTaskId(status.task_id.value);
  if (!parsed) return false;
  auto id = book_.workload().Find(parsed->first);
  if (!id || IsFinal(book_.state(*id))) return false;
  auto decoded = DecodeResultList(*status.data, parsed->first);
  if (!decoded.ok() || !decoded.value().files.empty() || decoded.value().entries.size() != 1) return false;
  auto* digits = std::get_if<std::string>(&decoded.value().entries[0].value);
  if (digits == nullptr || decoded.value().entries[0].n != parsed->first || !HasFactorialShape(parsed->first, *digits)) {
    return false;
  }
  spdlog::info("{}! arrived from an earlier attempt, {}", parsed->first, status.task_id.value);
  const Batch late{.task_id = status.task_id.value,
                   .ids = {},
                   .agent_id = status.agent_id ? status.agent_id->value : std::string(),
                   .hostname = hostname,
                   .launched_at = now,
                   .reconciled_at = std::nullopt};
  outcomes_.done(*id, std::move(*digits), std::nullopt, late);
  return true;
}

void TaskResults::Fetch(const Batch& batch, const ResultFile& file, bool over, std::function<void()> fetched) {
  const std::string task_id = batch.task_id;
  auto finished = [this, task_id, over, fetched = std::move(fetched), path = file.path](const Status& status) {
    if (!status.ok()) {
      spdlog::warn("fetching {} of task {} failed: {}", Excerpt(path), Excerpt(task_id), status.error().message);
    }
    // Shows that results stream: a part is in before its task's TASK_FINISHED arrives.
    if (status.ok() && !over) spdlog::debug("task {}: part {} fetched", task_id, Excerpt(path));
    if (!over) --part_fetches_;
    if (fetched) fetched();
    FetchDone(task_id);
    if (!over) outcomes_.fetched();
  };
  // Who delivered, should the task be over and forgotten before its part arrives.
  const Batch origin{.task_id = task_id,
                     .ids = {},
                     .agent_id = batch.agent_id,
                     .hostname = batch.hostname,
                     .launched_at = batch.launched_at,
                     .reconciled_at = std::nullopt};
  fetcher_.FetchFile(
      batch.agent_id, file,
      [this, ids = std::unordered_set<NumberId>(batch.ids.begin(), batch.ids.end())](
          std::uint64_t n) -> std::optional<NumberId> {
        // A number of the batch is expected whatever became of it meanwhile: a result that
        // came first from elsewhere makes this one redundant, not the file wrong.
        auto id = book_.workload().Find(n);
        if (!id || !ids.contains(*id)) return std::nullopt;
        return id;
      },
      [this, task_id, origin](NumberId id, std::string digits, std::optional<DigitsSlice> slice) {
        // Computed and verified: done, even if the task failed meanwhile (then the number is
        // pending or running elsewhere, and a later result of it is late).
        const Batch* owner = book_.FindTask(task_id);
        if (!IsFinal(book_.state(id))) {
          outcomes_.done(id, std::move(digits), std::move(slice), owner != nullptr ? *owner : origin);
        }
      },
      finished);
}

void TaskResults::FetchDone(const std::string& task_id) {
  if (!book_.FetchDone(task_id)) return;
  Settle(task_id, "its result files did not deliver it");
  outcomes_.fetched();
}

void TaskResults::Settle(const std::string& task_id, const std::string& why) {
  outcomes_.settle(task_id, why);
  auto node = on_settled_.extract(task_id);
  if (!node.empty() && node.mapped()) node.mapped()();
}

}  // namespace factorial::scheduler
