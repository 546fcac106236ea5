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

std::uint64_t CostNanoseconds(std::uint64_t n) {
  double ns = std::ceil(EstimatedCpuSeconds(n) * 1e9);
  return ns >= 1.8e19 ? UINT64_MAX / 1024 : static_cast<std::uint64_t>(ns);  // room to sum
}

BatchShaper::BatchShaper(JobBook& book, const BatchPolicy& policy, double capacity_cpus)
    : book_(book), policy_(policy), pending_work_(book.pending_work()), capacity_cpus_(capacity_cpus) {}

double BatchShaper::min_cpus() const {
  // One number per task is the seed's behaviour: every task asks for exactly --task-cpus.
  return policy_.batch_size == 1 ? policy_.task_cpus : std::min(policy_.task_cpus, kMinTaskCpus);
}

std::optional<PendingTask> BatchShaper::Take(double room_cpus, double room_mem, double room_disk) {
  double cpus = Thousandths(std::min(policy_.task_cpus, room_cpus));
  if (cpus + 1e-9 < min_cpus() || !book_.PeekPending()) return std::nullopt;
  int lanes = TaskLanes(cpus);
  std::size_t most = policy_.batch_size == 0 ? kMaxBatchNumbers : std::min(policy_.batch_size, kMaxBatchNumbers);
  double share = capacity_cpus_ > 0 ? pending_work_ * cpus / capacity_cpus_ : pending_work_;
  double floor_seconds = std::min(kMinBatchSeconds, policy_.batch_seconds);
  double target_seconds = std::clamp(share, floor_seconds * cpus, policy_.batch_seconds * cpus);
  auto target_ns = static_cast<std::uint64_t>(target_seconds * 1e9);

  std::vector<NumberId> ids;
  LargestSum memory(lanes);
  std::uint64_t work_ns = 0;
  ResultBytes results;
  while (ids.size() < most) {
    auto next = book_.PeekPending();
    if (!next || (!ids.empty() && !book_.SameGroupAsTaken())) break;
    std::uint64_t n = book_.number(*next);
    std::uint64_t need = FactorialMemoryBytes(n);
    if (Megabytes(memory.SumWith(need)) > room_mem) break;
    ResultBytes with = results.With(n);
    if (with.DiskMegabytes() > room_disk) break;
    std::uint64_t cost = CostNanoseconds(n);
    if (!ids.empty() && work_ns + cost > target_ns) break;
    book_.TakePending();
    ids.push_back(*next);
    memory.Insert(need);
    work_ns += cost;
    results = with;
  }
  if (ids.empty()) return std::nullopt;
  PendingTask task{{}, cpus, Megabytes(memory.sum()), results.DiskMegabytes()};
  batches_.push_back(std::move(ids));
  return task;
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
