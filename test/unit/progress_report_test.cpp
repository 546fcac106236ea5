// The wire form of an executor's progress report (progress_report.hpp), which the scheduler
// reads from MESSAGE events anyone on the cluster could send.

#include "factorial/progress_report.hpp"

#include <catch2/catch.hpp>

using factorial::FormatProgressReport;
using factorial::ParseProgressReport;
using factorial::TaskProgressReport;

TEST_CASE("a progress report is written and read back", "[progress]") {
  TaskProgressReport report{"factorial-3-b17", 412, 37.25};
  CHECK(FormatProgressReport(report) == "progress factorial-3-b17 412 37.250000");
  CHECK(ParseProgressReport("progress factorial-3-b17 412 37.250000") == report);
  CHECK(ParseProgressReport("progress t 0 0") == TaskProgressReport{"t", 0, 0});
  CHECK(ParseProgressReport("progress t 18446744073709551615 1e3") == std::nullopt);  // fixed only
  CHECK(ParseProgressReport(FormatProgressReport({"t", 1, 0.0000004})) == TaskProgressReport{"t", 1, 0});
}

TEST_CASE("anything but a well-formed progress report is refused", "[progress]") {
  for (const char* bad : {"", "progress", "progress ", "progress t", "progress t ", "progress t 1", "progress t 1 ",
                          "progress  1 2", "Progress t 1 2", "progress t -1 2", "progress t 1 -2", "progress t 1 -0",
                          "progress t x 2", "progress t 1 2x", "progress t 1 2 3", "progress t 1  2",
                          "progress t 1 nan", "progress t 1 inf", "progress t 18446744073709551616 1"}) {
    INFO(bad);
    CHECK(ParseProgressReport(bad) == std::nullopt);
  }
  std::string long_id(257, 'x');
  CHECK(ParseProgressReport("progress " + long_id + " 1 2") == std::nullopt);
  CHECK(ParseProgressReport("progress " + long_id.substr(1) + " 1 2").has_value());
}
