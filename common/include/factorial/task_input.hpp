#pragma once

// What a task carries to the executor, written by the scheduler's launch and read by the
// executor's LAUNCH handler; nothing else reads or writes it.
//
// TaskInfo.data holds the task's numbers: unsigned decimals separated by single spaces, no
// other byte, nothing before the first or after the last ("5 10 100000"). The scheduler writes
// them without leading zeros, in its own order; the executor accepts leading zeros and any
// order, and refuses a number twice, an empty list, a number over its --max-n and more than
// kMaxTaskNumbers numbers. One number is a batch of one: "120" is the whole data of the task
// computing 120!. Executors before this codec read exactly this form, so old and new
// executors and schedulers work with each other. A later field must not be a decimal, so an
// executor that does not know it refuses the task (TASK_FAILED, REASON_TASK_INVALID) rather
// than compute something else than what was asked.
//
// The rest of what a task carries is plain Mesos: its `cpus` give its lanes (TaskLanes), its
// `mem` the memory its computations stay within, and a label `inline_limit` (tests) overrides
// the executor's limit on results sent inline in TaskStatus.data (result_codec.hpp).
//
// Example (test/data/task_input/batch.data): `5 10 100000`.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "factorial/messages.hpp"
#include "factorial/status.hpp"

namespace factorial {

// The most numbers one task may carry (the scheduler's batches stay far below).
inline constexpr std::size_t kMaxTaskNumbers = 1000000;

struct TaskInput {
  std::vector<std::uint64_t> numbers;  // sorted ascending, distinct, at least one
  double cpus = 0;                     // the task's `cpus`, all roles
  std::uint64_t memory_bytes = 0;      // the task's `mem`; 0: none given
  std::optional<std::size_t> inline_limit;  // the `inline_limit` label, if a decimal
  friend bool operator==(const TaskInput&, const TaskInput&) = default;
};

// The lanes (computations side by side) of a task of `cpus`: Mesos cpus are shares, so they
// are rounded, and at least one. A task of 1.9 cpus runs 2 lanes.
int TaskLanes(double cpus);

// TaskInfo.data for `numbers` (distinct, at least one), in their order.
std::string EncodeTaskNumbers(std::span<const std::uint64_t> numbers);

// The numbers of TaskInfo.data, each at most `max_n`. The error message is meant for
// TaskStatus.message (TASK_FAILED, REASON_TASK_INVALID) and quotes the data escaped.
Result<std::vector<std::uint64_t>> DecodeTaskNumbers(std::string_view data, std::uint64_t max_n);

// Everything the executor reads from a task it is asked to launch.
Result<TaskInput> ReadTaskInput(const v1::TaskInfo& task, std::uint64_t max_n);

}  // namespace factorial
