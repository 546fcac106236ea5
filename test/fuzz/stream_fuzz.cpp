// Fuzzes what our programs read from the network: a RecordIO stream whose records are Mesos
// events (scheduler and executor). Properties:
//  1. Splitting the input at any point gives the same records and the same failure.
//  2. No record is larger than the decoder's cap.
//  3. Parsing never throws; when it succeeds, serialize -> parse -> serialize is stable.
//  4. The message reader rejects as corrupt exactly the texts nlohmann::json rejects.
//  5. Views and copies of the records agree.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "factorial/messages.hpp"
#include "factorial/recordio.hpp"
#include "fuzz_check.hpp"

using factorial::fuzz::Check;

namespace {

constexpr std::size_t kCap = 1 << 16;

template <class Parse>
void CheckStable(std::string_view record, Parse parse) {
  auto first = parse(record);
  bool corrupt = !first.ok() && first.error().code == factorial::Errc::kCorruption;
  Check(corrupt == !nlohmann::json::accept(record));
  if (!first.ok()) return;
  std::string once = factorial::v1::Serialize(first.value());
  auto second = parse(once);
  Check(second.ok());
  Check(factorial::v1::Serialize(second.value()) == once);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks a split point; the rest is the stream.
  std::size_t split = data[0];
  std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  split = stream.empty() ? 0 : split % (stream.size() + 1);

  factorial::RecordIoDecoder whole(kCap), pieces(kCap);
  std::vector<std::string> a, b;
  bool whole_ok = whole.Feed(stream, &a).ok();
  bool first_ok = pieces.Feed(stream.substr(0, split), &b).ok();
  bool second_ok = pieces.Feed(stream.substr(split), &b).ok();
  Check(whole_ok == (first_ok && second_ok));
  Check(a == b);

  factorial::RecordIoDecoder viewing(kCap);
  std::vector<std::string> c;
  for (std::string_view chunk : {stream.substr(0, split), stream.substr(split)}) {
    std::vector<std::string_view> views;
    bool ok = viewing.Feed(chunk, &views).ok();
    c.insert(c.end(), views.begin(), views.end());
    if (!ok) break;
  }
  Check(a == c);

  for (const auto& record : a) {
    Check(record.size() <= kCap);
    CheckStable(record, factorial::v1::ParseSchedulerEvent);
    CheckStable(record, factorial::v1::ParseExecutorEvent);
    CheckStable(record, factorial::v1::ParseSchedulerCall);
    CheckStable(record, factorial::v1::ParseExecutorCall);
  }
  return 0;
}
