#pragma once

// What end-to-end tests compare the programs' output with: n! computed independently of the
// code under test (a plain product, not mpz_fac_ui), and output split into lines.

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <gmp.h>

namespace factorial::testing {

inline std::string IndependentFactorial(unsigned long n) {
  mpz_t f;
  mpz_init_set_ui(f, 1);
  for (unsigned long i = 2; i <= n; ++i) mpz_mul_ui(f, f, i);
  std::string s(mpz_sizeinbase(f, 10) + 2, '\0');
  mpz_get_str(s.data(), 10, f);
  s.resize(std::strlen(s.c_str()));
  mpz_clear(f);
  return s;
}

inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace factorial::testing
