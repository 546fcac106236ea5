// A batch's plan (executor/run_plan.hpp): which numbers start a run, which advance, which go
// to workers, and how the lanes' pieces split; every piece computed and checked against GMP.

#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "factorial/cost_model.hpp"
#include "run_plan.hpp"
#include "support/expected.hpp"

using factorial::executor::BatchPlan;
using factorial::executor::ComputeStep;
using factorial::executor::FactorialRun;
using factorial::executor::PieceSeconds;
using factorial::executor::PlanBatch;
using factorial::executor::PlanSteps;
using factorial::executor::RunPiece;
using factorial::executor::RunStep;
using factorial::testing::IndependentFactorial;

namespace {

std::vector<std::uint64_t> Range(std::uint64_t from, std::uint64_t to, std::uint64_t step = 1) {
  std::vector<std::uint64_t> numbers;
  for (std::uint64_t n = from; n < to; n += step) numbers.push_back(n);
  return numbers;
}

// Every number of the batch exactly once, pieces ascending and in ascending order of each
// other, workers largest first.
void CheckPartition(const BatchPlan& plan, std::vector<std::uint64_t> numbers) {
  std::vector<std::uint64_t> seen = plan.workers;
  CHECK(std::is_sorted(plan.workers.begin(), plan.workers.end(), std::greater<>()));
  std::uint64_t last = 0;
  bool first = true;
  for (const RunPiece& piece : plan.pieces) {
    REQUIRE(!piece.empty());
    for (const RunStep& step : piece) {
      CHECK((first || step.n > last));
      first = false;
      last = step.n;
      seen.push_back(step.n);
    }
  }
  std::sort(seen.begin(), seen.end());
  std::sort(numbers.begin(), numbers.end());
  CHECK(seen == numbers);
}

}  // namespace

TEST_CASE("consecutive numbers start once and advance after") {
  RunPiece steps = PlanSteps(Range(1000, 1100));
  REQUIRE(steps.size() == 100);
  CHECK(steps[0] == RunStep{1000, true});
  for (std::size_t i = 1; i < steps.size(); ++i) CHECK(steps[i] == RunStep{1000 + i, false});
}

TEST_CASE("tiny numbers advance from 0! and far-apart ones each start afresh") {
  CHECK(PlanSteps(std::vector<std::uint64_t>{0, 1, 5, 20}) ==
        RunPiece{{0, false}, {1, false}, {5, false}, {20, false}});
  CHECK(PlanSteps(std::vector<std::uint64_t>{2000, 3000, 4000}) ==
        RunPiece{{2000, true}, {3000, true}, {4000, true}});
}

TEST_CASE("isolated numbers above the in-process limit go to workers, largest first") {
  BatchPlan plan = PlanBatch({30000, 5, 150000, 50000}, 20000, 4);
  CHECK(plan.workers == std::vector<std::uint64_t>{150000, 50000, 30000});
  CHECK(plan.pieces == std::vector<RunPiece>{{{5, false}}});
}

TEST_CASE("close numbers above the in-process limit advance on a lane instead") {
  BatchPlan plan = PlanBatch({30002, 30000, 30001}, 20000, 4);
  CHECK(plan.workers.empty());
  CHECK(plan.pieces == std::vector<RunPiece>{{{30000, true}, {30001, false}, {30002, false}}});
}

TEST_CASE("numbers above the decimal runs' limit always go to workers") {
  std::uint64_t n = factorial::kDecimalRunMaxN + 1;
  BatchPlan plan = PlanBatch({n + 1, n, 7}, 20000, 2);
  CHECK(plan.workers == std::vector<std::uint64_t>{n + 1, n});
  CHECK(plan.pieces == std::vector<RunPiece>{{{7, false}}});
}

TEST_CASE("a runner with no in-process limit gets every isolated number") {
  BatchPlan plan = PlanBatch({2000, 3000, 4000}, 0, 3);
  CHECK(plan.workers == std::vector<std::uint64_t>{4000, 3000, 2000});
  CHECK(plan.pieces.empty());
}

TEST_CASE("a small batch stays one piece however many lanes") {
  BatchPlan plan = PlanBatch({3, 1, 2}, 20000, 8);
  CHECK(plan.pieces.size() == 1);
  CheckPartition(plan, {1, 2, 3});
}

TEST_CASE("a dense batch splits into contiguous pieces of about equal cost") {
  std::vector<std::uint64_t> numbers = Range(0, 20000);
  std::shuffle(numbers.begin(), numbers.end(), std::mt19937_64(2));
  BatchPlan plan = PlanBatch(numbers, 20000, 4);
  CHECK(plan.workers.empty());
  REQUIRE(plan.pieces.size() == 4);
  CheckPartition(plan, numbers);
  std::vector<double> seconds;
  CHECK(plan.pieces[0].front() == RunStep{0, false});  // 0! is where every run begins
  for (const RunPiece& piece : plan.pieces) {
    seconds.push_back(PieceSeconds(piece));
    // Each later piece is a run of its own, started from GMP once.
    if (&piece != &plan.pieces[0]) CHECK(piece.front().start);
    CHECK(std::count_if(piece.begin() + 1, piece.end(), [](const RunStep& s) { return s.start; }) == 0);
  }
  double most = *std::max_element(seconds.begin(), seconds.end());
  double least = *std::min_element(seconds.begin(), seconds.end());
  CHECK(most / least < 1.1);
}

TEST_CASE("every piece of a random ascending batch computes the exact digits") {
  std::mt19937_64 rng(25);
  for (int round = 0; round < 6; ++round) {
    std::set<std::uint64_t> chosen;
    std::uint64_t n = rng() % 50;
    while (n < 2500) {
      chosen.insert(n);
      n += 1 + (rng() % 4 == 0 ? rng() % 400 : rng() % 6);
    }
    std::vector<std::uint64_t> numbers(chosen.begin(), chosen.end());
    std::shuffle(numbers.begin(), numbers.end(), rng);
    BatchPlan plan = PlanBatch(numbers, 100 * static_cast<std::uint64_t>(round), 1 + round % 4);
    CheckPartition(plan, numbers);
    FactorialRun run;
    for (const RunPiece& piece : plan.pieces) {
      run.Reset();
      for (const RunStep& step : piece) {
        INFO("round " << round << ", n " << step.n << (step.start ? " started" : " advanced"));
        REQUIRE(ComputeStep(run, step) == IndependentFactorial(step.n));
      }
    }
  }
}

TEST_CASE("a number alone goes to a runner with no in-process limit, even one cheaper advanced from 0!") {
  BatchPlan plan = PlanBatch({11}, 0, 2);
  CHECK(plan.workers == std::vector<std::uint64_t>{11});
  CHECK(plan.pieces.empty());
  BatchPlan pair = PlanBatch({12, 11}, 0, 2);
  CHECK(pair.workers.empty());
  CHECK(pair.pieces == std::vector<RunPiece>{{{11, false}, {12, false}}});
}
