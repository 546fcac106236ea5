// Fuzzes the batch result file parser (common/include/factorial/result_file.hpp), which reads
// what the scheduler downloads from an agent. Properties:
//  1. Never crashes; bounded memory (no field grows past its cap, checked by ASan's limits).
//  2. Splitting the input at any two points gives the same outcome: the same entries when it
//     parses, the same error (message and offset) when it does not. Digits handed out before an
//     error depend on where the chunks end (they stream), so they are compared only on success.
//  3. A file that parses is exactly what the writer writes for the entries parsed, in the
//     version its header names (FRF2, or FRF1 as older executors wrote it), and its whole-file
//     digest is the writer's.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "factorial/result_file.hpp"
#include "fuzz_check.hpp"

using factorial::fuzz::Check;

namespace {

struct Outcome {
  std::vector<std::pair<std::uint64_t, std::string>> entries;
  bool ok = false;
  std::string error;
  factorial::ResultFileVersion version = factorial::ResultFileVersion::kFrf2;
  std::string whole_file_digest;
  bool operator==(const Outcome&) const = default;
};

Outcome Parse(std::string_view file, std::size_t split1, std::size_t split2) {
  Outcome out;
  factorial::ResultFileParser::Callbacks callbacks;
  callbacks.on_entry = [&out](std::uint64_t n, std::uint64_t length) {
    Check(length > 0);
    out.entries.emplace_back(n, std::string());
    return factorial::OkStatus();
  };
  callbacks.on_digits = [&out](std::string_view digits) {
    Check(!digits.empty() && !out.entries.empty());
    out.entries.back().second.append(digits);
    return factorial::OkStatus();
  };
  factorial::ResultFileParser parser(callbacks);
  factorial::Status status = factorial::OkStatus();
  for (std::string_view chunk : {file.substr(0, split1), file.substr(split1, split2 - split1), file.substr(split2)}) {
    status = parser.Feed(chunk);
    if (!status.ok()) break;
  }
  if (status.ok()) status = parser.Finish();
  out.ok = status.ok();
  if (!out.ok) out.error = status.error().message;
  if (out.ok) {
    out.version = parser.version();
    out.whole_file_digest = parser.whole_file_digest();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::string_view file(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::size_t a = data[0] % (file.size() + 1);
  std::size_t b = data[1] % (file.size() + 1);
  if (a > b) std::swap(a, b);

  Outcome whole = Parse(file, file.size(), file.size());
  Outcome split = Parse(file, a, b);
  Check(whole.ok == split.ok);
  Check(whole.error == split.error);
  if (whole.ok) Check(whole.entries == split.entries);

  if (whole.ok) {
    std::string written;
    factorial::ResultFileWriter writer(
        [&written](std::string_view bytes) {
          written.append(bytes);
          return factorial::OkStatus();
        },
        whole.version);
    for (const auto& [n, digits] : whole.entries) Check(writer.Append(n, digits).ok());
    Check(writer.Finish().ok());
    Check(written == file);
    Check(writer.whole_file_digest() == whole.whole_file_digest);
  }
  return 0;
}
