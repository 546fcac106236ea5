// The largest n the benchmarks use, 10^7, end to end: factorial-scheduler and
// factorial-executor against mesos-sim with an agent like the one in the issue it fixes
// (8 cpus, 16 GiB). Takes tens of seconds of CPU; labelled `slow` as well as `e2e`.

#include "sim.hpp"

#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include "factorial/sizing.hpp"
#include "support/curl_global.hpp"
#include "support/e2e.hpp"
#include "support/timeouts.hpp"

using namespace factorial::testing;
using factorial::sim::MesosSim;
using factorial::sim::SimOptions;

namespace {

// Two primes above 10^7 (so n! is not 0 modulo either) and below 2^32 (products fit 64 bits).
constexpr std::uint64_t kPrimes[] = {4294967291u, 4294967279u};

std::uint64_t MulMod(std::uint64_t a, std::uint64_t b, std::uint64_t p) { return a * b % p; }

// n! mod p by multiplying 2..n: independent of GMP and of any decimal conversion.
std::uint64_t FactorialMod(std::uint64_t n, std::uint64_t p) {
  std::uint64_t r = 1;
  for (std::uint64_t i = 2; i <= n; ++i) r = MulMod(r, i, p);
  return r;
}

// The decimal string's value mod p (Horner), or p if it has a non-digit.
std::uint64_t DecimalMod(std::string_view digits, std::uint64_t p) {
  std::uint64_t r = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return p;
    r = (r * 10 + static_cast<std::uint64_t>(c - '0')) % p;
  }
  return r;
}

}  // namespace

TEST_CASE("10^7! on an 8-cpu 16 GiB agent: computed within its sized memory and exact", "[e2e][executor][slow]") {
  SimOptions o;
  o.agents = 1;
  o.resources.cpus = 8;
  o.resources.mem = 16384;
  o.resources.disk = 4096;
  o.heartbeat_interval = 1000ms;
  o.allocation_interval = 50ms;
  o.executor_shutdown_grace_period = 1000ms;
  MesosSim sim(o);
  sim.Start();
  constexpr std::uint64_t n = 10000000;
  Process p({FACTORIAL_SCHEDULER_BINARY, "--master", sim.master_url(), "--executor", FACTORIAL_EXECUTOR_BINARY,
             "--task-cpus", "7.9", std::to_string(n)},
            kHugeRun);
  int code = p.Wait();
  INFO(p.Stderr().substr(0, 4000));
  REQUIRE(code == 0);
  std::string out = p.Stdout();
  std::string prefix = std::to_string(n) + "! = ";
  REQUIRE(out.compare(0, prefix.size(), prefix) == 0);
  REQUIRE(out.back() == '\n');
  std::string_view digits(out);
  digits.remove_prefix(prefix.size());
  digits.remove_suffix(1);
  CHECK(digits.size() == factorial::FactorialDigits(n));  // 65,657,060
  CHECK(digits.substr(0, 7) == "1202423");                // log10(10^7!) = 65657059.0800574...
  // Trailing zeros: sum of floor(n / 5^k) = 2,499,999.
  CHECK(digits.size() - digits.find_last_not_of('0') - 1 == 2499999);
  for (std::uint64_t prime : kPrimes) CHECK(DecimalMod(digits, prime) == FactorialMod(n, prime));
}
