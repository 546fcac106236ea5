#include "batch_shaper.hpp"

#include <algorithm>
#include <cmath>

#include "factorial/cost_model.hpp"
#include "factorial/sizing.hpp"
#include "factorial/task_input.hpp"

namespace factorial::scheduler {
namespace {

constexpr double kMiB = 1048576.0;

double Thousandths(double v) { return std::floor(v * 1000.0 + 1e-6) / 1000.0; }

// Work of `seconds` in whole nanoseconds, rounded to the nearest: truncating could make a share
// of all the pending work one nanosecond short of it, and leave its last number out.
std::uint64_t Nanoseconds(double seconds) {
  return seconds >= 9e9 ? UINT64_MAX / 2 : static_cast<std::uint64_t>(std::llround(std::max(0.0, seconds) * 1e9));
}

// The sum of the `lanes` largest of the values added so far.
class LargestSum {
 public:
  explicit LargestSum(int lanes) : lanes_(static_cast<std::size_t>(std::max(1, lanes))) {}
  std::uint64_t sum() const { return sum_; }
  std::uint64_t SumWith(std::uint64_t value) const {
    if (largest_.size() < lanes_) return Add(sum_, value);
    std::uint64_t smallest = *std::min_element(largest_.begin(), largest_.end());
    return value > smallest ? Add(sum_ - smallest, value) : sum_;
  }
  void Insert(std::uint64_t value) {
    sum_ = SumWith(value);
    if (largest_.size() < lanes_) {
      largest_.push_back(value);
      return;
    }
    auto smallest = std::min_element(largest_.begin(), largest_.end());
    if (value > *smallest) *smallest = value;
  }

 private:
  static std::uint64_t Add(std::uint64_t x, std::uint64_t y) { return x > UINT64_MAX - y ? UINT64_MAX : x + y; }
  std::size_t lanes_;
  std::vector<std::uint64_t> largest_;
  std::uint64_t sum_ = 0;
};

double Megabytes(std::uint64_t bytes) { return std::ceil(static_cast<double>(bytes) / kMiB); }

// The results of a task as its numbers are added: inline while their list fits the executor's
// inline limit, else files of at most `file_bytes`.
struct ResultBytes {
  std::uint64_t count = 0, first_digits = 0, inline_bytes = kInlineListHeaderBytes, file_bytes = 0;

  ResultBytes With(std::uint64_t n) const {
    std::uint64_t digits = FactorialDigits(n);
    return {count + 1, count == 0 ? digits : first_digits, inline_bytes + InlineEntryBytes(n, digits),
            file_bytes + ResultFileBytes(n, digits)};
  }
  // A task of one number sends its bare digits (executor/batch.cpp's InlineListBytes).
  bool Inline() const { return (count == 1 ? first_digits : inline_bytes) <= kDefaultInlineLimit; }
  double DiskMegabytes() const { return Inline() ? 0 : static_cast<double>(MegabytesUp(file_bytes)); }
};

}  // namespace

double ResultDiskMegabytes(std::uint64_t n) { return ResultBytes{}.With(n).DiskMegabytes(); }

// What a task has taken so far, and the limits it fills up to.
struct BatchShaper::Fill {
  Fill(int lanes, std::size_t most_numbers, std::uint64_t target, double mem, double disk)
      : memory(lanes), most(most_numbers), target_ns(target), room_mem(mem), room_disk(disk) {}
  // Whether n fits: the numbers, the memory of the lanes' largest, the disk of the results,
  // the work (the first number always fits the work).
  bool Fits(std::uint64_t n) const {
    if (ids.size() >= most || Megabytes(memory.SumWith(FactorialMemoryBytes(n))) > room_mem) return false;
    if (results.With(n).DiskMegabytes() > room_disk) return false;
    return ids.empty() || work_ns + CostNanoseconds(n) <= target_ns;
  }
  void Add(NumberId id, std::uint64_t n) {
    ids.push_back(id);
    memory.Insert(FactorialMemoryBytes(n));
    results = results.With(n);
    work_ns += CostNanoseconds(n);
  }

  std::vector<NumberId> ids;
  LargestSum memory;
  ResultBytes results;
  std::uint64_t work_ns = 0;
  std::size_t most;
  std::uint64_t target_ns;
  double room_mem;
  double room_disk;
};

std::uint64_t CostNanoseconds(std::uint64_t n) {
  double ns = std::ceil(EstimatedCpuSeconds(n) * 1e9);
  return ns >= 1.8e19 ? UINT64_MAX / 1024 : static_cast<std::uint64_t>(ns);  // room to sum
}

BatchShaper::BatchShaper(JobBook& book, const BatchPolicy& policy, double capacity_cpus)
    : book_(book), policy_(policy), pending_ns_(book.pending_work_ns()), capacity_cpus_(capacity_cpus) {}

double BatchShaper::min_cpus() const {
  // One number per task is the seed's behaviour: every task asks for exactly --task-cpus.
  return policy_.batch_size == 1 ? policy_.task_cpus : std::min(policy_.task_cpus, kMinTaskCpus);
}

std::optional<PendingTask> BatchShaper::Take(double room_cpus, double room_mem, double room_disk) {
  double cpus = Thousandths(std::min(policy_.task_cpus, room_cpus));
  if (cpus + 1e-9 < min_cpus() || !book_.PeekPending()) return std::nullopt;
  int lanes = TaskLanes(cpus);
  std::size_t most = policy_.batch_size == 0 ? kMaxBatchNumbers : std::min(policy_.batch_size, kMaxBatchNumbers);
  double floor_seconds = std::min(kMinBatchSeconds, policy_.batch_seconds);
  std::uint64_t target_ns = std::clamp(ShareNanoseconds(cpus), Nanoseconds(floor_seconds * cpus),
                                       Nanoseconds(policy_.batch_seconds * cpus));

  Fill fill(lanes, most, target_ns, room_mem, room_disk);
  // A range, then as many more in launch order as its share leaves room for.
  TakeRange(fill);
  TakeInLaunchOrder(fill);
  if (fill.ids.empty()) return std::nullopt;
  PendingTask task{{}, cpus, Megabytes(fill.memory.sum()), fill.results.DiskMegabytes()};
  taken_ns_ += fill.work_ns;
  granted_cpus_ += cpus;
  batches_.push_back(std::move(fill.ids));
  return task;
}

std::uint64_t BatchShaper::ShareNanoseconds(double cpus) const {
  // The work not yet taken in this round over the cpus not yet given a task. Were every task
  // to fill its share exactly, that is the round's pending work x cpus / capacity for each;
  // but a task stops short of its share by up to one number, or exceeds it with a first number
  // larger than the share, and the later tasks of the round make up for it. So a task that
  // gets every cpu left takes all the work left: nothing it leaves out could start before the
  // next allocation cycle, and that would cost an isolated big number a cycle (~1 s) for
  // nothing. Our running tasks' cpus are never given out in the round, so while they run part
  // of the work still stays for later, and tasks still shrink as the work runs out.
  std::uint64_t left_ns = pending_ns_ - std::min(taken_ns_, pending_ns_);
  long long left_cpus = std::llround(capacity_cpus_ * 1000.0) - std::llround(granted_cpus_ * 1000.0);
  if (left_cpus <= std::llround(cpus * 1000.0)) return left_ns;
  return Nanoseconds(static_cast<double>(left_ns) * 1e-9 * cpus * 1000.0 / static_cast<double>(left_cpus));
}

void BatchShaper::TakeInLaunchOrder(Fill& fill) {
  while (true) {
    auto next = book_.PeekPending();
    if (!next || (!fill.ids.empty() && !book_.SameGroupAsTaken())) break;
    std::uint64_t n = book_.number(*next);
    if (!fill.Fits(n)) break;
    book_.TakePending();
    fill.Add(*next, n);
  }
}

bool BatchShaper::TakeRange(Fill& fill) {
  auto seed = book_.PeekPending();
  if (!seed || policy_.batch_size == 1 || !book_.PeekIsFresh()) return false;
  // Ids are in numeric order: neighbouring ids are the closest numbers of the workload.
  auto close = [&](NumberId low, NumberId high) { return AdvanceIsCheaper(book_.number(low), book_.number(high)); };
  NumberId id = *seed;
  bool above = book_.Available(id + 1) && close(id, id + 1);
  bool below = id > 0 && book_.Available(id - 1) && close(id - 1, id);
  if (!above && !below) return false;
  if (!fill.Fits(book_.number(id))) return true;  // not even the first: no task
  book_.TakeId(id);
  fill.Add(id, book_.number(id));
  for (NumberId high = id + 1; book_.Available(high) && close(high - 1, high) && fill.Fits(book_.number(high));
       ++high) {
    book_.TakeId(high);
    fill.Add(high, book_.number(high));
  }
  for (NumberId low = id; low > 0 && book_.Available(low - 1) && close(low - 1, low) &&
                          fill.Fits(book_.number(low - 1));
       --low) {
    book_.TakeId(low - 1);
    fill.Add(low - 1, book_.number(low - 1));
  }
  std::sort(fill.ids.begin(), fill.ids.end());
  return true;
}

PendingWork::Needs BatchShaper::NextNeeds() {
  auto next = book_.PeekPending();
  if (!next) return {min_cpus(), 0, 0};
  std::uint64_t n = book_.number(*next);
  return {min_cpus(), Megabytes(FactorialMemoryBytes(n)), ResultDiskMegabytes(n)};
}

bool BatchShaper::Skip() {
  if (set_aside_ >= kMaxSetAside) return false;
  ++set_aside_;
  book_.SetAside();
  batches_.emplace_back();
  return true;
}

}  // namespace factorial::scheduler
