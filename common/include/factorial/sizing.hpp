#pragma once

// How big n! is, and how much memory computing it needs. Shared so the scheduler asks Mesos
// for exactly what the executor will refuse to exceed.

#include <cstdint>
#include <string_view>

namespace factorial {

// log10(n!) via lgamma; exact enough for sizing (relative error < 1e-12).
double Log10Factorial(std::uint64_t n);

// Number of decimal digits of n! (1 for 0! and 1!), for sizing: the exact length wherever
// FactorialDecimalDigits knows it (every n up to 10^9 but about 30), so sizes agree with the
// checks below; where it does not, the larger candidate (FactorialLengths), so that what is
// reserved or asked for never falls short. Never a check of a result: IsFactorialLength is.
std::uint64_t FactorialDigits(std::uint64_t n);

// True iff `digits` has the shape of n!: n!'s decimal length (IsFactorialLength, exact where
// known, either candidate near an undecided digit boundary) and nothing but decimal digits.
// Every result is checked so before anyone uses it.
bool HasFactorialShape(std::uint64_t n, std::string_view digits);

// Bytes of n! in binary (GMP limbs), rounded up.
std::uint64_t FactorialBinaryBytes(std::uint64_t n);

// Stack of each extra thread of the parallel decimal conversion. Compute workers set it as
// their default: a thread's stack counts in full against the worker's memory cap (RLIMIT_DATA).
inline constexpr std::uint64_t kConversionThreadStackBytes = 2ull << 20;

// Memory one computation needs with `threads` conversion threads, in bytes, as counted by
// the compute worker's cap (RLIMIT_DATA: heap, anonymous mappings and thread stacks, whether
// touched or not; GMP's scratch estimates leave part of it untouched, so it runs above the
// resident peak). Fitted to the peak VmData measured for 10^5 .. 10^7 (README, "Memory"):
//   32 MiB floor (the worker's own data, GMP tables)
//   + 7 x binary size (mpz_fac_ui's product tree, then the conversion's copy of its input,
//     quotient, remainder, power table and scratch)
//   + 2 x decimal digits (the output string and the copy while joining halves)
//   + 1 x binary size per level of splitting (each level keeps its halves while they convert)
//   + a stack per extra thread,
// the variable part with 1/8 added as margin. 10^7: 377 MiB with 1 thread (measured peak
// 336 MiB), 481 MiB with 8 (measured 404 to 420 MiB).
std::uint64_t FactorialMemoryBytes(std::uint64_t n, int threads = 1);

// Results on disk. A task's results travel inline in TaskStatus.data when their whole list
// fits the executor's inline limit (result_codec.hpp), else in result files in its sandbox
// (result_file.hpp): a file per lane and one per large number, so any number may end up in a
// file of its own. A task declares the disk its files take, so the master never places more
// results on an agent than its disk advertises.

// The executor's inline limit unless FACTORIAL_INLINE_LIMIT changes it (its README).
inline constexpr std::uint64_t kDefaultInlineLimit = 65536;

// Bytes n! adds to a task's inline result list: `<n> d <digits>\n` (result_codec.hpp). A
// task of one number sends the bare digits instead (FactorialDigits), a list starts with
// kInlineListHeaderBytes ("FR1\n").
// `digits`: FactorialDigits(n), for callers that have it already.
std::uint64_t InlineEntryBytes(std::uint64_t n, std::uint64_t digits);
inline constexpr std::uint64_t kInlineListHeaderBytes = 4;

// The most bytes n! takes in result files: its entry `<n> <length> <digits>\n` plus a file's
// header ("FRF2\n") and trailer (`end <count> <digest>\n`: at most 58 bytes with FRF2's XXH3-128,
// 90 with FRF1's SHA-256, the bound kept for either), since it may be alone in its file. Summed over a task's numbers, a bound on its files whatever their split.
std::uint64_t ResultFileBytes(std::uint64_t n, std::uint64_t digits);
inline std::uint64_t ResultFileBytes(std::uint64_t n) { return ResultFileBytes(n, FactorialDigits(n)); }

// Megabytes (2^20 bytes, as Mesos counts `mem` and `disk`), rounded up.
std::uint64_t MegabytesUp(std::uint64_t bytes);

// The most conversion threads, between 1 and `threads`, whose FactorialMemoryBytes fits in
// `memory_bytes` (all of `threads` when memory_bytes is 0, meaning no cap).
int ConversionThreadsWithin(std::uint64_t n, int threads, std::uint64_t memory_bytes);

}  // namespace factorial
