#pragma once

// Shapes pending numbers into batch tasks for the planner (planner.hpp's PendingWork): each
// task takes pending numbers until their estimated work fills its share, or its memory would
// not fit the offer's room.
//
// Which numbers: when the next number in launch order (JobBook) is read from the input and a
// number next to it in value is cheaper advanced from it than computed alone (the executor's
// decimal runs, cost_model.hpp's AdvanceIsCheaper), the task takes a contiguous range of the
// sorted pending numbers around it, upwards first, as far as each neighbour stays that close;
// the executor then computes the range as runs, and the task fills what room its share leaves
// in launch order. Otherwise (isolated numbers, numbers sent back in groups, one number per
// task) it takes them in launch order, as before. Work is
// counted as each number alone costs either way, so the shares below keep their proportions
// and a range simply finishes sooner than its estimate. Results still print in input order:
// the sink holds and spills what arrives early.
//
// Work per task (cost_model.hpp's estimates): guided self-scheduling. A task of c cpus gets
//   work left x c / cpus left,
// the work and the cpus not yet taken by earlier tasks of the round (ShareNanoseconds); at
// the start of a round those are the pending work and the capacity: the cpus offered now for
// tasks (an executor's share runs no number: counted, it would leave part of the work behind
// even when every offered cpu got a task) plus those our running tasks hold. Clamped to
// [min(kMinBatchSeconds, batch_seconds), batch_seconds] x c. Early tasks are large, so the allocation cycle
// (resources come back once per cycle, 1 s by default) and the per-task costs vanish; as the
// work runs out, tasks shrink, so the cluster finishes together instead of waiting on one
// long last task, and a lost task costs little.
//
// Memory per task: the `lanes` largest numbers may run at once (one per lane, lanes =
// round(cpus)), so FactorialMemoryBytes of those add up; the rest never coexist with all of
// them. For one number that is today's per-task sizing.
//
// Disk per task: what its result files take (sizing.hpp's ResultFileBytes of every number, in
// MB rounded up), none when its results fit inline. A task takes no number that would push
// that past the offer's disk, so a batch too large for any agent's disk becomes several.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "job_book.hpp"
#include "planner.hpp"

namespace factorial::scheduler {

struct BatchPolicy {
  double task_cpus = 1;       // the most cpus a task asks for
  double batch_seconds = 30;  // the most estimated CPU seconds of work per cpu of a task
  std::size_t batch_size = 0;  // the most numbers per task; 0: as many as the work allows
};

// A task never carries more numbers than this (its TaskInfo.data stays under ~1 MB).
inline constexpr std::size_t kMaxBatchNumbers = 50000;
// Work below this per cpu is not worth a task of its own while more is pending (a task costs
// ~0.2 s and up to an allocation cycle); any higher, a run would end with one task computing
// alone for seconds while the other cpus idle.
inline constexpr double kMinBatchSeconds = 0.5;
// The fewest cpus a batch task gets from a smaller offer.
inline constexpr double kMinTaskCpus = 0.1;
// Numbers no offer can hold that one planning round passes over before it stops.
inline constexpr int kMaxSetAside = 64;

// Estimated CPU nanoseconds of n! (EstimatedCpuSeconds), for JobBook.
std::uint64_t CostNanoseconds(std::uint64_t n);

// MB of disk a task of n! alone declares for its result (0 when it travels inline).
double ResultDiskMegabytes(std::uint64_t n);

class BatchShaper final : public PendingWork {
 public:
  // `capacity_cpus`: cpus offered for tasks in this round (OfferedTaskCpus: executors' shares
  // excluded) plus those of our running tasks.
  BatchShaper(JobBook& book, const BatchPolicy& policy, double capacity_cpus);

  bool Empty() override { return !book_.PeekPending(); }
  std::optional<PendingTask> Take(double cpus, double mem, double disk) override;
  bool Skip() override;
  double min_cpus() const override;
  // A task holds at least the next pending number, so it needs that number's memory and disk.
  Needs NextNeeds() override;

  // The numbers of each task read, by PlannedLaunch::pending_index (empty: passed over).
  const std::vector<std::vector<NumberId>>& batches() const { return batches_; }

 private:
  struct Fill;  // what a task has taken so far, and its limits
  void TakeInLaunchOrder(Fill& fill);
  // A contiguous range of close numbers around the next pending one; false when that number
  // has no close neighbour pending (or is not read from the input), and nothing was taken.
  bool TakeRange(Fill& fill);

  JobBook& book_;
  BatchPolicy policy_;
  // This round's share of the pending work for a task of `cpus`, before the floor and cap.
  std::uint64_t ShareNanoseconds(double cpus) const;

  std::uint64_t pending_ns_;  // estimated work pending at the start of the round
  std::uint64_t taken_ns_ = 0;  // by the tasks of this round so far
  double granted_cpus_ = 0;     // to the tasks of this round so far
  double capacity_cpus_;
  int set_aside_ = 0;
  std::vector<std::vector<NumberId>> batches_;
};

}  // namespace factorial::scheduler
