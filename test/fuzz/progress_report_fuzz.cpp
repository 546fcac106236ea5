// Fuzzes the progress report parser, which reads the data of MESSAGE events the scheduler
// receives (progress_report.hpp): any executor, or anyone who can reach an agent, sends them.
// Properties:
//  1. Parsing never crashes or throws, whatever the bytes.
//  2. What parses has a task ID of 1 to 256 bytes without spaces, and finite, non-negative work.
//  3. Written again, it parses to the same task ID and count, and work within the 6 decimals
//     the wire form keeps.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "factorial/progress_report.hpp"
#include "fuzz_check.hpp"

using factorial::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto report = factorial::ParseProgressReport(bytes);
  if (!report) return 0;
  Check(!report->task_id.empty() && report->task_id.size() <= 256);
  Check(report->task_id.find(' ') == std::string::npos);
  Check(std::isfinite(report->work) && report->work >= 0);
  auto again = factorial::ParseProgressReport(factorial::FormatProgressReport(*report));
  Check(again.has_value());
  Check(again->task_id == report->task_id && again->numbers == report->numbers);
  Check(std::fabs(again->work - report->work) <= 5e-7 * std::max(1.0, report->work));
  return 0;
}
