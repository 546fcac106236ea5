#pragma once

// RecordIO framing used by the Mesos v1 event streams: "<decimal length>\n<payload>",
// records back to back with no terminator (mesos-v1-api.md §2).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "factorial/status.hpp"

namespace factorial {

// Returns `payload` framed as one record.
std::string EncodeRecord(std::string_view payload);

// Appends `payload` framed as one record to `*out` (no temporary string).
void AppendRecord(std::string_view payload, std::string* out);

// Incremental decoder: feed it bytes exactly as they arrive (any chunking) and it returns
// every record completed by those bytes, as views (no copy for a record lying whole inside
// one chunk) or as strings. A length header that is not decimal digits followed
// by '\n', a header longer than 20 digits, or a length above `max_record_size` puts the
// decoder into a permanent failed state (there is no way to resynchronise a RecordIO stream):
// every later Feed returns the same error and the caller must drop the connection.
// Not thread-safe; one decoder per stream.
class RecordIoDecoder {
 public:
  static constexpr std::size_t kDefaultMaxRecordSize = 64u << 20;  // 64 MiB

  explicit RecordIoDecoder(std::size_t max_record_size = kDefaultMaxRecordSize)
      : max_record_size_(max_record_size) {}

  // Decodes `bytes`, appending completed records to `*records`. Records completed before a
  // framing error in the same chunk are still appended.
  //
  // A record lying whole inside `bytes` is a view into `bytes`; a record completed from bytes
  // of earlier calls (at most one per call: the first) is a view into the decoder's buffer.
  // The views stay valid while `bytes` does and until the next Feed.
  Status Feed(std::string_view bytes, std::vector<std::string_view>* records);
  // The same, copying each record into a string.
  Status Feed(std::string_view bytes, std::vector<std::string>* records);

  bool failed() const { return state_ == State::kFailed; }
  // True iff a record or header has been started but not finished (useful at EOF).
  bool mid_record() const { return state_ == State::kRecord || !header_.empty(); }

 private:
  enum class State { kHeader, kRecord, kFailed };
  Status Fail(std::string message);

  std::size_t max_record_size_;
  State state_ = State::kHeader;
  std::string header_;     // a length header split across calls
  std::string record_;     // a record split across calls, being completed
  std::string completed_;  // the last record completed from record_, viewed by the caller
  std::size_t remaining_ = 0;
  Error error_{Errc::kCorruption, ""};
};

}  // namespace factorial
