// Fuzzes the decimal-radix factorials (executor/decimal_run.hpp) over random ascending batches.
// Each input byte is one step: its low 7 bits the gap to the next number, its top bit whether
// the run starts afresh from GMP there or advances. Properties:
//  1. Every number's digits equal GMP's mpz_get_str of n!, whichever way the run got there.
//  2. The limbs are canonical: formatting and parsing them back gives the same number.
// The reference is a running product with mpz_mul_ui, independent of the code under test.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include <gmp.h>

#include "decimal_run.hpp"
#include "fuzz_check.hpp"

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  factorial::executor::FactorialRun run;
  mpz_t expected;
  mpz_init_set_ui(expected, 1);
  std::uint64_t n = 0;
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
  }
  mpz_clear(expected);
  return 0;
}
