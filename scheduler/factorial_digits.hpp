#pragma once

// n!'s exact decimal length from n lives in common (factorial/factorial_digits.hpp), where the
// result checks of both scheduler and executor use it; the scheduler's names for it stay.

#include "factorial/factorial_digits.hpp"

namespace factorial::scheduler {

using factorial::EstimateLog10Factorial;
using factorial::FactorialDecimalDigits;
using factorial::kLargestDigitsN;
using factorial::Log10FactorialEstimate;

}  // namespace factorial::scheduler
