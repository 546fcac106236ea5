// Workload: distinct numbers once, input order kept, occurrences counted.

#include "workload.hpp"

#include <catch2/catch.hpp>

#include "state_store.hpp"

using factorial::scheduler::Workload;

TEST_CASE("a workload keeps input order and stores each distinct number once", "[workload]") {
  std::vector<std::uint64_t> input{20, 5, 20, 0, 18446744073709551615ull, 5, 20};
  auto workload = Workload::FromNumbers(input).value();
  REQUIRE(workload.size() == 7);
  REQUIRE(workload.distinct() == 4);
  for (std::size_t i = 0; i < input.size(); ++i) CHECK(workload.at(i) == input[i]);
  // Ids follow numeric order.
  CHECK(workload.number(0) == 0);
  CHECK(workload.number(1) == 5);
  CHECK(workload.number(2) == 20);
  CHECK(workload.number(3) == 18446744073709551615ull);
  CHECK(workload.occurrences(*workload.Find(20)) == 3);
  CHECK(workload.occurrences(*workload.Find(5)) == 2);
  CHECK(workload.occurrences(*workload.Find(0)) == 1);
  CHECK_FALSE(workload.Find(6).has_value());
  CHECK(workload.id_at(0) == *workload.Find(20));
}

TEST_CASE("a workload's fingerprint is the journal's input fingerprint", "[workload]") {
  std::vector<std::uint64_t> input{3, 1, 3, 1000000};
  auto workload = Workload::FromNumbers(input).value();
  CHECK(workload.Fingerprint() == factorial::scheduler::InputFingerprint(input));
  auto other = Workload::FromNumbers(std::vector<std::uint64_t>{1, 3, 3, 1000000}).value();
  CHECK(other.Fingerprint() != workload.Fingerprint());
}

TEST_CASE("an empty workload has no positions and no numbers", "[workload]") {
  auto workload = Workload::FromNumbers({}).value();
  CHECK(workload.empty());
  CHECK(workload.distinct() == 0);
  CHECK(workload.MemoryBytes() == 0);
}
