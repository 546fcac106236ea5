#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "download_memory.hpp"
#include "number_result.hpp"
#include "support/held_memory.hpp"

using factorial::scheduler::DownloadMemory;
using factorial::scheduler::HeldFile;
using factorial::scheduler::MemoryBlock;

namespace {
constexpr std::size_t kMiB = std::size_t{1} << 20;
}  // namespace

TEST_CASE("download memory: a released block is used again, not mapped anew", "[download_memory]") {
  DownloadMemory memory(64 * kMiB);
  char* first = nullptr;
  {
    auto block = memory.Take(5 * kMiB + 1);
    REQUIRE(block);
    CHECK(block->capacity() >= 5 * kMiB + 1);
    CHECK(memory.in_use() == block->capacity());
    CHECK(memory.kept() == 0);
    std::memset(block->data(), '7', 5 * kMiB + 1);  // all of it is writable
    first = block->data();
  }
  CHECK(memory.in_use() == 0);
  CHECK(memory.kept() >= 5 * kMiB + 1);
  // A smaller download fits the kept block: the same memory.
  auto again = memory.Take(3 * kMiB);
  REQUIRE(again);
  CHECK(again->data() == first);
  CHECK(memory.kept() == 0);
}

TEST_CASE("download memory: the budget holds blocks in use and kept together", "[download_memory]") {
  DownloadMemory memory(16 * kMiB);
  auto a = memory.Take(8 * kMiB);
  auto b = memory.Take(8 * kMiB);
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(memory.Take(1));  // full: the caller goes to a temp file
  CHECK(memory.in_use() == 16 * kMiB);
  a.reset();
  // The kept 8 MiB block is too small for 12 MiB and goes; 12 MiB beside b's 8 would pass
  // the budget: refused.
  CHECK_FALSE(memory.Take(12 * kMiB));
  CHECK(memory.kept() == 0);  // the too-small block went
  b.reset();
  auto big = memory.Take(12 * kMiB);
  REQUIRE(big);
  CHECK(memory.in_use() + memory.kept() <= memory.budget());
  CHECK_FALSE(memory.Take(17 * kMiB));  // over the whole budget: never
}

TEST_CASE("download memory: a kept block too small is replaced, not kept beside a new one", "[download_memory]") {
  DownloadMemory memory(256 * kMiB);
  { auto small = memory.Take(2 * kMiB); }
  CHECK(memory.kept() == 2 * kMiB);
  auto big = memory.Take(34 * kMiB);
  REQUIRE(big);
  CHECK(memory.kept() == 0);
  CHECK(memory.in_use() == 34 * kMiB);
}

TEST_CASE("download memory: blocks outlive their DownloadMemory", "[download_memory]") {
  std::optional<MemoryBlock> block;
  {
    DownloadMemory memory(8 * kMiB);
    block = memory.Take(kMiB);
    REQUIRE(block);
  }
  std::memset(block->data(), 1, kMiB);
  block.reset();  // returned to a state nobody else holds: unmapped with it (ASan would see a leak)
}

TEST_CASE("a download held in memory reads like one in a file, and refuses reads past its end",
          "[download_memory]") {
  const std::size_t files_before = HeldFile::open();
  auto held = factorial::testing::HeldInMemory("FRF1\n5 3 120\n");
  CHECK(held->fd() == -1);
  REQUIRE(held->memory());
  CHECK(*held->memory() == "FRF1\n5 3 120\n");
  auto digits = factorial::scheduler::ReadDigits(factorial::scheduler::DigitsSlice{held, 9, 3, std::nullopt});
  REQUIRE(digits.ok());
  CHECK(*digits == "120");
  CHECK_FALSE(factorial::scheduler::ReadDigits(factorial::scheduler::DigitsSlice{held, 12, 3, std::nullopt}).ok());
  CHECK(HeldFile::open() == files_before);  // no descriptor held for it
}
