#pragma once

// Checks of live answers against the ones recorded from a real Mesos 1.12 (recorded.hpp): shared
// by mesos-sim's golden tests, which hold the emulator to them, and the real-Mesos suite, which
// checks they still hold. A test that includes this defines FACTORIAL_TEST_DATA_DIR.

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "support/e2e.hpp"
#include "support/recorded.hpp"

namespace factorial::testing {

// ANSWER is the one recorded as NAME: the same status, the same value of each of HEADERS, and
// the same body byte for byte.
inline void CheckAsRecorded(const Answer& answer, const std::string& name,
                            std::initializer_list<const char*> headers = {}) {
  CHECK(answer.status == RecordedStatus(name));
  for (const char* header : headers) {
    INFO(header);
    CHECK(answer.Header(header) == RecordedHeader(name, header));
  }
  CHECK(answer.body == RecordedText(name + ".body"));
}

// The agent's /files/read queries on RUN (an executor run's /frameworks/... path, its stderr
// shorter than 200 bytes) that both suites ask, named by their recorded answers.
inline std::vector<std::pair<std::string, std::string>> RecordedFilesReadQueries(const std::string& run) {
  return {{"files-read-past-end", "path=" + run + "/stderr&offset=200&length=10"},
          {"files-read-missing", "path=" + run + "/nosuch&offset=0"},
          {"files-read-directory", "path=" + run + "&offset=0"},
          {"files-read-negative-offset", "path=" + run + "/stderr&offset=-5"},
          {"files-read-negative-length", "path=" + run + "/stderr&offset=0&length=-5"},
          {"files-read-bad-offset", "path=" + run + "/stderr&offset=abc"},
          {"files-read-no-path", "offset=0"}};
}

}  // namespace factorial::testing
