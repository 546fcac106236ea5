#include "factorial/factorial_digits.hpp"

#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <string>

namespace factorial {

// Above 20, log10(n!) comes from Stirling's series for ln(n!), evaluated in long double (x87 on
// x86-64: 64-bit significand, unit roundoff u = 2^-64):
//   ln(n!) = (n + 1/2) ln n - n + ln(2 pi)/2 + 1/(12n) - 1/(360n^3) + 1/(1260n^5) - 1/(1680n^7) + R
// Our own series rather than lgammal, whose error for large arguments no platform documents;
// and our own ln n (LnOf, below) rather than logl, which took half the time of it all.
//
// The error bound, against which the margin is set (M = (n + 1/2) log10 n, the largest term):
// - truncation: the series is enveloping for real n > 0, so |R| is below the first omitted term,
//   1/(1188 n^9): under 1.1e-15 at n = 21, and part of the margin;
// - ln n: under 7u relative (LnOf); n and n + 1/2 are exact;
// - then (n + 1/2) ln n adds 1u, subtracting n and adding the small terms 1u each (the terms in
//   double are off by under 2^-58 absolute), the product by log10 e 2u: in all under
//   16u (M + 1) in log10(n!).
// The margin is 64u (M + 1) plus the truncation bound, four times the rounding bound, so that
// a logl several ulp worse than glibc's (it fills LnOf's table) still cannot make us wrong. The
// fractional part is taken exactly (below), so one at least the margin away from 0 and from 1
// fixes floor(log10(n!)) exactly. The cost: a nullopt with probability 2 * margin, about 6e-10
// at n = 10^7 and 6e-8 at 10^9: none below 10^7, and 30 of the 10^9 numbers up to 10^9, every
// other answer exact (test/unit/factorial_digits_test.cpp).

namespace {

// Up to 20, n! fits in 64 bits: its digits are counted, not estimated.
constexpr std::uint64_t kLargestExactN = 20;

// ln n = e ln 2 + ln m, with n = m 2^e and m in [1, 2). The top kTableBits of m after its
// leading one pick r_i, 1/c_i rounded to kReciprocalBits, where c_i is the middle of m's
// interval of width 2^-kTableBits: then t = m r_i - 1 is exact in double (m has at most 30
// significant bits, so m r_i at most 51; the subtraction is exact by Sterbenz's lemma),
// |t| < 2^-8.99, and ln m = -ln r_i + log1p(t).
constexpr int kTableBits = 8;
constexpr std::size_t kTableSize = std::size_t{1} << kTableBits;
constexpr int kReciprocalBits = 20;
static_assert(kLargestDigitsN < (std::uint64_t{1} << 30), "m has at most 30 significant bits");

struct LnTable {
  std::array<double, 31> inverse_power_of_two{};               // 2^-e
  std::array<long double, 31> e_ln2{};                         // e ln 2
  std::array<double, kTableSize> reciprocal{};                 // r_i
  std::array<long double, kTableSize> minus_ln_reciprocal{};   // -ln r_i, from logl
};

LnTable BuildLnTable() {
  constexpr long double kLn2 = 0.6931471805599453094172321214581765680755L;
  LnTable table;
  for (std::size_t e = 0; e < table.e_ln2.size(); ++e) {
    table.inverse_power_of_two[e] = std::ldexp(1.0, -static_cast<int>(e));
    table.e_ln2[e] = static_cast<long double>(e) * kLn2;
  }
  for (std::size_t i = 0; i < kTableSize; ++i) {
    // c_i = d / (2 kTableSize); r_i = round(2^kReciprocalBits / c_i) / 2^kReciprocalBits.
    const std::uint64_t d = 2 * kTableSize + 2 * i + 1;
    const std::uint64_t scaled = ((std::uint64_t{2 * kTableSize} << kReciprocalBits) + d / 2) / d;
    table.reciprocal[i] = std::ldexp(static_cast<double>(scaled), -kReciprocalBits);
    table.minus_ln_reciprocal[i] = -std::log(static_cast<long double>(table.reciprocal[i]));
  }
  return table;
}

// ln n for 21 <= n <= kLargestDigitsN, within 7u relative: log1p(t) - t is -t^2/2 + t^3/3 -
// ... - t^6/6 in double (truncation under |t|^7/7 < 2^-65.7, rounding under 2^-70); e ln 2 is
// within 2u relative, -ln r_i within 4 ulp if logl is (glibc's x87 logl is within about 1),
// 8u * 0.7 absolute, and the long double additions add under 2.1u relative, with ln n >= 3.
long double LnOf(std::uint64_t n) {
  static const LnTable table = BuildLnTable();
  const auto e = static_cast<std::size_t>(std::bit_width(n) - 1);
  const std::size_t i = (e >= kTableBits ? n >> (e - kTableBits) : n << (kTableBits - e)) & (kTableSize - 1);
  const double t = static_cast<double>(n) * table.inverse_power_of_two[e] * table.reciprocal[i] - 1;
  const double rest = t * t * (-0.5 + t * (1.0 / 3 - t * (0.25 - t * (0.2 - t / 6))));
  return (table.e_ln2[e] + table.minus_ln_reciprocal[i]) + (static_cast<long double>(t) + rest);
}

std::uint64_t DecimalLength(std::uint64_t v) {
  std::uint64_t length = 1;
  for (; v >= 10; v /= 10) ++length;
  return length;
}

// EstimateLog10Factorial's body, inlined in FactorialDecimalDigits: as a call, returning the
// struct through memory, it took half as long again. `ln_n`: ln n, from LnOf up to
// kLargestDigitsN (FactorialLengths passes logl's beyond).
[[gnu::always_inline]] inline Log10FactorialEstimate Estimate(std::uint64_t n, long double ln_n) {
  constexpr long double kLog10E = 0.4342944819032518276511289189166050822943L;
  constexpr long double kHalfLnTwoPi = 0.9189385332046727417803297364056176398614L;
  constexpr double kEpsilon = std::numeric_limits<long double>::epsilon();  // 2u

  // The small terms in double (SSE), beside the long double chain rather than in it.
  const auto n_double = static_cast<double>(n);
  const double r = 1.0 / n_double;
  const double r2 = r * r;
  const double series = r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 / 1680)));
  const auto x = static_cast<long double>(n);
  Log10FactorialEstimate estimate;
  estimate.value = ((x + 0.5L) * ln_n - x + (kHalfLnTwoPi + series)) * kLog10E;
  // In double, from the value in double (also needed below): M <= log10(n!) + 0.44 n;
  // log10 e / 1188 < 0.00037.
  estimate.value_double = static_cast<double>(estimate.value);
  const double r4 = r2 * r2;
  estimate.rounding_bound = 8 * kEpsilon * (estimate.value_double + 0.44 * n_double + 2);
  estimate.truncation_bound = 0.00037 * r4 * r4 * r;
  return estimate;
}

// The margin against the proven error bound (above): four times the rounding part.
[[gnu::always_inline]] inline long double MarginOf(const Log10FactorialEstimate& estimate) {
  return 4 * estimate.rounding_bound + estimate.truncation_bound;
}

// floor(x) + 1 for x >= 0, the length of a number whose log10 is x; UINT64_MAX past 2^64.
std::uint64_t LengthAt(long double x) {
  if (x >= 0x1p64L - 1) return std::numeric_limits<std::uint64_t>::max();
  return static_cast<std::uint64_t>(floorl(x)) + 1;
}

}  // namespace

Log10FactorialEstimate EstimateLog10Factorial(std::uint64_t n) { return Estimate(n, LnOf(n)); }

std::optional<std::uint64_t> FactorialDecimalDigits(std::uint64_t n) {
  if (n <= kLargestExactN) {
    std::uint64_t product = 1;
    for (std::uint64_t k = 2; k <= n; ++k) product *= k;
    return DecimalLength(product);
  }
  if (n > kLargestDigitsN) return std::nullopt;

  const Log10FactorialEstimate estimate = Estimate(n, LnOf(n));
  // Long double, so that 1 - margin keeps it whole.
  const long double margin = MarginOf(estimate);

  // The integer part through double rather than std::floor and a cast on long double, whose
  // x87 code switches the rounding mode four times. Rounding to double is monotonic and keeps
  // integers, so the candidate is the floor or one above it.
  auto whole = static_cast<std::uint64_t>(estimate.value_double);
  long double fraction = estimate.value - static_cast<long double>(whole);  // exact (Sterbenz)
  if (fraction < 0) {
    --whole;
    fraction += 1;  // rounds by at most 2^-64, far inside the margin
  }
  if (fraction < margin || fraction > 1 - margin) return std::nullopt;
  return whole + 1;
}

// Where FactorialDecimalDigits declines, log10(n!) lies within the bound of the estimate, so
// floor(log10(n!)) is floor(value - margin) or floor(value + margin): up to kLargestDigitsN
// the margin is far below 1/2, and these are the two lengths either side of the boundary the
// estimate is near. Beyond it ln n comes from logl (within about 1 ulp, better than LnOf's
// 7u, so the same bound holds), but no answer there was checked against exact arithmetic:
// one more length either side, in case the bound's reasoning misses something at that scale.
FactorialLengthRange FactorialLengths(std::uint64_t n) {
  if (std::optional<std::uint64_t> exact = FactorialDecimalDigits(n)) return {*exact, *exact};
  const bool checked = n <= kLargestDigitsN;
  const Log10FactorialEstimate estimate = Estimate(n, checked ? LnOf(n) : logl(static_cast<long double>(n)));
  const long double reach = MarginOf(estimate) + (checked ? 0 : 1);
  return {LengthAt(estimate.value - reach), LengthAt(estimate.value + reach)};
}

bool IsFactorialLength(std::uint64_t n, std::uint64_t digits) {
  const FactorialLengthRange lengths = FactorialLengths(n);
  return lengths.low <= digits && digits <= lengths.high;
}

std::string FactorialLengthText(std::uint64_t n) {
  const FactorialLengthRange lengths = FactorialLengths(n);
  if (lengths.low == lengths.high) return std::to_string(lengths.low);
  return std::to_string(lengths.low) + (lengths.high == lengths.low + 1 ? " or " : " to ") + std::to_string(lengths.high);
}

}  // namespace factorial
