#pragma once

// What computing n! costs: CPU seconds and peak heap memory of `mpz_fac_ui` plus the decimal
// conversion, as fitted by test/bench/cost_model_bench.cpp (`factorial-costmodel`) on the
// development machine; its output is kept in test/bench/cost_model.txt. The scheduler sizes
// batches with these: estimates, not limits (sizing.hpp's FactorialMemoryBytes stays the
// per-task memory the executor enforces).
//
// Every function is total over all uint64 n and saturates instead of overflowing.

#include <cstdint>
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

}  // namespace factorial
