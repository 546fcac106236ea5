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
  record_.clear();  // completed_ stays: this call may already have handed out a view of it
  error_ = Error{Errc::kCorruption, std::move(message)};
  return error_;
}

Status RecordIoDecoder::Feed(std::string_view bytes, std::vector<std::string>* records) {
  std::vector<std::string_view> views;
  Status status = Feed(bytes, &views);
  for (std::string_view view : views) records->emplace_back(view);
  return status;
}

Status RecordIoDecoder::Feed(std::string_view bytes, std::vector<std::string_view>* records) {
  if (state_ == State::kFailed) return error_;
  while (!bytes.empty()) {
    if (state_ == State::kRecord) {
      std::size_t take = std::min(remaining_, bytes.size());
      record_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      remaining_ -= take;
      if (remaining_ > 0) return OkStatus();
      // completed_ must outlive this call for the caller's view; record_ is reused.
      completed_.swap(record_);
      record_.clear();
      records->push_back(completed_);
      state_ = State::kHeader;
      continue;
    }
    // kHeader: digits, then '\n'. Usually the whole header is in `bytes`.
    std::size_t newline = bytes.find('\n');
    std::string_view piece = bytes.substr(0, newline);
    if (header_.size() + piece.size() > kMaxHeaderDigits) {
      return Fail("RecordIO length header longer than 20 digits");
    }
    if (newline == std::string_view::npos) {
      header_.append(piece);
      return OkStatus();
    }
    bytes.remove_prefix(newline + 1);
    std::string_view digits = piece;
    if (!header_.empty()) {
      header_.append(piece);
      digits = header_;
    }
    std::uint64_t length = 0;
    const char* first = digits.data();
    const char* last = first + digits.size();
    auto [ptr, ec] = std::from_chars(first, last, length);
    if (digits.empty() || ec != std::errc() || ptr != last ||
        !std::all_of(first, last, [](char c) { return c >= '0' && c <= '9'; })) {
      std::string shown(digits.substr(0, 20));
      return Fail("RecordIO length header is not a decimal number: '" + shown + "'");
    }
    if (length > max_record_size_) {
      return Fail("RecordIO record of " + std::to_string(length) +
                  " bytes exceeds the limit of " + std::to_string(max_record_size_));
    }
    header_.clear();
    if (length <= bytes.size()) {  // whole inside this chunk: hand out a view, copy nothing
      records->push_back(bytes.substr(0, static_cast<std::size_t>(length)));
      bytes.remove_prefix(static_cast<std::size_t>(length));
      continue;
    }
    remaining_ = static_cast<std::size_t>(length) - bytes.size();
    record_.reserve(static_cast<std::size_t>(length));
    record_.assign(bytes);
    state_ = State::kRecord;
    return OkStatus();
  }
  return OkStatus();
}

}  // namespace factorial
