#pragma once

// The computation itself: n! with GMP and its decimal form, pure functions.

#include <cstdint>
#include <string>

#include <gmp.h>

#include "factorial/digest.hpp"

namespace factorial::executor {

// Owns one mpz_t. gmpxx's mpz_class would do, but gmpxx.h declares a global function named
// `factorial`, which collides with this project's namespace.
class Mpz {
 public:
  Mpz() { mpz_init(v_); }
  ~Mpz() { mpz_clear(v_); }
  Mpz(const Mpz&) = delete;
  Mpz& operator=(const Mpz&) = delete;
  Mpz(Mpz&& other) noexcept {
    mpz_init(v_);
    mpz_swap(v_, other.v_);
  }
  Mpz& operator=(Mpz&& other) noexcept {
    mpz_swap(v_, other.v_);
    return *this;
  }
  mpz_ptr get() { return v_; }
  mpz_srcptr get() const { return v_; }
  // Frees the limbs now (the value becomes 0).
  void Release() {
    mpz_clear(v_);
    mpz_init(v_);
  }
  // Decimal text, single-threaded (mpz_get_str).
  std::string ToString() const;

 private:
  mpz_t v_;
};

Mpz Factorial(std::uint64_t n);

// Decimal digits of `x` (x >= 0). With threads > 1, divide and conquer: split by a power of
// ten near half the digits, convert both halves in parallel, zero-pad the low half. Output is
// identical to mpz_get_str for every thread count.
std::string ToDecimal(const Mpz& x, int threads);

using factorial::Xxh3Hex;  // common/include/factorial/digest.hpp

}  // namespace factorial::executor
