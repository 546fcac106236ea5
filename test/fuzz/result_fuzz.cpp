// Fuzzes the result codec's decoder, which reads TaskStatus.data as the master relays it.
// Properties:
//  1. Decoding never crashes or throws, whatever the bytes.
//  2. What decodes re-encodes to something that decodes to the same entries and files.
//  3. A decoded line is well formed: digits are digits, a SHA-256 is 64 hex digits, a path is
//     non-empty (absolute for a file), a slice's end does not overflow, a failure's message is
//     one bounded line, and no number or file appears twice.
//  4. The single-number decoder accepts exactly the lists without failures or files, with the
//     same entries.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>

#include "factorial/result_codec.hpp"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

bool AllDigits(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto decoded = factorial::DecodeResultList(bytes, 7);
  auto single = factorial::DecodeResults(bytes, 7);
  if (!decoded.ok()) {
    Check(!decoded.error().message.empty());
    Check(!single.ok());
    return 0;
  }
  const auto& list = decoded.value();
  Check(!list.entries.empty() || !list.files.empty());
  bool batch_only = !list.files.empty();
  std::set<std::uint64_t> numbers;
  for (const auto& entry : list.entries) {
    Check(numbers.insert(entry.n).second);
    if (const auto* digits = std::get_if<std::string>(&entry.value)) {
      Check(AllDigits(*digits));
    } else if (const auto* failure = std::get_if<factorial::ResultFailure>(&entry.value)) {
      batch_only = true;
      Check(!failure->message.empty() && failure->message.size() <= factorial::kMaxFailureMessage);
      Check(failure->message.find('\n') == std::string::npos && failure->message.find('\0') == std::string::npos);
    } else {
      const auto& slice = std::get<factorial::ResultFileSlice>(entry.value);
      Check(slice.sha256.size() == 64 && !slice.path.empty());
      Check(slice.offset <= UINT64_MAX - slice.size);
    }
  }
  std::set<std::string> paths;
  for (const auto& file : list.files) {
    Check(paths.insert(file.path).second);
    Check(file.sha256.size() == 64 && file.path.front() == '/');
  }
  Check(single.ok() == !batch_only);
  if (single.ok()) Check(single.value() == list.entries);
  // A single inline entry without files re-encodes as shape 1 (bare digits), whose number is
  // the task's: so decode it again as the result of a task given that entry's number.
  std::uint64_t task_number = list.entries.size() == 1 && list.files.empty() ? list.entries.front().n : 7;
  auto again = factorial::DecodeResultList(factorial::EncodeResultList(list), task_number);
  Check(again.ok() && again.value() == list);
  return 0;
}
