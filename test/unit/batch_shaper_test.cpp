// The batch shaper's choice of numbers: contiguous ranges of close numbers, launch order for
// the rest, exact batches.

#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "factorial/cost_model.hpp"
#include "batch_shaper.hpp"
#include "job_book.hpp"
#include "workload.hpp"

using factorial::scheduler::BatchPolicy;
using factorial::scheduler::BatchShaper;
using factorial::scheduler::CostNanoseconds;
using factorial::scheduler::JobBook;
using factorial::scheduler::NumberId;
using factorial::scheduler::Workload;
using factorial::scheduler::WorkloadBuilder;

namespace {

constexpr double kRoomMem = 1e9;   // MB: memory never limits these tasks
constexpr double kRoomDisk = 1e9;  // MB: nor disk

Workload Build(const std::vector<std::uint64_t>& input) {
  WorkloadBuilder builder;
  for (std::uint64_t n : input) builder.Add(n);
  auto workload = builder.Finish();
  REQUIRE(workload.ok());
  return std::move(workload).value();
}

std::vector<std::uint64_t> Numbers(const JobBook& book, const std::vector<NumberId>& ids) {
  std::vector<std::uint64_t> numbers;
  for (NumberId id : ids) numbers.push_back(book.number(id));
  return numbers;
}

std::vector<std::uint64_t> Range(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> numbers(to - from);
  std::iota(numbers.begin(), numbers.end(), from);
  return numbers;
}

std::uint64_t CostOf(const std::vector<std::uint64_t>& numbers) {
  std::uint64_t total = 0;
  for (std::uint64_t n : numbers) total += CostNanoseconds(n);
  return total;
}

}  // namespace

TEST_CASE("close numbers go out sorted, as one range, whatever their input order", "[shaper]") {
  Workload workload = Build({50, 10, 30, 20, 40, 10});
  JobBook book(workload, &CostNanoseconds);
  BatchShaper shaper(book, BatchPolicy{}, 1);
  REQUIRE(shaper.Take(1, kRoomMem, kRoomDisk).has_value());
  CHECK_FALSE(shaper.Take(1, kRoomMem, kRoomDisk).has_value());
  REQUIRE(shaper.batches().size() == 1);
  CHECK(Numbers(book, shaper.batches()[0]) == std::vector<std::uint64_t>{10, 20, 30, 40, 50});
}

TEST_CASE("a range leaves room in its task for other numbers, taken in input order", "[shaper]") {
  Workload workload = Build({20000, 20001, 7, 20002, 300});
  JobBook book(workload, &CostNanoseconds);
  BatchShaper shaper(book, BatchPolicy{}, 1);
  REQUIRE(shaper.Take(1, kRoomMem, kRoomDisk).has_value());
  REQUIRE(shaper.batches().size() == 1);
  CHECK(Numbers(book, shaper.batches()[0]) == std::vector<std::uint64_t>{20000, 20001, 20002, 7, 300});
}

TEST_CASE("far-apart numbers go out in input order, as before", "[shaper]") {
  Workload workload = Build({50000, 3000, 90000});
  JobBook book(workload, &CostNanoseconds);
  BatchShaper shaper(book, BatchPolicy{}, 1);
  REQUIRE(shaper.Take(1, kRoomMem, kRoomDisk).has_value());
  REQUIRE(shaper.batches().size() == 1);
  CHECK(Numbers(book, shaper.batches()[0]) == std::vector<std::uint64_t>{50000, 3000, 90000});
}

TEST_CASE("one number per task stays one number per task in input order", "[shaper]") {
  Workload workload = Build({7, 5, 6});
  JobBook book(workload, &CostNanoseconds);
  BatchPolicy policy;
  policy.batch_size = 1;
  BatchShaper shaper(book, policy, 3);
  for (int i = 0; i < 3; ++i) REQUIRE(shaper.Take(1, kRoomMem, kRoomDisk).has_value());
  CHECK(shaper.batches() == std::vector<std::vector<NumberId>>{{2}, {0}, {1}});
}

TEST_CASE("a range grows upwards from the next number first, then downwards, up to its share", "[shaper]") {
  // Input: 1500 first, then the rest of 1000..1999 shuffled. The work target is what
  // 1500..1599 cost computed alone, and less than any other number, so the first task is those.
  std::vector<std::uint64_t> input = Range(1000, 2000);
  std::shuffle(input.begin(), input.end(), std::mt19937_64(5));
  std::iter_swap(input.begin(), std::find(input.begin(), input.end(), 1500));
  Workload workload = Build(input);
  JobBook book(workload, &CostNanoseconds);
  BatchPolicy policy;
  policy.batch_seconds = static_cast<double>(CostOf(Range(1500, 1600)) + CostNanoseconds(1000) / 2) / 1e9;
  BatchShaper shaper(book, policy, 1);
  REQUIRE(shaper.Take(1, kRoomMem, kRoomDisk).has_value());
  CHECK(Numbers(book, shaper.batches()[0]) == Range(1500, 1600));
  // The next task starts at the next number in input order that is left, and meets the first
  // range from below or above: still one contiguous range.
  std::uint64_t seed = *std::find_if(input.begin(), input.end(), [](std::uint64_t n) { return n < 1500 || n >= 1600; });
  REQUIRE(shaper.Take(1, kRoomMem, kRoomDisk).has_value());
  std::vector<std::uint64_t> second = Numbers(book, shaper.batches()[1]);
  CHECK(std::find(second.begin(), second.end(), seed) != second.end());
  CHECK(second.back() - second.front() + 1 == second.size());
  CHECK(CostOf(second) <= static_cast<std::uint64_t>(policy.batch_seconds * 1e9));
  CHECK((second.back() < 1500 || second.front() >= 1600));
}

TEST_CASE("ranges keep guided self-scheduling: shares of the pending work, shrinking at the end", "[shaper]") {
  std::vector<std::uint64_t> input = Range(0, 20000);
  std::shuffle(input.begin(), input.end(), std::mt19937_64(2));
  Workload workload = Build(input);
  JobBook book(workload, &CostNanoseconds);
  BatchPolicy policy;
  policy.task_cpus = 1;
  std::vector<std::uint64_t> shares;  // each task's work, counted as the numbers alone cost
  std::size_t taken = 0;
  while (taken < input.size()) {
    // A cluster of 8 cpus, one task a round, as offers come back.
    BatchShaper shaper(book, policy, 8);
    double pending = book.pending_work();
    REQUIRE(shaper.Take(1, kRoomMem, kRoomDisk).has_value());
    std::vector<std::uint64_t> numbers = Numbers(book, shaper.batches()[0]);
    taken += numbers.size();
    std::uint64_t work = CostOf(numbers);
    shares.push_back(work);
    // At most the task's share (the first number aside), at least the floor while work lasts.
    double share = std::clamp(pending / 8, factorial::scheduler::kMinBatchSeconds, policy.batch_seconds);
    CHECK(static_cast<double>(work - CostNanoseconds(numbers.front())) <= share * 1e9 + 1);
    book.Launch(shaper.batches()[0], {"S", "h", 1, 1}, {});
    book.EndPlanning();
  }
  // Early tasks are large, late ones small.
  REQUIRE(shares.size() > 8);
  CHECK(shares.front() > 4 * shares.back());
}

TEST_CASE("the last task of a round takes the work its earlier tasks left, and running tasks keep their share",
          "[shaper]") {
  // Far-apart numbers, in input order: 2.5 cpus of capacity, all offered. The first task (2
  // cpus) stops short of its 80% by less than a number; the second (the last 0.5 cpus) takes
  // everything left.
  std::vector<std::uint64_t> input;
  for (std::uint64_t n = 100000; n < 400000; n += 10000) input.push_back(n);
  std::uint64_t total = CostOf(input);
  {
    Workload workload = Build(input);
    JobBook book(workload, &CostNanoseconds);
    BatchShaper shaper(book, BatchPolicy{2, 30, 0}, 2.5);
    REQUIRE(shaper.Take(2, kRoomMem, kRoomDisk).has_value());
    REQUIRE(shaper.Take(0.5, kRoomMem, kRoomDisk).has_value());
    std::vector<std::uint64_t> first = Numbers(book, shaper.batches()[0]);
    std::vector<std::uint64_t> second = Numbers(book, shaper.batches()[1]);
    CHECK(first == std::vector<std::uint64_t>(input.begin(), input.begin() + static_cast<long>(first.size())));
    CHECK(second == std::vector<std::uint64_t>(input.begin() + static_cast<long>(first.size()), input.end()));
    CHECK(CostOf(first) <= total * 4 / 5);
    CHECK(CostOf(first) + CostNanoseconds(second.front()) > total * 4 / 5);
  }
  {
    // The same offers while running tasks hold 2.5 more cpus: each task gets its cpus' share
    // of 5, and half the work stays for the cpus that come back.
    Workload workload = Build(input);
    JobBook book(workload, &CostNanoseconds);
    BatchShaper shaper(book, BatchPolicy{2, 30, 0}, 5);
    REQUIRE(shaper.Take(2, kRoomMem, kRoomDisk).has_value());
    REQUIRE(shaper.Take(0.5, kRoomMem, kRoomDisk).has_value());
    std::uint64_t first = CostOf(Numbers(book, shaper.batches()[0]));
    std::uint64_t both = first + CostOf(Numbers(book, shaper.batches()[1]));
    CHECK(first <= total * 2 / 5);
    CHECK(both <= total / 2);
    CHECK(both + CostNanoseconds(input.back()) > total / 2);
    CHECK(book.PeekPending().has_value());
  }
}
