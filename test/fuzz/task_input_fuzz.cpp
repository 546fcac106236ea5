// Fuzzes the task input decoder, which reads TaskInfo.data as the agent relays it.
// Properties:
//  1. Decoding never crashes or throws, whatever the bytes; a refusal says why.
//  2. What decodes is at least one number, sorted, distinct, each at most the limit, and no
//     more than kMaxTaskNumbers of them.
//  3. It re-encodes to data that decodes to the same numbers, and that canonical form is only
//     digits and single spaces.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "factorial/task_input.hpp"
#include "fuzz_check.hpp"

using factorial::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  constexpr std::uint64_t kMaxN = 100000000;
  auto decoded = factorial::DecodeTaskNumbers(bytes, kMaxN);
  if (!decoded.ok()) {
    Check(!decoded.error().message.empty());
    return 0;
  }
  const auto& numbers = decoded.value();
  Check(!numbers.empty() && numbers.size() <= factorial::kMaxTaskNumbers);
  Check(std::adjacent_find(numbers.begin(), numbers.end(), std::greater_equal<>()) == numbers.end());
  Check(numbers.back() <= kMaxN);
  std::string encoded = factorial::EncodeTaskNumbers(numbers);
  Check(encoded.find_first_not_of("0123456789 ") == std::string::npos);
  Check(encoded.find("  ") == std::string::npos && encoded.front() != ' ' && encoded.back() != ' ');
  auto again = factorial::DecodeTaskNumbers(encoded, kMaxN);
  Check(again.ok() && again.value() == numbers);
  return 0;
}
