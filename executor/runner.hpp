#pragma once

// Runs factorial computations off the event loop.
//
// WorkerRunner computes each one in a compute worker: a fresh process running this same
// binary in worker mode (worker.hpp). A running mpz_fac_ui cannot be interrupted from inside,
// but a process can be killed; an allocation failure under the worker's memory cap ends only
// that worker, never the executor or its other tasks. InProcessRunner computes small n on a
// thread, where starting a process would cost more than the work. RoutingRunner picks one.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "compute_request.hpp"
#include "factorial/event_loop.hpp"

namespace factorial::executor {

class ComputeRunner {
 public:
  using Done = std::function<void(ComputeOutcome)>;
  virtual ~ComputeRunner() = default;
  // `done` runs on the event loop thread exactly once, unless the runner is destroyed first.
  virtual void Start(const std::string& key, const ComputeRequest& request, Done done) = 0;
  // Stops the computation; its `done` then reports kKilled. Unknown keys are ignored.
  virtual void Kill(const std::string& key) = 0;
  // The largest n this runner computes in-process rather than in a worker process; batches
  // compute numbers up to it on their own lane threads.
  virtual std::uint64_t InProcessMaxN() const { return 0; }
};

// Computes on a thread and produces inline results only. Kill cannot stop the work (well under
// a millisecond for the n it is used for); it turns the outcome into kKilled. Call Start/Kill
// on the loop thread.
class InProcessRunner final : public ComputeRunner {
 public:
  explicit InProcessRunner(EventLoop& loop) : loop_(loop) {}
  ~InProcessRunner() override;  // joins every thread

  void Start(const std::string& key, const ComputeRequest& request, Done done) override;
  void Kill(const std::string& key) override;
  std::size_t running() const { return jobs_.size(); }

 private:
  struct Job {
    bool killed = false;
    std::thread thread;
  };
  EventLoop& loop_;
  std::map<std::string, std::unique_ptr<Job>> jobs_;
  // Cleared by the destructor; threads and posted callbacks check it before touching `this`.
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

// One worker process per computation, started with posix_spawn of `worker_binary` (the
// executor itself: "/proc/self/exe") and a socket for the request and the answer. A thread per
// worker waits for its answer and its exit without reaping it; the loop thread reaps, so Kill
// never signals a recycled pid. With `keep_spare`, once a first worker was needed, one more is
// kept started and waiting for its request, so that a task does not wait for the binary to
// load (~1 ms idle, ~10 ms on a busy machine). Call Start/Kill on the loop thread.
class WorkerRunner final : public ComputeRunner {
 public:
  WorkerRunner(EventLoop& loop, std::string worker_binary, bool keep_spare = true);
  ~WorkerRunner() override;  // kills and reaps every worker

  void Start(const std::string& key, const ComputeRequest& request, Done done) override;
  void Kill(const std::string& key) override;
  std::size_t running() const { return workers_.size(); }
  // The worker process computing `key`, while it has not been reaped (tests observe it).
  std::optional<int> WorkerPid(const std::string& key) const;
  // The started worker waiting for the next request, if any.
  std::optional<int> SparePid() const { return spare_ ? std::optional<int>(spare_->pid) : std::nullopt; }

 private:
  struct Spawned {
    int pid = -1;
    int fd = -1;  // our end of the socket
  };
  Result<Spawned> Spawn();
  void Discard(Spawned spawned);  // kills and reaps it
  struct Worker {
    int pid = -1;
    bool killed = false;
    std::thread waiter;
  };
  // What a worker answered, read by its waiter thread.
  struct Answer {
    std::string bytes;
    bool overflow = false;  // longer than max_payload
    std::uint64_t max_payload = 0;
    double seconds = 0;
  };
  void Fail(Done done, std::string error);
  // Gives `frame` to the spare worker, or to a fresh one if there is none or it is gone.
  Result<Spawned> HandRequest(const std::string& frame);
  // On the loop thread once the worker exited: reaps it and reports.
  void Reap(const std::string& key, Worker* raw, int pid, Answer answer, Done done);

  EventLoop& loop_;
  std::string worker_binary_;
  bool keep_spare_;
  std::optional<Spawned> spare_;
  std::map<std::string, std::unique_ptr<Worker>> workers_;
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

// Small n whose result is inline on a thread, everything else in a worker process.
class RoutingRunner final : public ComputeRunner {
 public:
  // Below this n the work takes well under a millisecond; starting a worker costs more.
  static constexpr std::uint64_t kDefaultInProcessMaxN = 20000;
  RoutingRunner(EventLoop& loop, std::string worker_binary, std::uint64_t in_process_max_n = kDefaultInProcessMaxN)
      : in_process_(loop), workers_(loop, std::move(worker_binary)), in_process_max_n_(in_process_max_n) {}

  void Start(const std::string& key, const ComputeRequest& request, Done done) override;
  void Kill(const std::string& key) override;
  std::uint64_t InProcessMaxN() const override { return in_process_max_n_; }
  std::size_t running() const { return in_process_.running() + workers_.running(); }
  // The worker process computing `key`, while it has not been reaped (tests observe it).
  std::optional<int> WorkerPid(const std::string& key) const { return workers_.WorkerPid(key); }

 private:
  InProcessRunner in_process_;
  WorkerRunner workers_;
  std::uint64_t in_process_max_n_;
};

}  // namespace factorial::executor
