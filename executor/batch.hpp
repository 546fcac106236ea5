#pragma once

// A task's run: its numbers computed on L lanes. A task of one number is a batch of one.
//
// Where each number runs is the batch's plan (run_plan.hpp, by the cost model). Numbers up to
// the runner's in-process limit, and numbers cheaper to advance from a neighbour in base 10^19
// than to compute alone, are computed by lane threads inside the executor: the plan cuts them
// into contiguous ascending pieces of about equal cost, and a lane thread takes a whole piece
// at a time and advances through it (decimal_run.hpp), so a number costs its arithmetic and
// nothing else (no process, no thread, no message). Isolated larger numbers ("big") run one
// per worker process, largest first, as single-number tasks do: memory-capped and killable.
// A lane runs one big number at a time with one conversion thread, except the last number
// left, which gets the lanes no one else uses. Big numbers start only while the task's memory covers every running worker's
// need (FactorialMemoryBytes, which is also each worker's cap); one that needs more than the
// whole task has is reported failed (`oom`) without running.
//
// Results are decided up front from the exact digit counts, so nothing is buffered beyond
// the inline limit: if the whole list of `<n> d <digits>` lines fits `inline_limit`, the
// digits travel inline in TaskStatus.data; otherwise each lane thread streams its numbers
// into its own result files `<task_id>.lane<k>.<p>.frf` and each big number's worker writes
// `<task_id>.<n>.frf`, named on `file` lines (result_codec.hpp). A number whose worker fails
// is an `e` line; the batch still finishes.
//
// Parts: while the batch runs, a lane closes its file every kPartBytes of digits or kPartAge,
// and a big number's file is whole when its worker ends; each closed file is handed to
// `on_parts` (the executor announces it in a TASK_RUNNING, so the scheduler fetches it while
// the batch computes). Files closed when nothing is left to run go into the final result. Memory stays bounded whatever the batch size:
// the numbers themselves, one number's digits per lane, and the inline list when inline.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "factorial/event_loop.hpp"
#include "factorial/result_codec.hpp"
#include "compute_request.hpp"
#include "runner.hpp"

namespace factorial::executor {

// When a lane closes its file as a part. 32 MiB: a part costs a status update (checkpointed by
// the agent, relayed by the master), an HTTP request and a journal commit at the scheduler,
// so parts should be large; a lane of small numbers writes ~15-30 MB of digits per second, so
// a part closes every second or two and the scheduler fetches while the lane computes. 2 s:
// a slow lane (numbers near the in-process limit) still publishes within a couple of seconds,
// which bounds what is left to fetch after the task ends.
inline constexpr std::uint64_t kPartBytes = 32ull << 20;
inline constexpr std::chrono::seconds kPartAge{2};

struct BatchSpec {
  std::string task_id;
  std::vector<std::uint64_t> numbers;  // distinct, in any order
  int lanes = 1;
  std::uint64_t memory_bytes = 0;  // the task's mem; 0: no cap
  std::size_t inline_limit = 65536;
  std::string sandbox;        // where files are written
  std::string agent_sandbox;  // the same directory as results name it (the agent's view)
  std::uint64_t part_bytes = kPartBytes;  // 0: a lane's file closes only when it ends
  std::chrono::steady_clock::duration part_age = kPartAge;  // zero: no age limit
  std::function<std::chrono::steady_clock::time_point()> clock = [] { return std::chrono::steady_clock::now(); };
};

struct BatchOutcome {
  enum class Kind { kFinished, kKilled, kFailed };
  Kind kind = Kind::kFailed;
  std::string data;     // kFinished: the result list (result_codec.hpp)
  std::string message;  // for TaskStatus.message
  // kFailed: a result file could not be written for want of disk (full, over quota, failing).
  bool storage = false;
};

// How far a running batch is: numbers computed or failed, and their estimated CPU seconds
// (cost_model.hpp).
struct BatchProgress {
  std::uint64_t numbers = 0;
  double work = 0;
};

// Bytes of the inline result list of `numbers` (result_codec.hpp): the bare digits for one
// number, else "FR1\n" and a `<n> d <digits>\n` line each.
std::uint64_t InlineListBytes(const std::vector<std::uint64_t>& numbers);

// Runs one batch. Call everything on the loop thread.
class BatchRun {
 public:
  using Done = std::function<void(BatchOutcome)>;
  // Result files closed while the batch still runs, and how many numbers are computed so far.
  using Parts = std::function<void(std::vector<ResultFile> files, std::uint64_t computed)>;
  // `done` runs on the loop thread exactly once after Start, unless the run is destroyed first.
  BatchRun(EventLoop& loop, ComputeRunner& runner, BatchSpec spec, Done done);
  ~BatchRun();  // stops the lanes (between numbers), kills the workers, joins
  BatchRun(const BatchRun&) = delete;
  BatchRun& operator=(const BatchRun&) = delete;

  // Without it, every file goes into the final result.
  void set_on_parts(Parts on_parts) { on_parts_ = std::move(on_parts); }
  void Start();
  // Stops the lanes between numbers and kills the workers; `done` then reports kKilled.
  void Kill();

  bool inline_results() const { return inline_; }
  // The runner keys of the big numbers running now (`<task_id>/<n>`).
  std::vector<std::string> running_workers() const;
  // At least this much is done: big numbers whose workers ended, and the numbers each lane
  // has counted done (a count of its own, so a tiny n pays no shared increment).
  BatchProgress Progress();

 private:
  struct Shared;  // what lane threads read and write
  struct LaneResult {
    int lane = 0;
    std::vector<ResultEntry> entries;  // inline digits
    std::optional<ResultFile> file;
    std::optional<std::string> error;
    bool storage = false;  // `error` is the disk's
    std::uint64_t computed = 0;
  };
  struct Worker {
    std::uint64_t n = 0;
    std::uint64_t reserved_bytes = 0;
  };

  void Dispatch();
  bool StartBig();  // false: the next big number waits for memory
  void StartLane();
  static void RunLane(const std::shared_ptr<Shared>& shared, int lane, LaneResult* result);
  void OnWorkerDone(const std::string& key, ComputeOutcome outcome);
  void OnLaneDone(LaneResult result);
  void OnLanePart(ResultFile file);
  void Abort(std::string error, bool storage);
  // True when the batch finished (and `this` may be gone); else closed files go out as parts.
  bool MaybeFinish();
  void PublishParts();
  std::uint64_t LaneNumbers() const;  // computed on lane threads so far
  void RemoveFiles();
  bool SmallLeft() const;
  std::string FileName(const std::string& suffix) const;

  EventLoop& loop_;
  ComputeRunner& runner_;
  BatchSpec spec_;
  Done done_;
  Parts on_parts_;
  bool inline_ = true;
  std::vector<std::uint64_t> big_;  // largest first
  std::size_t next_big_ = 0;
  std::shared_ptr<Shared> shared_;
  int busy_lanes_ = 0;
  int lane_threads_started_ = 0;
  std::map<int, std::thread> lane_threads_;
  std::map<std::string, Worker> workers_;
  std::uint64_t reserved_bytes_ = 0;
  std::vector<std::string> written_paths_;  // in our view of the sandbox: each big number's
  bool killed_ = false;
  std::optional<std::string> abort_error_;
  bool abort_storage_ = false;
  bool finished_ = false;
  ResultList results_;
  std::uint64_t computed_ = 0;
  std::uint64_t failed_ = 0;
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

}  // namespace factorial::executor
