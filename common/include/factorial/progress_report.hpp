#pragma once

// An executor's progress inside a running task, sent to the scheduler as the data of an
// executor MESSAGE call (the agent and master relay it as the scheduler's MESSAGE event):
//
//   progress <task_id> <numbers done> <work done>
//
// `numbers done`: numbers of the task computed or failed so far; `work done`: their estimated
// CPU seconds (cost_model.hpp's EstimatedCpuSeconds, the unit the scheduler sizes tasks and
// counts the job's work in), not CPU time measured: the scheduler compares it with the
// task's estimated total. MESSAGE is unreliable by design (neither checkpointed nor
// acknowledged, dropped when the agent or master is busy), which suits a figure the next one
// supersedes; a status update per report would cost a checkpoint and an acknowledgement.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace factorial {

struct TaskProgressReport {
  std::string task_id;
  std::uint64_t numbers = 0;
  double work = 0;
  friend bool operator==(const TaskProgressReport&, const TaskProgressReport&) = default;
};

// The wire form; work with 6 decimals.
std::string FormatProgressReport(const TaskProgressReport& report);
// nullopt for anything else: another prefix, an empty or over-256-byte task ID, a count or
// work that is not a plain non-negative number, or trailing bytes.
std::optional<TaskProgressReport> ParseProgressReport(std::string_view data);

}  // namespace factorial
