#include "factorial/result_codec.hpp"

#include <algorithm>
#include <optional>
#include <set>

#include "factorial/digest.hpp"
#include "factorial/digits.hpp"
#include "factorial/logging.hpp"

namespace factorial {
namespace {

constexpr std::string_view kHeader = "FR1\n";

// Reads one field of a line: up to the next space, or to the end of the line.
class LineReader {
 public:
  explicit LineReader(std::string_view line) : rest_(line) {}

  std::string_view Field() {
    auto space = rest_.find(' ');
    std::string_view field = rest_.substr(0, space);
    rest_ = space == std::string_view::npos ? std::string_view() : rest_.substr(space + 1);
    last_had_space_ = space != std::string_view::npos;
    return field;
  }
  std::string_view Rest() {
    std::string_view rest = rest_;
    rest_ = {};
    return rest;
  }
  bool more() const { return last_had_space_; }

 private:
  std::string_view rest_;
  bool last_had_space_ = false;
};

std::optional<std::uint64_t> Number(std::string_view text) {
  Decimal parsed = ParseCanonicalDecimal(text);
  return parsed.ok() ? std::optional(parsed.value) : std::nullopt;
}

Error Malformed(std::size_t line, const std::string& what) {
  return Error{Errc::kCorruption, "result line " + std::to_string(line) + ": " + what};
}

// A whole file's digest: SHA-256 (an FRF1 file) or XXH3-128 (FRF2), lowercase hex.
bool ValidDigest(std::string_view digest) {
  return (digest.size() == DigestHexLength(DigestAlgorithm::kSha256) ||
          digest.size() == DigestHexLength(DigestAlgorithm::kXxh3_128)) &&
         std::all_of(digest.begin(), digest.end(), IsLowerHex);
}

bool ValidPath(std::string_view path) { return !path.empty() && path.find('\0') == std::string_view::npos; }

// One decoded line: an entry for a number, or a file.
using Line = std::variant<ResultEntry, ResultFile>;

Result<Line> DecodeFileLine(LineReader& reader, std::size_t number) {
  ResultFile file;
  auto size = reader.more() ? Number(reader.Field()) : std::nullopt;
  if (!size) return Malformed(number, "a file's size must be an unsigned decimal");
  file.size = *size;
  std::string_view digest = reader.more() ? reader.Field() : std::string_view();
  if (!ValidDigest(digest)) {
    return Malformed(number, "a file's digest must be 32 (XXH3-128) or 64 (SHA-256) lowercase hex digits");
  }
  file.digest = std::string(digest);
  std::string_view path = reader.more() ? reader.Rest() : std::string_view();
  if (!ValidPath(path) || path.front() != '/') {
    return Malformed(number, "a file's path must be absolute and hold no NUL byte");
  }
  file.path = std::string(path);
  return Line(std::move(file));
}

Result<Line> DecodeLine(std::string_view line, std::size_t number) {
  LineReader reader(line);
  std::string_view first = reader.Field();
  if (first == "file") return DecodeFileLine(reader, number);
  ResultEntry entry;
  auto n = Number(first);
  if (!n) return Malformed(number, "the number is not an unsigned decimal");
  entry.n = *n;
  if (!reader.more()) return Malformed(number, "no kind after the number");
  std::string_view kind = reader.Field();
  if (kind == "d") {
    if (!reader.more()) return Malformed(number, "no digits");
    std::string_view digits = reader.Rest();
    if (!AllDigits(digits)) return Malformed(number, "inline digits are not decimal digits");
    entry.value = std::string(digits);
    return Line(std::move(entry));
  }
  if (kind == "e") {
    ResultFailure failure;
    std::string_view reason = reader.more() ? reader.Field() : std::string_view();
    if (reason == "oom") {
      failure.reason = ResultFailure::Reason::kOom;
    } else if (reason == "error") {
      failure.reason = ResultFailure::Reason::kError;
    } else {
      return Malformed(number, "a failure's reason must be 'oom' or 'error'");
    }
    std::string_view message = reader.more() ? reader.Rest() : std::string_view();
    if (message.empty() || message.size() > kMaxFailureMessage || message.find('\0') != std::string_view::npos) {
      return Malformed(number, "a failure's message must be 1 to " + std::to_string(kMaxFailureMessage) +
                                   " bytes without NUL");
    }
    failure.message = std::string(message);
    entry.value = std::move(failure);
    return Line(std::move(entry));
  }
  return Malformed(number, "unknown kind '" + Excerpt(kind, 8) + "'");
}

// What the encoder writes for a failure's message: one line, not empty, bounded.
std::string WireMessage(const std::string& message) {
  std::string out = message.substr(0, kMaxFailureMessage);
  for (char& c : out) {
    if (c == '\n' || c == '\0') c = ' ';
  }
  if (out.empty()) out = "-";
  return out;
}

}  // namespace

std::string_view ReasonName(ResultFailure::Reason reason) {
  return reason == ResultFailure::Reason::kOom ? "oom" : "error";
}

std::string EncodeResultList(const ResultList& results) {
  const auto& entries = results.entries;
  if (results.files.empty() && entries.size() == 1 && std::holds_alternative<std::string>(entries[0].value)) {
    return std::get<std::string>(entries[0].value);
  }
  std::string out(kHeader);
  for (const auto& entry : entries) {
    out += std::to_string(entry.n);
    if (const auto* digits = std::get_if<std::string>(&entry.value)) {
      out += " d ";
      out += *digits;
    } else {
      const auto& failure = std::get<ResultFailure>(entry.value);
      out += " e ";
      out += ReasonName(failure.reason);
      out += ' ';
      out += WireMessage(failure.message);
    }
    out += '\n';
  }
  for (const auto& file : results.files) {
    out += "file " + std::to_string(file.size) + " " + file.digest + " " + file.path + "\n";
  }
  return out;
}

Result<ResultList> DecodeResultList(std::string_view data, std::uint64_t task_number) {
  if (data.empty()) return Error{Errc::kCorruption, "empty result"};
  if (IsDigit(data.front())) {
    if (!AllDigits(data)) return Error{Errc::kCorruption, "an inline result must be only decimal digits"};
    return ResultList{{ResultEntry{task_number, std::string(data)}}, {}};
  }
  if (data.substr(0, kHeader.size()) != kHeader) {
    return Error{Errc::kCorruption, "neither digits nor a result list (no FR1 header)"};
  }
  data.remove_prefix(kHeader.size());
  if (data.empty()) return ResultList{};  // everything was announced in earlier updates
  if (data.back() != '\n') return Error{Errc::kCorruption, "the last result line is not terminated"};
  ResultList results;
  std::set<std::uint64_t> numbers;
  std::set<std::string> paths;
  for (std::size_t line_number = 2; !data.empty(); ++line_number) {
    auto end = data.find('\n');
    auto line = DecodeLine(data.substr(0, end), line_number);
    if (!line.ok()) return line.error();
    if (auto* entry = std::get_if<ResultEntry>(&line.value())) {
      if (!numbers.insert(entry->n).second) return Malformed(line_number, std::to_string(entry->n) + " appears twice");
      results.entries.push_back(std::move(*entry));
    } else {
      auto& file = std::get<ResultFile>(line.value());
      if (!paths.insert(file.path).second) return Malformed(line_number, "the same file is named twice");
      results.files.push_back(std::move(file));
    }
    data.remove_prefix(end + 1);
  }
  return results;
}

std::string EncodeFetchedNotice(const std::vector<std::string>& uuids) {
  std::string out;
  for (const auto& uuid : uuids) {
    out += "fetched ";
    out += LowerHex(std::span(reinterpret_cast<const unsigned char*>(uuid.data()), uuid.size()));
    out += '\n';
  }
  return out;
}

Result<std::vector<std::string>> DecodeFetchedNotice(std::string_view data) {
  constexpr std::string_view kPrefix = "fetched ";
  constexpr std::size_t kLine = kPrefix.size() + 32 + 1;
  if (data.empty() || data.size() % kLine != 0) return Error{Errc::kCorruption, "not a fetched notice"};
  std::vector<std::string> uuids;
  for (; !data.empty(); data.remove_prefix(kLine)) {
    std::string_view line = data.substr(0, kLine);
    std::string_view hex = line.substr(kPrefix.size(), 32);
    if (!line.starts_with(kPrefix) || line.back() != '\n' || !std::all_of(hex.begin(), hex.end(), IsLowerHex)) {
      return Error{Errc::kCorruption, "not a fetched notice"};
    }
    std::string uuid(16, '\0');
    for (std::size_t i = 0; i < 16; ++i) {
      auto nibble = [](char c) { return IsDigit(c) ? c - '0' : c - 'a' + 10; };
      uuid[i] = static_cast<char>(nibble(hex[2 * i]) * 16 + nibble(hex[2 * i + 1]));
    }
    uuids.push_back(std::move(uuid));
  }
  return uuids;
}

}  // namespace factorial
