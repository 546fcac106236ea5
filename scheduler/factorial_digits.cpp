#include "factorial_digits.hpp"

#include <cmath>
#include <limits>

namespace factorial::scheduler {

namespace {

// Up to 20, n! fits in 64 bits: its digits are counted, not estimated.
constexpr std::uint64_t kLargestExactN = 20;

std::uint64_t DecimalLength(std::uint64_t v) {
  std::uint64_t length = 1;
  for (; v >= 10; v /= 10) ++length;
  return length;
}

}  // namespace

// Above 20, log10(n!) from Stirling's series for ln(n!), evaluated in long double (x87 on
// x86-64: 64-bit significand, unit roundoff u = 2^-64):
//   ln(n!) = n ln n - n + ln(2 pi n)/2 + 1/(12n) - 1/(360n^3) + 1/(1260n^5) - 1/(1680n^7) + R,
// rearranged in base 10 as (n + 1/2) log10 n - n log10 e + log10(2 pi)/2 + log10 e * (...).
// Our own series rather than lgammal: one log10l is the only library call, its accuracy is the
// only one we assume, and lgammal's error for large arguments is not documented per platform.
//
// Error bound, against which the margin is set:
// - truncation: the series is enveloping for real n > 0, so |R| is below the first omitted term,
//   1/(1188 n^9): under 1.1e-15 at n = 21, negligible beside the margin from n = 30 on;
// - rounding: n and n + 1/2 are exact; log10l is within 4 ulp (8u relative; glibc's x87 version
//   is fyl2x with a rounded log10(2), about 3u); the product (n + 1/2) log10 n, of magnitude
//   M = (n + 1/2) log10 n, is then within 9u M; n log10 e within 2u * 0.44n < 2u M; the
//   subtraction and the three additions round at most 4u M more; the small terms (under 0.5)
//   add under 1u. In all |error| < 16u (M + 1).
// The margin is 64u (M + 1) (32 epsilons, epsilon = 2u) plus the truncation bound: four times
// the rounding bound, so that a log10l up to about 25 ulp off still cannot make us wrong. The
// fractional part is taken exactly (below), so one at least the margin away from 0 and from 1
// fixes floor(log10(n!)) exactly.
// The cost: a nullopt with probability 2 * margin, about 6e-10 at n = 10^7 and 6e-8 at 10^9
// (none in [0, 10^7), test/unit/factorial_digits_test.cpp).
std::optional<std::uint64_t> FactorialDecimalDigits(std::uint64_t n) {
  if (n <= kLargestExactN) {
    std::uint64_t product = 1;
    for (std::uint64_t k = 2; k <= n; ++k) product *= k;
    return DecimalLength(product);
  }
  if (n > kLargestDigitsN) return std::nullopt;

  constexpr long double kLog10E = 0.4342944819032518276511289189166050822943L;
  constexpr long double kHalfLog10TwoPi = 0.3990899341790575247825035915076959502098L;
  constexpr long double kEpsilon = std::numeric_limits<long double>::epsilon();

  const auto x = static_cast<long double>(n);
  const long double r = 1.0L / x;
  const long double r2 = r * r;
  // 1/(12n) - 1/(360n^3) + 1/(1260n^5) - 1/(1680n^7), in Horner form.
  const long double series = r * (1.0L / 12 - r2 * (1.0L / 360 - r2 * (1.0L / 1260 - r2 / 1680)));
  const long double main_term = (x + 0.5L) * std::log10(x);
  const long double log10_factorial = main_term - x * kLog10E + kHalfLog10TwoPi + series * kLog10E;

  const long double r4 = r2 * r2;
  const long double truncation = kLog10E / 1188 * r4 * r4 * r;
  const long double margin = 32 * kEpsilon * (main_term + 1) + truncation;

  // The integer part through double (SSE) rather than std::floor and a cast on long double,
  // whose x87 code switches the rounding mode four times: that took two thirds of the time.
  // double is off by under 2^-20 here, so the candidate is the floor or one above it.
  auto whole = static_cast<std::uint64_t>(static_cast<double>(log10_factorial));
  long double fraction = log10_factorial - static_cast<long double>(whole);  // exact (Sterbenz)
  if (fraction < 0) {
    --whole;
    fraction += 1;  // rounds by at most 2^-64, far inside the margin
  }
  if (fraction < margin || fraction > 1 - margin) return std::nullopt;
  return whole + 1;
}

}  // namespace factorial::scheduler
