// The task input codec: golden TaskInfo.data in test/data/task_input both ways, every refusal
// with its exact message, and what the executor reads from the rest of a TaskInfo.

#include "factorial/task_input.hpp"

#include <fstream>
#include <iterator>

#include <catch2/catch.hpp>

#include "factorial/digits.hpp"

using factorial::DecodeTaskNumbers;
using factorial::EncodeTaskNumbers;

namespace {

std::string Golden(const std::string& name) {
  std::ifstream in(std::string(FACTORIAL_TEST_DATA_DIR) + "/task_input/" + name, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string Refusal(const std::string& data, std::uint64_t max_n = 100000000) {
  auto decoded = DecodeTaskNumbers(data, max_n);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().code == factorial::Errc::kInvalidArgument);
  return decoded.error().message;
}

}  // namespace

TEST_CASE("task input codec: golden data decodes to its numbers and encodes back byte for byte", "[task_input]") {
  struct Case {
    std::string file;
    std::vector<std::uint64_t> numbers;
  };
  for (const Case& c : std::vector<Case>{{"one.data", {120}}, {"batch.data", {5, 10, 100000}}}) {
    INFO(c.file);
    std::string bytes = Golden(c.file);
    auto decoded = DecodeTaskNumbers(bytes, 100000000);
    REQUIRE(decoded.ok());
    CHECK(decoded.value() == c.numbers);
    CHECK(EncodeTaskNumbers(c.numbers) == bytes);
  }
  auto any_order = DecodeTaskNumbers(Golden("unsorted_zeros.data"), 100000000);
  REQUIRE(any_order.ok());
  CHECK(any_order.value() == std::vector<std::uint64_t>{5, 10, 100000});
  // The encoder keeps the caller's order; the decoder sorts.
  CHECK(EncodeTaskNumbers(std::vector<std::uint64_t>{100000, 5, 10}) == "100000 5 10");
}

TEST_CASE("task input codec: refused data says what is wrong, quoting it escaped", "[task_input]") {
  const std::string not_one = "task data must be non-negative decimal integers separated by single spaces; ";
  CHECK(Refusal(Golden("twice.data")) == "5 appears twice in the task data");
  CHECK(Refusal(Golden("double_space.data")) == not_one + "'' in '5  10' is not one");
  CHECK(Refusal(Golden("negative.data")) == not_one + "'-5' in '-5' is not one");
  CHECK(Refusal(Golden("empty.data")) == "task data is empty; expected numbers like '5 10 100000'");
  CHECK(Refusal(Golden("newline.data")) == not_one + "'10\\n' in '5 10\\n' is not one");
  CHECK(Refusal(Golden("over_u64.data"), UINT64_MAX) ==
        "18446744073709551616 is over this executor's limit of 18446744073709551615");
  CHECK(Refusal("100000001") == "100000001 is over this executor's limit of 100000000");
  // A non-digit is reported even after the value went over the limit.
  CHECK(Refusal("99999999999999999999999x") == not_one + "'99999999999999999999999x' in '99999999999999999999999x' is not one");
  CHECK(Refusal(" 5") == not_one + "'' in ' 5' is not one");
  CHECK(Refusal("5 ") == not_one + "'' in '5 ' is not one");
  // Long data is quoted in part, control bytes escaped.
  CHECK(Refusal("1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 \x1b[31m") ==
        not_one + "'\\x1B[31m' in '1 2 3 4 5 6 7 8 9 10 11 12 13 14... (9 more bytes)' is not one");
}

TEST_CASE("task input codec: at most kMaxTaskNumbers numbers", "[task_input]") {
  std::vector<std::uint64_t> numbers(factorial::kMaxTaskNumbers);
  for (std::size_t i = 0; i < numbers.size(); ++i) numbers[i] = i;
  std::string data = EncodeTaskNumbers(numbers);
  auto full = DecodeTaskNumbers(data, UINT64_MAX);
  REQUIRE(full.ok());
  CHECK(full.value() == numbers);
  CHECK(Refusal(data + " 1000000", UINT64_MAX) == "task data holds more than 1000000 numbers");
}

TEST_CASE("task input codec: the executor reads numbers, cpus, mem and the inline_limit label", "[task_input]") {
  factorial::v1::TaskInfo task;
  task.data = "10 5";
  for (auto [name, value] : {std::pair{"cpus", 1.9}, std::pair{"mem", 64.0}}) {
    auto& resource = task.resources.emplace_back();
    resource.name = name;
    resource.type = factorial::v1::ValueType::kScalar;
    resource.scalar = value;
  }
  task.labels.emplace().push_back(factorial::v1::Label{"inline_limit", std::string("157")});
  auto input = factorial::ReadTaskInput(task, 100);
  REQUIRE(input.ok());
  CHECK(input->numbers == std::vector<std::uint64_t>{5, 10});
  CHECK(input->cpus == 1.9);
  CHECK(input->memory_bytes == 64ull << 20);
  CHECK(input->inline_limit == 157u);
  CHECK(factorial::TaskLanes(input->cpus) == 2);

  task.labels->front().value = "lots";  // not a decimal: the executor's own limit applies
  task.resources.clear();
  input = factorial::ReadTaskInput(task, 100);
  REQUIRE(input.ok());
  CHECK_FALSE(input->inline_limit.has_value());
  CHECK(input->memory_bytes == 0);
  CHECK(factorial::TaskLanes(input->cpus) == 1);

  task.data.reset();
  CHECK(factorial::ReadTaskInput(task, 100).error().message ==
        "task data is empty; expected numbers like '5 10 100000'");
}

TEST_CASE("task lanes are the task's cpus rounded, at least one", "[task_input]") {
  CHECK(factorial::TaskLanes(0) == 1);
  CHECK(factorial::TaskLanes(0.1) == 1);
  CHECK(factorial::TaskLanes(1.49) == 1);
  CHECK(factorial::TaskLanes(1.5) == 2);
  CHECK(factorial::TaskLanes(3.9) == 4);
}

TEST_CASE("one decimal parser: digits only, at most max, non-digits reported first", "[digits]") {
  using factorial::Decimal;
  using factorial::ParseDecimal;
  CHECK(ParseDecimal("0").value == 0);
  CHECK(ParseDecimal("007").value == 7);
  CHECK(ParseDecimal("18446744073709551615").value == UINT64_MAX);
  CHECK(ParseDecimal("18446744073709551616").problem == Decimal::Problem::kTooLarge);
  CHECK(ParseDecimal("100", 99).problem == Decimal::Problem::kTooLarge);
  CHECK(ParseDecimal("99", 99).value == 99);
  CHECK(ParseDecimal("9", 5).problem == Decimal::Problem::kTooLarge);
  CHECK(ParseDecimal("5", 5).ok());
  CHECK(ParseDecimal("999x", 5).problem == Decimal::Problem::kNotDecimal);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1e3", "0x10"}) {
    INFO(bad);
    CHECK(ParseDecimal(bad).problem == Decimal::Problem::kNotDecimal);
  }
  CHECK(factorial::ParseCanonicalDecimal("0").ok());
  CHECK_FALSE(factorial::ParseCanonicalDecimal("07").ok());
  CHECK(factorial::AllDigits("0123456789"));
  CHECK_FALSE(factorial::AllDigits(""));
  CHECK_FALSE(factorial::AllDigits("12a"));
  // Every byte value at every position of a 70-byte text: in the eight-byte steps, at their
  // edges and in the byte-wise rest.
  for (int c = 0; c < 256; ++c) {
    for (std::size_t pos = 0; pos < 70; ++pos) {
      std::string text(70, '5');
      text[pos] = static_cast<char>(c);
      bool digit = c >= '0' && c <= '9';
      REQUIRE(factorial::FirstNonDigit(text) == (digit ? text.size() : pos));
      REQUIRE(factorial::AllDigits(text) == digit);
    }
  }
  const unsigned char bytes[] = {0x00, 0x9f, 0xa0, 0xff};
  CHECK(factorial::LowerHex(bytes) == "009fa0ff");
}
