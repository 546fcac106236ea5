// Fuzzes the result codec's decoder, which reads TaskStatus.data as the master relays it.
// Properties:
//  1. Decoding never crashes or throws, whatever the bytes.
//  2. What decodes re-encodes to something that decodes to the same entries and files.
//  3. A decoded line is well formed: digits are digits, a file's digest is 32 (XXH3-128) or 64
//     (SHA-256) lowercase hex digits, a file's path is absolute, a failure's message is one
//     bounded line, and no number or file appears twice.
//  4. The scheduler's fetched notice (a MESSAGE the executor reads) decodes only from its exact
//     form: what decodes re-encodes to the same bytes, 16-byte uuids each.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string_view>

#include "factorial/digits.hpp"
#include "factorial/result_codec.hpp"
#include "fuzz_check.hpp"

using factorial::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto notice = factorial::DecodeFetchedNotice(bytes); notice.ok()) {
    for (const auto& uuid : notice.value()) Check(uuid.size() == 16);
    Check(factorial::EncodeFetchedNotice(notice.value()) == bytes);
  }
  auto decoded = factorial::DecodeResultList(bytes, 7);
  if (!decoded.ok()) {
    Check(!decoded.error().message.empty());
    return 0;
  }
  const auto& list = decoded.value();
  std::set<std::uint64_t> numbers;
  for (const auto& entry : list.entries) {
    Check(numbers.insert(entry.n).second);
    if (const auto* digits = std::get_if<std::string>(&entry.value)) {
      Check(factorial::AllDigits(*digits));
    } else {
      const auto& failure = std::get<factorial::ResultFailure>(entry.value);
      Check(!failure.message.empty() && failure.message.size() <= factorial::kMaxFailureMessage);
      Check(failure.message.find('\n') == std::string::npos && failure.message.find('\0') == std::string::npos);
    }
  }
  std::set<std::string> paths;
  for (const auto& file : list.files) {
    Check(paths.insert(file.path).second);
    Check(file.digest.size() == 32 || file.digest.size() == 64);
    for (char c : file.digest) Check(factorial::IsLowerHex(c));
    Check(file.path.front() == '/');
  }
  // A single inline entry without files re-encodes as shape 1 (bare digits), whose number is
  // the task's: so decode it again as the result of a task given that entry's number.
  std::uint64_t task_number = list.entries.size() == 1 && list.files.empty() ? list.entries.front().n : 7;
  auto again = factorial::DecodeResultList(factorial::EncodeResultList(list), task_number);
  Check(again.ok() && again.value() == list);
  return 0;
}
