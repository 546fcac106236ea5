#pragma once

// What every fuzz target asserts with: a property that does not hold aborts, which libFuzzer
// records as a crash with its input (and the corpus replay reports as a failed test).

#include <cstdlib>

namespace factorial::fuzz {

inline void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace factorial::fuzz
