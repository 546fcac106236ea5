// Fuzzes the decimal-radix factorials (executor/decimal_run.hpp) and the batch plan
// (executor/run_plan.hpp) over random ascending batches. Each input byte is one step: its low
// 7 bits the gap to the next number, its top bit whether the run starts afresh from GMP there
// or advances. Properties:
//  1. Every number's digits equal GMP's mpz_get_str of n!, whichever way the run got there.
//  2. The limbs are canonical: formatting and parsing them back gives the same number.
//  3. The plan of the same numbers (in-process limit and pieces from the first two bytes)
//     holds each number once, in workers or in ascending pieces, and every piece computed in
//     order gives the exact digits.
// The reference is a running product with mpz_mul_ui, independent of the code under test.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <gmp.h>

#include "decimal_run.hpp"
#include "fuzz_check.hpp"
#include "run_plan.hpp"

using factorial::fuzz::Check;

namespace {

// Keeps one input's work bounded: n! up to 3000 has 9131 digits.
constexpr std::uint64_t kMaxN = 3000;
constexpr std::size_t kMaxSteps = 256;

std::string Text(const mpz_t x) {
  std::string s(mpz_sizeinbase(x, 10) + 2, '\0');
  mpz_get_str(s.data(), 10, x);
  s.resize(std::strlen(s.c_str()));
  return s;
}

// Property 3, over the numbers a run visited and their expected digits.
void CheckPlan(const std::map<std::uint64_t, std::string>& expected, std::uint64_t in_process_max_n, int pieces) {
  std::vector<std::uint64_t> numbers;
  for (const auto& [n, digits] : expected) numbers.push_back(n);
  factorial::executor::BatchPlan plan = factorial::executor::PlanBatch(numbers, in_process_max_n, pieces);
  std::map<std::uint64_t, int> seen;
  for (std::uint64_t n : plan.workers) ++seen[n];
  factorial::executor::FactorialRun run;
  std::uint64_t last = 0;
  bool first = true;
  for (const auto& piece : plan.pieces) {
    Check(!piece.empty());
    run.Reset();
    for (const auto& step : piece) {
      Check(first || step.n > last);
      first = false;
      last = step.n;
      ++seen[step.n];
      Check(factorial::executor::ComputeStep(run, step) == expected.at(step.n));
    }
  }
  Check(seen.size() == expected.size());
  for (const auto& [n, times] : seen) Check(times == 1 && expected.contains(n));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  factorial::executor::FactorialRun run;
  mpz_t expected;
  mpz_init_set_ui(expected, 1);
  std::uint64_t n = 0;
  std::map<std::uint64_t, std::string> visited;
  for (std::size_t i = 0; i < size && i < kMaxSteps; ++i) {
    std::uint64_t next = n + (data[i] & 0x7f);
    if (next > kMaxN) break;
    for (std::uint64_t k = n + 1; k <= next; ++k) mpz_mul_ui(expected, expected, k);
    if ((data[i] & 0x80) != 0) {
      run.Start(next);
    } else {
      run.Advance(next);
    }
    n = next;
    Check(run.current() == n);
    std::string digits(run.Digits());
    Check(digits == Text(expected));
    Check(run.value().DigitCount() == digits.size());
    Check(factorial::executor::DecimalNumber::FromDigits(digits) == run.value());
    visited[n] = std::move(digits);
  }
  mpz_clear(expected);
  if (size >= 2) CheckPlan(visited, data[0] * std::uint64_t{16}, 1 + data[1] % 8);
  return 0;
}
