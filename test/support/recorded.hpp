#pragma once

// Answers recorded from a real Mesos 1.12 master and agent (test/data/real-mesos): mesos-sim
// is held to them byte for byte, and the real-Mesos suite checks they still hold. A test that
// includes this defines FACTORIAL_TEST_DATA_DIR.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace factorial::testing {

inline std::filesystem::path Recorded(const std::string& name) {
  return std::filesystem::path(FACTORIAL_TEST_DATA_DIR) / "real-mesos" / name;
}

// The bytes of a recorded file.
inline std::string RecordedText(const std::string& name) {
  std::ifstream in(Recorded(name), std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The status code of a recorded answer (from "HTTP/1.1 NNN ..." in `<name>.headers.txt`).
inline int RecordedStatus(const std::string& name) { return std::stoi(RecordedText(name + ".headers.txt").substr(9, 3)); }

// One header of a recorded answer ("" if absent).
inline std::string RecordedHeader(const std::string& name, const std::string& header) {
  std::istringstream in(RecordedText(name + ".headers.txt"));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind(header + ": ", 0) == 0) return line.substr(header.size() + 2);
  }
  return "";
}

}  // namespace factorial::testing
