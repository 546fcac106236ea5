#include "batch.hpp"

#include <algorithm>
#include <cstring>
#include <functional>

#include <gmp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "compute.hpp"
#include "factorial/cost_model.hpp"
#include "factorial/sizing.hpp"
#include "frf_file.hpp"
#include "run_plan.hpp"

namespace factorial::executor {

struct BatchRun::Shared {
  std::vector<RunPiece> pieces;      // the lanes' numbers (run_plan.hpp), each piece taken whole
  std::size_t lane_numbers = 0;      // in all pieces
  std::atomic<std::size_t> next{0};  // the next index of `pieces` a lane takes
  // What each lane has done, written by that lane alone on a cache line of its own, so
  // counting costs a lane two plain stores per number rather than a contended increment.
  struct alignas(64) LaneDone {
    std::atomic<std::uint64_t> numbers{0};
    std::atomic<std::uint64_t> work_ns{0};  // their EstimatedCpuSeconds
  };
  std::unique_ptr<LaneDone[]> done;
  std::atomic<bool> stop{false};     // checked between numbers
  bool inline_results = true;
  std::string task_id;
  std::string sandbox;
  std::string agent_sandbox;
  std::uint64_t part_bytes = 0;
  std::chrono::steady_clock::duration part_age{};
  std::function<std::chrono::steady_clock::time_point()> clock;
  // Hands a closed part to the loop thread (set by StartLane's owner).
  std::function<void(ResultFile)> part_closed;
};

namespace {

std::string Count(std::uint64_t count, const std::string& noun) {
  return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

}  // namespace

std::uint64_t InlineListBytes(const std::vector<std::uint64_t>& numbers) {
  if (numbers.size() == 1) return FactorialDigits(numbers[0]);  // the bare digits
  std::uint64_t bytes = 4;  // "FR1\n"
  for (std::uint64_t n : numbers) bytes += std::to_string(n).size() + 3 + FactorialDigits(n) + 1;
  return bytes;
}

BatchRun::BatchRun(EventLoop& loop, ComputeRunner& runner, BatchSpec spec, Done done)
    : loop_(loop), runner_(runner), spec_(std::move(spec)), done_(std::move(done)), shared_(std::make_shared<Shared>()) {
  spec_.lanes = std::max(1, spec_.lanes);
  inline_ = InlineListBytes(spec_.numbers) <= spec_.inline_limit;
  // Two pieces per lane: lanes that a big number holds for a while still end together.
  BatchPlan plan = PlanBatch(std::move(spec_.numbers), runner_.InProcessMaxN(), 2 * spec_.lanes);
  spec_.numbers = {};
  big_ = std::move(plan.workers);
  shared_->pieces = std::move(plan.pieces);
  shared_->done = std::make_unique<Shared::LaneDone[]>(static_cast<std::size_t>(spec_.lanes));
  for (const RunPiece& piece : shared_->pieces) shared_->lane_numbers += piece.size();
  shared_->inline_results = inline_;
  shared_->task_id = spec_.task_id;
  shared_->sandbox = spec_.sandbox;
  shared_->agent_sandbox = spec_.agent_sandbox;
  shared_->part_bytes = spec_.part_bytes;
  shared_->part_age = spec_.part_age;
  shared_->clock = spec_.clock;
  auto alive = alive_;
  shared_->part_closed = [this, alive](ResultFile file) {
    loop_.Post([this, alive, file = std::move(file)]() mutable {
      if (alive->load()) OnLanePart(std::move(file));
    });
  };
}

BatchRun::~BatchRun() {
  alive_->store(false);
  shared_->stop.store(true);
  for (const auto& key : running_workers()) runner_.Kill(key);
  for (auto& [lane, thread] : lane_threads_) {
    if (thread.joinable()) thread.join();
  }
}

std::string BatchRun::FileName(const std::string& suffix) const { return "/" + spec_.task_id + "." + suffix; }

bool BatchRun::SmallLeft() const { return shared_->next.load() < shared_->pieces.size(); }

std::vector<std::string> BatchRun::running_workers() const {
  std::vector<std::string> keys;
  for (const auto& [key, worker] : workers_) keys.push_back(key);
  return keys;
}

void BatchRun::Start() {
  spdlog::info("task {}: batch of {} ({} in workers, {} on lane threads) on {}, results {}", spec_.task_id,
               Count(big_.size() + shared_->lane_numbers, "number"), big_.size(), shared_->lane_numbers,
               Count(static_cast<std::uint64_t>(spec_.lanes), "lane"), inline_ ? "inline" : "in sandbox files");
  Dispatch();
  MaybeFinish();
}

void BatchRun::Dispatch() {
  if (killed_ || abort_error_) return;
  while (busy_lanes_ < spec_.lanes && next_big_ < big_.size()) {
    if (!StartBig()) break;
  }
  // Lanes that no big number can use now (none left, or the next waits for memory) take the
  // lane pieces; a lane thread keeps its lane until they are all taken.
  while (busy_lanes_ < spec_.lanes && lane_threads_started_ < spec_.lanes && SmallLeft()) StartLane();
}

bool BatchRun::StartBig() {
  std::uint64_t n = big_[next_big_];
  std::uint64_t memory = spec_.memory_bytes;
  std::uint64_t need = FactorialMemoryBytes(n);
  if (memory > 0 && need > memory) {
    // It cannot fit even alone: report it without running it.
    ++next_big_;
    ++failed_;
    results_.entries.push_back(
        {n, ResultFailure{ResultFailure::Reason::kOom, std::to_string(n) + "! needs about " +
                                                           std::to_string(need >> 20) + " MiB but the task has " +
                                                           std::to_string(memory >> 20) + " MiB"}});
    return true;
  }
  if (memory > 0 && need > memory - reserved_bytes_) return false;  // after a running one ends
  ++next_big_;
  // The last number left gets every lane not busy; the others convert on their own lane.
  int threads = next_big_ == big_.size() && !SmallLeft() ? spec_.lanes - busy_lanes_ : 1;
  if (memory > 0) threads = ConversionThreadsWithin(n, threads, memory - reserved_bytes_);
  ComputeRequest request;
  request.n = n;
  request.threads = threads;
  request.worker_process = true;
  if (inline_) {
    request.inline_limit = spec_.inline_limit;
    request.result_path = spec_.sandbox + FileName(std::to_string(n) + ".result");
  } else {
    request.framed_file = true;
    request.result_path = spec_.sandbox + FileName(std::to_string(n) + ".frf");
  }
  written_paths_.push_back(request.result_path);
  std::uint64_t reserved = memory > 0 ? FactorialMemoryBytes(n, threads) : 0;
  // The last number left may use all the memory no running one holds: alone in its task, it
  // is capped at the task's memory, as Mesos caps the task.
  if (memory > 0 && next_big_ == big_.size() && !SmallLeft()) reserved = memory - reserved_bytes_;
  request.memory_limit_bytes = reserved;
  reserved_bytes_ += reserved;
  ++busy_lanes_;
  std::string key = spec_.task_id + "/" + std::to_string(n);
  workers_[key] = Worker{n, reserved};
  auto alive = alive_;
  runner_.Start(key, request, [this, alive, key](ComputeOutcome outcome) {
    if (alive->load()) OnWorkerDone(key, std::move(outcome));
  });
  return true;
}

void BatchRun::StartLane() {
  int lane = lane_threads_started_++;
  ++busy_lanes_;
  auto shared = shared_;
  auto alive = alive_;
  lane_threads_[lane] = std::thread([this, shared, alive, lane] {
    LaneResult result;
    result.lane = lane;
    RunLane(shared, lane, &result);
    if (!alive->load()) return;
    loop_.Post([this, alive, result = std::move(result)]() mutable {
      if (alive->load()) OnLaneDone(std::move(result));
    });
  });
}

void BatchRun::RunLane(const std::shared_ptr<Shared>& shared, int lane, LaneResult* result) {
  // One run reused for every number: its limbs and text buffer are allocated once.
  FactorialRun run;
  const RunPiece* piece = nullptr;
  std::size_t step = 0;
  std::string base = "/" + shared->task_id + ".lane" + std::to_string(lane);
  PartWriter parts({.base = shared->sandbox + base,
                    .part_bytes = shared->part_bytes,
                    .part_age = shared->part_age,
                    .now = shared->clock});
  // Our view of a part's path becomes the agent's.
  auto named = [&](const PartWriter::Part& part) {
    return ResultFile{shared->agent_sandbox + part.path.substr(shared->sandbox.size()), part.written.size,
                      part.written.digest};
  };
  while (!shared->stop.load(std::memory_order_relaxed)) {
    if (piece == nullptr || step == piece->size()) {  // the next piece, a run of its own
      std::size_t index = shared->next.fetch_add(1, std::memory_order_relaxed);
      if (index >= shared->pieces.size()) break;
      piece = &shared->pieces[index];
      step = 0;
      run.Reset();
    }
    std::uint64_t n = (*piece)[step].n;
    std::string_view digits = ComputeStep(run, (*piece)[step++]);
    ++result->computed;
    auto& done = shared->done[static_cast<std::size_t>(lane)];
    done.numbers.store(done.numbers.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    done.work_ns.store(done.work_ns.load(std::memory_order_relaxed) +
                           static_cast<std::uint64_t>(EstimatedCpuSeconds(n) * 1e9),
                       std::memory_order_relaxed);
    if (shared->inline_results) {
      // Built in place: from a temporary, GCC 12 at -O2 warns (falsely) that the variant's
      // other alternative may be used uninitialized.
      auto& entry = result->entries.emplace_back();
      entry.n = n;
      entry.value.emplace<std::string>(digits);
      continue;
    }
    auto appended = parts.Append(n, digits);
    if (!appended.ok()) {
      result->error = appended.error().message;
      result->storage = IsStorageError(appended.error());
      return;
    }
    if (*appended) shared->part_closed(named(**appended));
  }
  if (shared->stop.load()) return;  // a stopped lane's open file is removed
  auto closed = parts.Close();
  if (!closed.ok()) {
    result->error = closed.error().message;
    result->storage = IsStorageError(closed.error());
    return;
  }
  if (*closed) result->file = named(**closed);
}

void BatchRun::OnWorkerDone(const std::string& key, ComputeOutcome outcome) {
  auto it = workers_.find(key);
  if (it == workers_.end()) return;
  Worker worker = it->second;
  workers_.erase(it);
  reserved_bytes_ -= worker.reserved_bytes;
  --busy_lanes_;
  std::uint64_t n = worker.n;
  switch (outcome.kind) {
    case ComputeOutcome::Kind::kInline:
      ++computed_;
      results_.entries.push_back({n, std::move(outcome.digits)});
      break;
    case ComputeOutcome::Kind::kFile:
      if (inline_) {
        // The digits were counted to fit inline: a file here is the runner's mistake, and
        // nothing would fetch it.
        ++failed_;
        ::unlink((spec_.sandbox + FileName(std::to_string(n) + ".result")).c_str());
        results_.entries.push_back(
            {n, ResultFailure{ResultFailure::Reason::kError, "the worker wrote a file where inline digits were due"}});
      } else {
        ++computed_;
        results_.files.push_back(
            {spec_.agent_sandbox + FileName(std::to_string(n) + ".frf"), outcome.size, outcome.digest});
      }
      break;
    case ComputeOutcome::Kind::kFailed:
      if (outcome.storage) {
        // The disk, not the number: the batch fails as a whole, so its numbers run elsewhere.
        Abort(std::move(outcome.error), true);
        break;
      }
      ++failed_;
      spdlog::warn("task {}: {}! failed: {}", spec_.task_id, n, outcome.error);
      results_.entries.push_back(
          {n, ResultFailure{outcome.out_of_memory ? ResultFailure::Reason::kOom : ResultFailure::Reason::kError,
                            outcome.error}});
      break;
    case ComputeOutcome::Kind::kKilled:
      break;
  }
  Dispatch();
  if (!MaybeFinish()) PublishParts();
}

void BatchRun::OnLaneDone(LaneResult result) {
  if (auto it = lane_threads_.find(result.lane); it != lane_threads_.end()) {
    it->second.join();  // it posted this and is returning
    lane_threads_.erase(it);
  }
  --busy_lanes_;
  if (result.error) {
    Abort(*result.error, result.storage);
  } else {
    for (auto& entry : result.entries) results_.entries.push_back(std::move(entry));
    if (result.file) results_.files.push_back(std::move(*result.file));
  }
  Dispatch();
  if (!MaybeFinish()) PublishParts();
}

void BatchRun::OnLanePart(ResultFile file) {
  results_.files.push_back(std::move(file));
  if (killed_ || abort_error_) return;  // removed with the rest when the batch ends
  PublishParts();
}

void BatchRun::PublishParts() {
  // While something is left to run: what closes last goes out with the final result.
  if (!on_parts_ || results_.files.empty() || finished_ || killed_ || abort_error_) return;
  if (busy_lanes_ == 0 && next_big_ >= big_.size() && !SmallLeft()) return;
  std::vector<ResultFile> files = std::move(results_.files);
  results_.files.clear();
  // The executor owns them now: it removes each once its announcement is acknowledged.
  for (const auto& file : files) {
    std::erase(written_paths_, spec_.sandbox + file.path.substr(spec_.agent_sandbox.size()));
  }
  on_parts_(std::move(files), computed_ + LaneNumbers());
}

void BatchRun::Kill() {
  if (finished_ || killed_) return;
  killed_ = true;
  shared_->stop.store(true);
  // A copy of the keys: a runner may report the kill before Kill returns.
  for (const auto& key : running_workers()) runner_.Kill(key);
  MaybeFinish();
}

void BatchRun::Abort(std::string error, bool storage) {
  // A lane's file cannot be written: the sandbox is unusable, and the numbers that lane took
  // are lost, so the whole batch fails rather than report them computed.
  if (abort_error_ || killed_) return;
  spdlog::error("task {}: {}", spec_.task_id, error);
  abort_error_ = std::move(error);
  abort_storage_ = storage;
  shared_->stop.store(true);
  for (const auto& key : running_workers()) runner_.Kill(key);
}

void BatchRun::RemoveFiles() {
  // Nothing reports them: a killed or failed batch leaves its sandbox as it found it. Every
  // worker has been reaped and every lane thread has ended, so nothing writes them any more.
  for (const auto& file : results_.files) {
    written_paths_.push_back(spec_.sandbox + file.path.substr(spec_.agent_sandbox.size()));
  }
  for (const auto& path : written_paths_) {
    ::unlink(path.c_str());
    ::unlink((path + ".tmp").c_str());
  }
  written_paths_.clear();
}

bool BatchRun::MaybeFinish() {
  if (finished_ || busy_lanes_ > 0) return finished_;
  bool stopping = killed_ || abort_error_;
  if (!stopping && (next_big_ < big_.size() || SmallLeft())) return false;
  finished_ = true;
  BatchOutcome outcome;
  if (killed_ || abort_error_) RemoveFiles();
  if (killed_) {
    outcome.kind = BatchOutcome::Kind::kKilled;
    outcome.message = "killed";
  } else if (abort_error_) {
    outcome.kind = BatchOutcome::Kind::kFailed;
    outcome.message = *abort_error_;
    outcome.storage = abort_storage_;
  } else {
    outcome.kind = BatchOutcome::Kind::kFinished;
    std::uint64_t computed = computed_ + LaneNumbers();
    outcome.message = "batch of " + Count(computed + failed_, "number") + ": " + std::to_string(computed) +
                      " computed, " + std::to_string(failed_) + " failed" +
                      (inline_ ? "" : ", " + Count(results_.files.size(), "result file"));
    outcome.data = EncodeResultList(results_);
    results_ = {};
  }
  auto done = std::move(done_);
  done(std::move(outcome));  // may destroy this run: nothing after
  return true;
}

std::uint64_t BatchRun::LaneNumbers() const {
  std::uint64_t numbers = 0;
  for (int lane = 0; lane < spec_.lanes; ++lane) {
    numbers += shared_->done[static_cast<std::size_t>(lane)].numbers.load(std::memory_order_relaxed);
  }
  return numbers;
}

BatchProgress BatchRun::Progress() {
  BatchProgress progress;
  // Big numbers started or reported failed without running, less those still running.
  for (std::size_t i = 0; i < next_big_; ++i) progress.work += EstimatedCpuSeconds(big_[i]);
  for (const auto& [key, worker] : workers_) progress.work -= EstimatedCpuSeconds(worker.n);
  progress.numbers = next_big_ - workers_.size();
  // The lanes' numbers done so far, as each lane counts its own.
  for (int lane = 0; lane < spec_.lanes; ++lane) {
    const auto& done = shared_->done[static_cast<std::size_t>(lane)];
    progress.numbers += done.numbers.load(std::memory_order_relaxed);
    progress.work += static_cast<double>(done.work_ns.load(std::memory_order_relaxed)) * 1e-9;
  }
  return progress;
}

}  // namespace factorial::executor
