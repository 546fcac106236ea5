#pragma once

// What a task delivers. While it runs, its TASK_RUNNING updates may name result files it has
// closed (parts): they are fetched at once. Its TASK_FINISHED carries results inline, failures
// of single numbers, and the names of the result files not announced before; everything is
// checked against the batch before anything is used (a result naming a number twice, one not
// in the batch, or digits of the wrong shape is a broken result, and the batch runs again).
// Files are fetched here while the book counts them (and keeps a finished task as fetching).
// A number a part delivered is done whatever becomes of its task later. A late inline result
// of an earlier single-number attempt is as good as a new one. What the results mean for the
// numbers goes back through Outcomes; `safe` callbacks say when an update's results are all
// handed on, so that it can be acknowledged (the agent keeps and resends an update until then,
// and the executor removes the files it named once it is acknowledged). Runs on the
// scheduler's event loop.

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

#include "factorial/messages.hpp"
#include "factorial/result_codec.hpp"
#include "job_book.hpp"
#include "result_fetcher.hpp"

namespace factorial::scheduler {

class TaskResults {
 public:
  struct Outcomes {
    // n! is `digits` (or, for a big fetched result, `slice`), delivered by `batch`.
    std::function<void(NumberId id, std::string digits, std::optional<DigitsSlice> slice, const Batch& batch)> done;
    // These numbers run again, and the attempt counts against --max-retries; not `retryable`:
    // they fail now.
    std::function<void(std::span<const NumberId> ids, bool retryable, const std::string& why, const Batch& from)>
        again;
    // The task is over: what it did not deliver runs again, and the book forgets it.
    std::function<void(const std::string& task_id, const std::string& why)> settle;
    // The last fetch of a task is over and the task settled.
    std::function<void()> fetched;
  };

  // `book` and `fetcher` must outlive this.
  TaskResults(JobBook& book, ResultFetcher& fetcher, Outcomes outcomes);

  // `batch` (not fetching) finished with `status`, which carries its results. `safe()` runs
  // once the task has settled: every file fetched (or failed) and every number delivered or
  // requeued.
  void Finished(const Batch& batch, const v1::TaskStatus& status, std::function<void()> safe = {});
  // `batch` (running) announced result files it closed in `status`, a TASK_RUNNING whose data
  // is a result list: they are fetched now, while it computes. `safe()` runs once each is
  // fetched and its numbers delivered, or its fetch failed (those numbers stay with the task
  // and run again when it ends undelivered, as for a file its TASK_FINISHED names).
  void Parts(const Batch& batch, const v1::TaskStatus& status, std::function<void()> safe);
  // Fetches of parts of tasks that still run.
  std::size_t part_fetches() const { return part_fetches_; }
  // `status` is the TASK_FINISHED of a single-number task the book does not know (superseded
  // by a newer attempt, or from before a restart). If its number is not final yet and the
  // result is exactly its digits, they are delivered, as by a task on `hostname`'s agent that
  // took no time: true.
  bool Late(const v1::TaskStatus& status, const std::string& hostname, TimePoint now);

 private:
  using Checked = std::vector<std::pair<NumberId, ResultEntry*>>;
  Result<Checked> Check(const Batch& batch, ResultList& results) const;
  void Fetch(const Batch& batch, const ResultFile& file, bool over, std::function<void()> fetched);
  void FetchDone(const std::string& task_id);
  void Settle(const std::string& task_id, const std::string& why);

  JobBook& book_;
  ResultFetcher& fetcher_;
  Outcomes outcomes_;
  // What runs once a finished task settles (its TASK_FINISHED is then safe to acknowledge).
  std::unordered_map<std::string, std::function<void()>> on_settled_;
  std::size_t part_fetches_ = 0;
};

}  // namespace factorial::scheduler
