// Fuzzes what the scheduler makes of an agent's /files/read answer (scheduler/sandbox_reader.hpp)
// when it diagnoses an executor that failed: the JSON body, then the last stderr line, then the
// log excerpt of it. Properties:
//  1. Never crashes, whatever the bytes.
//  2. An accepted answer has a non-negative offset; the line is a part of its data with no
//     line break in it, and the excerpt has no control character (it cannot forge log lines).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "factorial/logging.hpp"
#include "fuzz_check.hpp"
#include "sandbox_reader.hpp"

using factorial::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto read = factorial::scheduler::ParseFilesRead(body);
  if (!read.ok()) return 0;
  Check(read->offset >= 0);
  for (bool from_start : {true, false}) {
    std::string line = factorial::scheduler::LastStderrLine(read->data, from_start);
    Check(line.find('\n') == std::string::npos);
    Check(line.empty() || read->data.find(line) != std::string::npos);
    for (char c : factorial::Excerpt(line)) Check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
  }
  return 0;
}
