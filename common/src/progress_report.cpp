#include "factorial/progress_report.hpp"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace factorial {
namespace {

constexpr std::string_view kPrefix = "progress ";
constexpr std::size_t kMaxTaskIdBytes = 256;

}  // namespace

std::string FormatProgressReport(const TaskProgressReport& report) {
  return fmt::format("{}{} {} {:.6f}", kPrefix, report.task_id, report.numbers, report.work);
}

std::optional<TaskProgressReport> ParseProgressReport(std::string_view data) {
  if (!data.starts_with(kPrefix)) return std::nullopt;
  data.remove_prefix(kPrefix.size());
  auto space = data.find(' ');
  if (space == 0 || space == std::string_view::npos || space > kMaxTaskIdBytes) return std::nullopt;
  TaskProgressReport report;
  report.task_id = std::string(data.substr(0, space));
  data.remove_prefix(space + 1);
  if (data.starts_with('-')) return std::nullopt;  // from_chars would take "-0"
  const char* end = data.data() + data.size();
  auto [after_numbers, e1] = std::from_chars(data.data(), end, report.numbers);
  if (e1 != std::errc() || after_numbers == end || *after_numbers != ' ') return std::nullopt;
  if (after_numbers + 1 != end && after_numbers[1] == '-') return std::nullopt;
  auto [after_work, e2] = std::from_chars(after_numbers + 1, end, report.work, std::chars_format::fixed);
  if (e2 != std::errc() || after_work != end || !std::isfinite(report.work) || report.work < 0) return std::nullopt;
  return report;
}

}  // namespace factorial
