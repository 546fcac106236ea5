#include "factorial/recordio.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>

namespace factorial {
namespace {
// 2^64 - 1 has 20 decimal digits; anything longer cannot be a valid length.
constexpr std::size_t kMaxHeaderDigits = 20;
}  // namespace

std::string EncodeRecord(std::string_view payload) {
  std::string out;
  AppendRecord(payload, &out);
  return out;
}

void AppendRecord(std::string_view payload, std::string* out) {
  char digits[kMaxHeaderDigits + 1];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, payload.size());
  assert(ec == std::errc());
  out->reserve(out->size() + static_cast<std::size_t>(end - digits) + 1 + payload.size());
  out->append(digits, end);
  out->push_back('\n');
  out->append(payload);
}

Status RecordIoDecoder::Fail(std::string message) {
  state_ = State::kFailed;
  header_.clear();
  record_.clear();
  error_ = Error{Errc::kCorruption, std::move(message)};
  return error_;
}

Status RecordIoDecoder::Feed(std::string_view bytes, std::vector<std::string>* records) {
  if (state_ == State::kFailed) return error_;
  while (!bytes.empty() || (state_ == State::kRecord && remaining_ == 0)) {
    switch (state_) {
      case State::kFailed:
        return error_;
      case State::kHeader: {
        std::size_t newline = bytes.find('\n');
        std::string_view piece = bytes.substr(0, newline);
        if (header_.size() + piece.size() > kMaxHeaderDigits) {
          return Fail("RecordIO length header longer than 20 digits");
        }
        header_.append(piece);
        if (newline == std::string_view::npos) return OkStatus();
        bytes.remove_prefix(newline + 1);
        std::uint64_t length = 0;
        const char* first = header_.data();
        const char* last = first + header_.size();
        auto [ptr, ec] = std::from_chars(first, last, length);
        if (header_.empty() || ec != std::errc() || ptr != last ||
            !std::all_of(first, last, [](char c) { return c >= '0' && c <= '9'; })) {
          std::string shown = header_.substr(0, 20);
          return Fail("RecordIO length header is not a decimal number: '" + shown + "'");
        }
        if (length > max_record_size_) {
          return Fail("RecordIO record of " + std::to_string(length) +
                      " bytes exceeds the limit of " + std::to_string(max_record_size_));
        }
        header_.clear();
        remaining_ = static_cast<std::size_t>(length);
        record_.clear();
        record_.reserve(remaining_);
        state_ = State::kRecord;
        break;
      }
      case State::kRecord: {
        std::size_t take = std::min(remaining_, bytes.size());
        record_.append(bytes.substr(0, take));
        bytes.remove_prefix(take);
        remaining_ -= take;
        if (remaining_ == 0) {
          records->push_back(std::move(record_));
          record_ = std::string();
          state_ = State::kHeader;
        }
        break;
      }
    }
  }
  return OkStatus();
}

}  // namespace factorial
