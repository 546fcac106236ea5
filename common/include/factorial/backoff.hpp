#pragma once

#include <cstdint>
#include <random>

#include "factorial/duration.hpp"

namespace factorial {

// Capped exponential backoff with full jitter: the n-th delay is uniform in
// [0, min(cap, initial * 2^n)]. Seedable so tests are deterministic. Not thread-safe.
class Backoff {
 public:
  Backoff(Duration initial, Duration cap, std::uint64_t seed = std::random_device{}());

  // Returns the next delay and advances the exponent.
  Duration Next();
  // The ceiling the next call to Next() draws below.
  Duration CurrentCeiling() const;
  void Reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  Duration initial_;
  Duration cap_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace factorial
