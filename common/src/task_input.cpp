#include "factorial/task_input.hpp"

#include <algorithm>
#include <cmath>

#include "factorial/digits.hpp"
#include "factorial/logging.hpp"
#include "factorial/resources.hpp"

namespace factorial {
namespace {

// How much of the data an error message quotes.
constexpr std::size_t kQuotedBytes = 32;

std::optional<std::string_view> Label(const v1::TaskInfo& task, std::string_view key) {
  if (!task.labels) return std::nullopt;
  for (const auto& label : *task.labels) {
    if (label.key == key) return std::string_view(label.value ? *label.value : std::string_view());
  }
  return std::nullopt;
}

Error Invalid(std::string message) { return Error{Errc::kInvalidArgument, std::move(message)}; }

}  // namespace

int TaskLanes(double cpus) { return std::max(1, static_cast<int>(std::llround(cpus))); }

std::string EncodeTaskNumbers(std::span<const std::uint64_t> numbers) {
  std::string data;
  data.reserve(numbers.size() * 8);
  for (std::uint64_t n : numbers) {
    if (!data.empty()) data += ' ';
    data += std::to_string(n);
  }
  return data;
}

Result<std::vector<std::uint64_t>> DecodeTaskNumbers(std::string_view data, std::uint64_t max_n) {
  if (data.empty()) return Invalid("task data is empty; expected numbers like '5 10 100000'");
  std::vector<std::uint64_t> numbers;
  for (std::size_t start = 0;;) {
    std::size_t space = data.find(' ', start);
    std::string_view token = data.substr(start, space == std::string_view::npos ? data.npos : space - start);
    Decimal n = ParseDecimal(token, max_n);
    if (n.problem == Decimal::Problem::kNotDecimal) {
      return Invalid("task data must be non-negative decimal integers separated by single spaces; '" +
                     Excerpt(token, kQuotedBytes) + "' in '" + Excerpt(data, kQuotedBytes) + "' is not one");
    }
    if (n.problem == Decimal::Problem::kTooLarge) {
      return Invalid(Excerpt(token, kQuotedBytes) + " is over this executor's limit of " + std::to_string(max_n));
    }
    if (numbers.size() == kMaxTaskNumbers) {
      return Invalid("task data holds more than " + std::to_string(kMaxTaskNumbers) + " numbers");
    }
    numbers.push_back(n.value);
    if (space == std::string_view::npos) break;
    start = space + 1;
  }
  std::sort(numbers.begin(), numbers.end());
  if (auto twice = std::adjacent_find(numbers.begin(), numbers.end()); twice != numbers.end()) {
    return Invalid(std::to_string(*twice) + " appears twice in the task data");
  }
  return numbers;
}

Result<TaskInput> ReadTaskInput(const v1::TaskInfo& task, std::uint64_t max_n) {
  auto numbers = DecodeTaskNumbers(task.data ? std::string_view(*task.data) : std::string_view(), max_n);
  if (!numbers.ok()) return numbers.error();
  TaskInput input;
  input.numbers = std::move(numbers).value();
  input.cpus = std::max(0.0, ScalarTotal(task.resources, "cpus"));
  input.memory_bytes = static_cast<std::uint64_t>(std::max(0.0, ScalarTotal(task.resources, "mem")) * 1048576.0);
  if (auto label = Label(task, "inline_limit")) {
    if (Decimal limit = ParseDecimal(*label, SIZE_MAX); limit.ok()) input.inline_limit = limit.value;
  }
  return input;
}

}  // namespace factorial
