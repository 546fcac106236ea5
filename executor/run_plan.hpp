#pragma once

// How a batch's numbers are computed (the cost model decides, cost_model.hpp):
//
// - in ascending order, each number either starts a decimal run afresh (GMP's n! and one
//   conversion) or advances from the number before it by multiplying in base 10^19
//   (decimal_run.hpp), whichever is cheaper;
// - a number that advances from no other number of the batch and that no other advances
//   from is "isolated": above the in-process limit it goes to a compute worker, as every
//   number did before runs existed (memory-capped, killable, converted on several threads);
//   so does every number above kDecimalRunMaxN;
// - the rest is cut into contiguous pieces of about equal estimated cost, one lane thread
//   computing each piece in order, so lanes advance through ranges of their own and end
//   together.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "decimal_run.hpp"

namespace factorial::executor {

struct RunStep {
  std::uint64_t n = 0;
  bool start = false;  // GMP afresh; otherwise advanced from the step before (or from 0! = 1)
  bool operator==(const RunStep&) const = default;
};

// What one lane computes, in order: ascending numbers.
using RunPiece = std::vector<RunStep>;

struct BatchPlan {
  std::vector<std::uint64_t> workers;  // largest first
  std::vector<RunPiece> pieces;        // the lanes' work; each piece's first step starts or advances from 0
};

// The steps of ascending distinct numbers computed as one run starting at 0! = 1.
RunPiece PlanSteps(std::span<const std::uint64_t> ascending);

// Estimated CPU seconds of a piece's steps (cost_model.hpp).
double PieceSeconds(const RunPiece& piece);

// `numbers`: distinct, in any order. `in_process_max_n`: the largest n that may start afresh
// on a lane thread (above it only advancing keeps a number off a worker). `pieces`: at most
// this many pieces (fewer when the work is too small to be worth a run's restart).
BatchPlan PlanBatch(std::vector<std::uint64_t> numbers, std::uint64_t in_process_max_n, int pieces);

// Computes one step on `run` and returns its digits (valid until the run's next call).
std::string_view ComputeStep(FactorialRun& run, const RunStep& step);

}  // namespace factorial::executor
