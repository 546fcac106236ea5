#pragma once

// What computing n! costs: CPU seconds and peak heap memory of `mpz_fac_ui` plus the decimal
// conversion, as fitted by test/bench/cost_model_bench.cpp (`factorial-costmodel`) on the
// development machine; its output is kept in test/bench/cost_model.txt. The scheduler sizes
// batches with these: estimates, not limits (sizing.hpp's FactorialMemoryBytes stays the
// per-task memory the executor enforces).
//
// Every function is total over all uint64 n and saturates instead of overflowing.

#include <cstdint>
#include <optional>
#include <span>

namespace factorial {

// CPU seconds to compute n! and its decimal digits on one core (mpz_fac_ui + mpz_get_str):
//   c0 + a * B * log2(B)^q,  B = log2(n!) bits, q ~ 5.
// c0 is the per-number floor of tiny n. The second term's local exponent, 1 + q / ln B, falls
// from ~1.5 to ~1.2 over the measured range as GMP moves from Toom to FFT multiplication;
// beyond the largest n measured (5e6) it errs on the high side.
// Non-decreasing in n.
double EstimatedCpuSeconds(std::uint64_t n);

// Peak heap bytes of the same computation, the larger of mpz_get_str and the executor's
// 2-thread ToDecimal, the result string included:
//   b * B/8 + c.
// Excludes the process's fixed floor (code, GMP tables, the executor's own state).
// Non-decreasing in n.
std::uint64_t PeakMemoryBytes(std::uint64_t n);

// CPU seconds of a batch: the sum over its numbers (each is computed, repeats included).
double BatchCpuSeconds(std::span<const std::uint64_t> numbers);

// Peak heap bytes of a batch run on `workers` concurrent workers (0 counts as 1): at worst the
// `workers` largest numbers run at the same time, so their needs add up; the others never
// coexist with all of them. Not the sum over the batch.
std::uint64_t BatchPeakMemoryBytes(std::span<const std::uint64_t> numbers, unsigned workers);

// ---- Runs in a decimal radix (executor/decimal_run.hpp) ---------------------------------
//
// A batch computed in ascending order can move from one factorial to the next by multiplying
// in base 10^19, so a number costs a pass over its limbs per packed factor and the formatting
// of its digits, instead of GMP's factorial and conversion. Fitted by factorial-costmodel's
// run section (test/bench/cost_model.txt).

// Numbers above this always start afresh: runs stay inside the executor's lane threads, whose
// memory the task does not reserve (a run at 10^5 holds ~3 MB, a tenth of the smallest worker
// reservation), and beyond it a number's own GMP cost dwarfs its neighbours' anyway.
inline constexpr std::uint64_t kDecimalRunMaxN = 100000;

// CPU seconds to start a run at n: GMP's n! and digits (EstimatedCpuSeconds) plus reading the
// digits into limbs.
double EstimatedRunStartSeconds(std::uint64_t n);

// CPU seconds to advance a run from `from`! to `to`! (from <= to) and format to!'s digits:
// one pass over the limbs per packed factor of (from, to]. Infinite above kDecimalRunMaxN.
double EstimatedAdvanceSeconds(std::uint64_t from, std::uint64_t to);

// What n costs in ascending order right after `previous` (none: first of its run, which
// starts from 0! = 1): the cheaper of a start and an advance.
double EstimatedStepSeconds(std::optional<std::uint64_t> previous, std::uint64_t n);

// True when n is cheaper advanced from `previous` than started afresh.
bool AdvanceIsCheaper(std::uint64_t previous, std::uint64_t n);

// CPU seconds of ascending distinct numbers computed as one run, each number the cheaper
// way. At most BatchCpuSeconds of the same numbers.
double SortedBatchCpuSeconds(std::span<const std::uint64_t> ascending);

}  // namespace factorial
