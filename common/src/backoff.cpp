#include "factorial/backoff.hpp"

#include <algorithm>

namespace factorial {

Backoff::Backoff(Duration initial, Duration cap, std::uint64_t seed)
    : initial_(initial), cap_(std::max(cap, initial)), rng_(seed) {}

Duration Backoff::CurrentCeiling() const {
  // Doubling stops once the cap is reached, so the shift never overflows.
  Duration ceiling = initial_;
  for (int i = 0; i < attempt_ && ceiling < cap_; ++i) ceiling *= 2;
  return std::min(ceiling, cap_);
}

Duration Backoff::Next() {
  Duration ceiling = CurrentCeiling();
  ++attempt_;
  std::uniform_int_distribution<Duration::rep> pick(0, ceiling.count());
  return Duration(pick(rng_));
}

}  // namespace factorial
