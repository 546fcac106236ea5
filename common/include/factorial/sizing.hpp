#pragma once

// How big n! is, and how much memory computing it needs. Shared so the scheduler asks Mesos
// for exactly what the executor will refuse to exceed.

#include <cstdint>

namespace factorial {

// log10(n!) via lgamma; exact enough for sizing (relative error < 1e-12).
double Log10Factorial(std::uint64_t n);

// Number of decimal digits of n! (1 for 0! and 1!).
std::uint64_t FactorialDigits(std::uint64_t n);

// Bytes of n! in binary (GMP limbs), rounded up.
std::uint64_t FactorialBinaryBytes(std::uint64_t n);

// Memory one computation needs, in bytes:
//   32 MiB floor (process, GMP tables, pipes)
//   + 4 x binary size (mpz_fac_ui's product tree peaks near 2x; the decimal conversion's
//     quotient, remainder and power of ten add about 2x more)
//   + 2 x decimal digits (the output string and the copy while joining halves).
std::uint64_t FactorialMemoryBytes(std::uint64_t n);

}  // namespace factorial
