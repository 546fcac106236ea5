#pragma once

// Factorials kept in a decimal radix, so a batch of close numbers costs what its digits cost.
//
// GMP keeps n! in binary: each number's decimal text is a fresh conversion, and for every
// n < 20000 that conversion is ~78% of the work. Kept in base 10^19 instead, n! becomes m! by
// multiplying with the numbers between them, each pass linear in the length, and the digits
// are the limbs printed side by side. A run of ascending numbers starts from GMP (converted
// once) and advances from there; which numbers start and which advance is the cost model's
// choice, made by the batch's plan.
//
// Plain values: no files, no threads. A run reuses its limbs and its text buffer from one
// number to the next.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <gmp.h>

namespace factorial::executor {

inline constexpr std::uint64_t kDecimalBase = 10'000'000'000'000'000'000ULL;  // 10^19
inline constexpr std::size_t kDecimalLimbDigits = 19;

// A natural number in base 10^19: limbs least significant first, each below 10^19, the most
// significant one non-zero (zero has no limbs).
class DecimalNumber {
 public:
  DecimalNumber() = default;
  explicit DecimalNumber(std::uint64_t value);  // any uint64 (above 10^19 it takes two limbs)

  // From decimal text: one or more digits '0'-'9', leading zeros allowed. Anything else is a
  // precondition violation (the text comes from mpz_get_str or this class).
  static DecimalNumber FromDigits(std::string_view digits);
  // From GMP's binary value, through mpz_get_str (the expensive step this class avoids).
  static DecimalNumber FromMpz(mpz_srcptr value);

  // *this *= m, for m <= 10^19: one pass over the limbs.
  void MultiplyBy(std::uint64_t m);

  // Digits of the decimal text, without leading zeros ("0" has one).
  std::size_t DigitCount() const;
  // Writes exactly DigitCount() digits at `out` (no terminator).
  void FormatInto(char* out) const;
  // Appends the text to `*out`, reusing its storage.
  void AppendTo(std::string* out) const;
  std::string ToDigits() const;

  const std::vector<std::uint64_t>& limbs() const { return limbs_; }
  bool operator==(const DecimalNumber&) const = default;

 private:
  std::vector<std::uint64_t> limbs_;
};

// The numbers in (from, to], in ascending order, packed into products of at most 10^19 each
// (a number above 10^19 cannot be a factor: `to` must be <= 10^19). Multiplying n! by every
// product gives to!. Returns how many products were appended to `*out` (cleared first).
std::size_t PackFactors(std::uint64_t from, std::uint64_t to, std::vector<std::uint64_t>* out);

// The factorials of ascending numbers, in base 10^19: Start sets n! from GMP, Advance moves
// from the current n to a larger one by multiplying, Digits formats the current value.
class FactorialRun {
 public:
  FactorialRun() : text_("1") {}

  // n! with mpz_fac_ui and one conversion; the run is at n.
  void Start(std::uint64_t n);
  // Back to 0! = 1, as a new run.
  void Reset();
  // The run moves to `n` (>= current(), <= 10^19) by multiplying with every number between.
  void Advance(std::uint64_t n);
  std::uint64_t current() const { return n_; }
  const DecimalNumber& value() const { return value_; }

  // The current factorial's digits, written into a buffer the run reuses; valid until the
  // next call on the run.
  std::string_view Digits();

 private:
  std::uint64_t n_ = 0;
  DecimalNumber value_{1};  // 0! = 1
  std::vector<std::uint64_t> factors_;
  std::string text_;
  bool text_current_ = true;  // text_ holds value_'s digits
};

}  // namespace factorial::executor
