#pragma once

// What a finished task delivers. Its TASK_FINISHED carries results inline, failures of single
// numbers, and the names of result files left in the agent's sandbox; everything is checked
// against the batch before anything is used (a result naming a number twice, one not in the
// batch, or digits of the wrong shape is a broken result, and the batch runs again). Files are
// fetched here while the book keeps the task as fetching. A late inline result of an earlier
// single-number attempt is as good as a new one. What the results mean for the numbers goes
// back through Outcomes. Runs on the scheduler's event loop.

#include <functional>
#include <span>
#include <string>

#include "factorial/messages.hpp"
#include "factorial/result_codec.hpp"
#include "job_book.hpp"
#include "result_fetcher.hpp"

namespace factorial::scheduler {

class TaskResults {
 public:
  struct Outcomes {
    // n! is `digits`, delivered by `batch`.
    std::function<void(NumberId id, std::string digits, const Batch& batch)> done;
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

  // `batch` (not fetching) finished with `status`, which carries its results.
  void Finished(const Batch& batch, const v1::TaskStatus& status);
  // `status` is the TASK_FINISHED of a single-number task the book does not know (superseded
  // by a newer attempt, or from before a restart). If its number is not final yet and the
  // result is exactly its digits, they are delivered, as by a task on `hostname`'s agent that
  // took no time: true.
  bool Late(const v1::TaskStatus& status, const std::string& hostname, TimePoint now);

 private:
  using Checked = std::vector<std::pair<NumberId, ResultEntry*>>;
  Result<Checked> Check(const Batch& batch, ResultList& results) const;
  void Fetch(const std::string& task_id, const ResultFile& file);
  void FetchDone(const std::string& task_id);

  JobBook& book_;
  ResultFetcher& fetcher_;
  Outcomes outcomes_;
};

}  // namespace factorial::scheduler
