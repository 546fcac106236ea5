#pragma once

// What end-to-end tests compare the programs' output with: n! computed independently of the
// code under test, output split into lines, and the shape of a run's output.

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <gmp.h>

#include "factorial/sizing.hpp"

namespace factorial::testing {

// n! in decimal. A plain product up to 50000 (quick enough, and shares nothing with GMP's
// factorial); above, GMP's mpz_fac_ui, which a plain product would take minutes to match.
// Either way the conversion is GMP's own, not the executor's parallel one.
inline std::string IndependentFactorial(unsigned long n) {
  mpz_t f;
  if (n <= 50000) {
    mpz_init_set_ui(f, 1);
    for (unsigned long i = 2; i <= n; ++i) mpz_mul_ui(f, f, i);
  } else {
    mpz_init(f);
    mpz_fac_ui(f, n);
  }
  std::string s(mpz_sizeinbase(f, 10) + 2, '\0');
  mpz_get_str(s.data(), 10, f);
  s.resize(std::strlen(s.c_str()));
  mpz_clear(f);
  return s;
}

// k! in decimal for every k in [0, end), as IndependentFactorial computes each (a plain product,
// GMP's conversion) but in one pass: a dense range of thousands costs seconds, not minutes.
inline std::vector<std::string> IndependentFactorials(unsigned long end) {
  std::vector<std::string> out;
  out.reserve(end);
  mpz_t f;
  mpz_init_set_ui(f, 1);
  for (unsigned long k = 0; k < end; ++k) {
    if (k >= 2) mpz_mul_ui(f, f, k);
    std::string s(mpz_sizeinbase(f, 10) + 2, '\0');
    mpz_get_str(s.data(), 10, f);
    s.resize(std::strlen(s.c_str()));
    out.push_back(std::move(s));
  }
  mpz_clear(f);
  return out;
}

// How often `what` occurs in `text`, not overlapping.
inline std::size_t Occurrences(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++count;
  return count;
}

inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// One line per number, in order, each "n! = " and as many digits as n! has: the whole output's
// shape, where computing every n! again would take the test too long.
inline void CheckDigitCounts(const std::vector<std::string>& lines, const std::vector<std::string>& numbers) {
  REQUIRE(lines.size() == numbers.size());
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    std::string prefix = numbers[i] + "! = ";
    REQUIRE(lines[i].rfind(prefix, 0) == 0);
    CHECK(lines[i].size() - prefix.size() == factorial::FactorialDigits(std::stoull(numbers[i])));
  }
}

}  // namespace factorial::testing
