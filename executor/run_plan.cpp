#include "run_plan.hpp"

#include <algorithm>
#include <functional>
#include <optional>

#include "factorial/cost_model.hpp"

namespace factorial::executor {
namespace {

// A piece is worth cutting off only if its work dwarfs the cost of restarting a run there.
constexpr double kMinPieceSeconds = 0.005;

// The cut points that split `steps` into at most `pieces` runs of about equal cost: greedy
// on the prefix sums, a cut where a piece's share is reached.
std::vector<RunPiece> Cut(const RunPiece& steps, int pieces) {
  double total = PieceSeconds(steps);
  auto count = static_cast<std::size_t>(std::clamp(static_cast<int>(total / kMinPieceSeconds), 1, std::max(1, pieces)));
  count = std::min(count, steps.size());
  std::vector<std::vector<std::uint64_t>> groups(1);
  double share = total / static_cast<double>(count);
  double done = 0;
  std::optional<std::uint64_t> previous;
  for (const RunStep& step : steps) {
    if (groups.size() < count && !groups.back().empty() && done >= share * static_cast<double>(groups.size())) {
      groups.emplace_back();
    }
    groups.back().push_back(step.n);
    done += EstimatedStepSeconds(previous, step.n);
    previous = step.n;
  }
  std::vector<RunPiece> result;
  for (const auto& group : groups) result.push_back(PlanSteps(group));  // each restarts its run
  return result;
}

}  // namespace

RunPiece PlanSteps(std::span<const std::uint64_t> ascending) {
  RunPiece steps;
  steps.reserve(ascending.size());
  std::uint64_t previous = 0;
  for (std::uint64_t n : ascending) {
    steps.push_back({n, !AdvanceIsCheaper(previous, n)});
    previous = n;
  }
  return steps;
}

double PieceSeconds(const RunPiece& piece) {
  double total = 0;
  std::uint64_t previous = 0;
  for (const RunStep& step : piece) {
    total += step.start ? EstimatedRunStartSeconds(step.n) : EstimatedAdvanceSeconds(previous, step.n);
    previous = step.n;
  }
  return total;
}

BatchPlan PlanBatch(std::vector<std::uint64_t> numbers, std::uint64_t in_process_max_n, int pieces) {
  std::sort(numbers.begin(), numbers.end());
  BatchPlan plan;
  auto runnable_end = std::upper_bound(numbers.begin(), numbers.end(), std::max(kDecimalRunMaxN, in_process_max_n));
  plan.workers.assign(runnable_end, numbers.end());
  RunPiece steps = PlanSteps(std::span<const std::uint64_t>(numbers.begin(), runnable_end));
  // A number that advances from no other of the batch and that no other advances from is
  // isolated: above the in-process limit, it is a worker's.
  RunPiece lane_steps;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    bool isolated = (i == 0 || steps[i].start) && (i + 1 == steps.size() || steps[i + 1].start);
    if (isolated && steps[i].n > in_process_max_n) {
      plan.workers.push_back(steps[i].n);
    } else {
      lane_steps.push_back(steps[i]);
    }
  }
  std::sort(plan.workers.begin(), plan.workers.end(), std::greater<>());
  if (!lane_steps.empty()) plan.pieces = Cut(lane_steps, pieces);
  return plan;
}

std::string_view ComputeStep(FactorialRun& run, const RunStep& step) {
  if (step.start) {
    run.Start(step.n);
  } else {
    run.Advance(step.n);
  }
  return run.Digits();
}

}  // namespace factorial::executor
