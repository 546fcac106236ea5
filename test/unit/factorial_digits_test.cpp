// FactorialDecimalDigits against exact arithmetic: every n up to 30000 and a sequential sweep
// to 2 * 10^6 (GMP; to 10^9 on demand), a few large n (mpz_fac_ui), and how rarely it declines
// to answer.

#include "factorial_digits.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <optional>

#include <catch2/catch.hpp>
#include <gmp.h>

using factorial::scheduler::FactorialDecimalDigits;
using factorial::scheduler::kLargestDigitsN;

namespace {

// The exact decimal length of x > 0: mpz_sizeinbase may say one too many, 10^(k-1) decides.
std::uint64_t ExactDecimalLength(const mpz_t x) {
  std::size_t k = mpz_sizeinbase(x, 10);
  if (k == 1) return 1;
  mpz_t power;
  mpz_init(power);
  mpz_ui_pow_ui(power, 10, k - 1);
  if (mpz_cmp(x, power) < 0) --k;
  mpz_clear(power);
  return k;
}

// Counts and checks the answers for one n against its exact length.
struct Tally {
  std::uint64_t declined = 0;
  void Check(std::uint64_t n, std::uint64_t exact) {
    std::optional<std::uint64_t> digits = FactorialDecimalDigits(n);
    if (!digits) {
      ++declined;
      return;
    }
    if (*digits != exact) FAIL(n << "! has " << exact << " digits, not " << *digits);
  }
};

// log10(x) for x in [1, 10) to within 2^-60: x to long double through two doubles (the
// rounding: u = 2^-64 relative), then log10l (within about 1 ulp).
long double Log10Of(const mpf_t x) {
  mpf_t rest;
  mpf_init2(rest, mpf_get_prec(x));
  const double high = mpf_get_d(x);
  mpf_set_d(rest, high);
  mpf_sub(rest, x, rest);
  const long double value = static_cast<long double>(high) + mpf_get_d(rest);
  mpf_clear(rest);
  return log10l(value);
}

// Checks every n in [0, last] in one pass and returns n!'s length at `last`. n! is kept as
// x * 10^(d-1), x in [1, 10), in 256-bit floats: each step truncates at most twice (relative
// 2^-255 each), so after 2 * 10^9 steps x is off by under 2^-223 relative; the sweep insists
// that x stays 10^-60 away from 1 and 10 (it does, by far), so the reference length d is exact.
// With `check_estimate`, the estimate of log10(n!) is checked against d - 1 + log10(x) to be
// within the bounds its margin is built from, however far from a digit boundary it lies.
std::uint64_t SweepTo(std::uint64_t last, Tally& tally, bool check_estimate) {
  REQUIRE(last <= kLargestDigitsN);
  mpf_t x, low, high;
  mpf_init2(x, 256);
  mpf_init2(low, 256);
  mpf_init2(high, 256);
  std::array<unsigned long, 11> powers{};  // 10^0 .. 10^10: x * n < 10 * 10^9
  std::array<mpf_t, 11> float_powers;
  for (std::size_t k = 0; k < powers.size(); ++k) {
    powers[k] = k == 0 ? 1 : powers[k - 1] * 10;
    mpf_init2(float_powers[k], 256);
    mpf_set_ui(float_powers[k], powers[k]);
  }
  mpf_set_str(low, "1.000000000000000000000000000000000000000000000000000000000001", 10);
  mpf_set_str(high, "9.999999999999999999999999999999999999999999999999999999999999", 10);
  mpf_set_ui(x, 1);
  std::uint64_t length = 1;
  tally.Check(0, 1);
  tally.Check(1, 1);
  for (std::uint64_t n = 2; n <= last; ++n) {
    mpf_mul_ui(x, x, n);
    std::size_t k = powers.size() - 1;
    while (mpf_cmp(x, float_powers[k]) < 0) --k;
    if (k > 0) mpf_div_ui(x, x, powers[k]);
    length += k;
    if (mpf_cmp(x, low) < 0 || mpf_cmp(x, high) > 0) FAIL("the reference cannot tell " << n << "!'s length");
    tally.Check(n, length);
    if (check_estimate && n > 20) {
      const auto estimate = factorial::scheduler::EstimateLog10Factorial(n);
      const long double error = (estimate.value - static_cast<long double>(length - 1)) - Log10Of(x);
      const long double bound = estimate.rounding_bound + estimate.truncation_bound + 0x1p-60L;
      if (fabsl(error) > bound) FAIL("log10(" << n << "!) is off by " << static_cast<double>(error));
    }
  }
  for (auto& power : float_powers) mpf_clear(power);
  mpf_clears(x, low, high, nullptr);
  return length;
}

}  // namespace

TEST_CASE("n!'s decimal length is known for small n", "[factorial_digits]") {
  CHECK(FactorialDecimalDigits(0) == 1u);
  CHECK(FactorialDecimalDigits(1) == 1u);
  CHECK(FactorialDecimalDigits(3) == 1u);     // 6
  CHECK(FactorialDecimalDigits(4) == 2u);     // 24
  CHECK(FactorialDecimalDigits(10) == 7u);    // 3628800
  CHECK(FactorialDecimalDigits(20) == 19u);   // 2432902008176640000, the last exact in 64 bits
  CHECK(FactorialDecimalDigits(21) == 20u);   // 51090942171709440000, the first from the series
  CHECK(FactorialDecimalDigits(25) == 26u);   // 15511210043330985984000000
  CHECK(FactorialDecimalDigits(100) == 158u);
}

TEST_CASE("n!'s decimal length is exact for every n up to 30000", "[factorial_digits]") {
  mpz_t factorial, next_power;  // n!, and the smallest power of ten above it
  mpz_init_set_ui(factorial, 1);
  mpz_init_set_ui(next_power, 10);
  std::uint64_t length = 1;
  Tally tally;
  for (std::uint64_t n = 0; n <= 30000; ++n) {
    if (n >= 2) mpz_mul_ui(factorial, factorial, n);
    while (mpz_cmp(factorial, next_power) >= 0) {
      mpz_mul_ui(next_power, next_power, 10);
      ++length;
    }
    tally.Check(n, length);
  }
  REQUIRE(ExactDecimalLength(factorial) == length);  // the running count agrees with GMP's
  mpz_clears(factorial, next_power, nullptr);
  CHECK(tally.declined == 0);
}

// And its estimate of log10(n!) is within its error bounds (rounding, truncation) at every n.
TEST_CASE("n!'s decimal length is exact for every n up to 2 * 10^6", "[factorial_digits]") {
  constexpr std::uint64_t kLast = 2'000'000;
  Tally tally;
  std::uint64_t length = SweepTo(kLast, tally, true);
  mpz_t factorial;  // the sweep's last length, independently
  mpz_init(factorial);
  mpz_fac_ui(factorial, kLast);
  CHECK(length == ExactDecimalLength(factorial));
  mpz_clear(factorial);
  CHECK(tally.declined == 0);
}

// The whole range, on demand (hidden from ctest: about 2 min of CPU in RelWithDebInfo):
//   scheduler_unit_tests '[factorial_digits_sweep]'
// No wrong length, and 30 declined where 2 * margin summed over the range predicts 29 (the
// exact count may move by one or two with another libm's logl).
TEST_CASE("n!'s decimal length is exact for every n up to 10^9", "[.][factorial_digits_sweep]") {
  Tally tally;
  CHECK(SweepTo(kLargestDigitsN, tally, false) == 8'565'705'523u);  // OEIS A061010 (10^9)
  CHECK(tally.declined == 30);
}

TEST_CASE("n!'s decimal length is exact for large n", "[factorial_digits]") {
  for (std::uint64_t n : {100'000ul, 250'000ul, 1'000'000ul, 3'000'000ul}) {
    mpz_t factorial;
    mpz_init(factorial);
    mpz_fac_ui(factorial, n);
    std::uint64_t exact = ExactDecimalLength(factorial);
    mpz_clear(factorial);
    INFO(n << "! has " << exact << " digits");
    CHECK(FactorialDecimalDigits(n) == exact);
  }
  CHECK(FactorialDecimalDigits(1'000'000) == 5'565'709u);  // OEIS A034886
}

// A margin set four times the proven rounding bound declines an n with probability 2 * margin:
// under 6e-10 below 10^7 (about 0.002 expected over the whole range) and under 7e-8 up to
// 10^9 (about 0.05 over the 900,000 sampled here). So none at all is the only honest outcome;
// a regression in precision (double instead of long double: 2^11 times the margin) shows as
// thousands.
// Beyond the exact checks, each step is checked: n! = n * (n-1)!, so the length grows by
// floor(log10 n) or one more, that is by n's own length or one less.
TEST_CASE("n!'s decimal length is declined almost never", "[factorial_digits]") {
  std::uint64_t declined = 0;
  std::optional<std::uint64_t> previous = 1;  // (n-1)!'s length
  std::uint64_t width = 1;                    // n's
  for (std::uint64_t n = 1; n < 10'000'000; ++n) {
    if (n == 10 || n == 100 || n == 1000 || n == 10'000 || n == 100'000 || n == 1'000'000) ++width;
    std::optional<std::uint64_t> digits = FactorialDecimalDigits(n);
    if (!digits) ++declined;
    if (digits && previous && *digits != *previous + width && *digits + 1 != *previous + width) {
      FAIL(n << "! has " << *digits << " digits, " << (n - 1) << "! " << *previous);
    }
    previous = digits;
  }
  CHECK(declined == 0);
  CHECK(FactorialDecimalDigits(10'000'000) == 65'657'060u);    // OEIS A061010 (10^7)
  CHECK(FactorialDecimalDigits(100'000'000) == 756'570'557u);  // (10^8)

  declined = 0;
  for (std::uint64_t n = kLargestDigitsN / 10; n <= kLargestDigitsN; n += 997) {
    if (!FactorialDecimalDigits(n)) ++declined;
  }
  CHECK(declined == 0);
  CHECK(FactorialDecimalDigits(kLargestDigitsN) == 8'565'705'523u);  // OEIS A061010 (10^9)
  CHECK_FALSE(FactorialDecimalDigits(kLargestDigitsN + 1).has_value());
  CHECK_FALSE(FactorialDecimalDigits(UINT64_MAX).has_value());
}
