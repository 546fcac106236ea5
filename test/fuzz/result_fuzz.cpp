// Fuzzes the result codec's decoder, which reads TaskStatus.data as the master relays it.
// Properties:
//  1. Decoding never crashes or throws, whatever the bytes.
//  2. What decodes re-encodes to something that decodes to the same entries.
//  3. A decoded entry is well formed: digits are digits, a SHA-256 is 64 hex digits, a path
//     is non-empty, and a slice's end does not overflow.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "factorial/result_codec.hpp"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto decoded = factorial::DecodeResults(bytes, 7);
  if (!decoded.ok()) {
    Check(!decoded.error().message.empty());
    return 0;
  }
  Check(!decoded.value().empty());
  for (const auto& entry : decoded.value()) {
    if (const auto* digits = std::get_if<std::string>(&entry.value)) {
      Check(!digits->empty() && digits->find_first_not_of("0123456789") == std::string::npos);
    } else {
      const auto& slice = std::get<factorial::ResultFileSlice>(entry.value);
      Check(slice.sha256.size() == 64 && !slice.path.empty());
      Check(slice.offset <= UINT64_MAX - slice.size);
    }
  }
  // A single inline entry re-encodes as shape 1 (bare digits), whose number is the task's: so
  // decode it again as the result of a task given that entry's number.
  std::uint64_t task_number = decoded.value().size() == 1 ? decoded.value().front().n : 7;
  auto again = factorial::DecodeResults(factorial::EncodeResults(decoded.value()), task_number);
  Check(again.ok() && again.value() == decoded.value());
  return 0;
}
