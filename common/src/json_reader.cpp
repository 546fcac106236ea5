#include "json_reader.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <nlohmann/json.hpp>

#include "factorial/base64.hpp"

namespace factorial::v1::detail {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Bytes that can be copied as they are inside a string: printable ASCII except '"' and '\\'.
constexpr std::array<bool, 256> kPlainStringByte = [] {
  std::array<bool, 256> table{};
  for (int c = 0x20; c < 0x80; ++c) table[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
  return table;
}();

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(std::uint32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

// Length of the well-formed UTF-8 sequence at `p` (Unicode table 3-7, as nlohmann checks it),
// or 0 if it is not one.
std::size_t Utf8SequenceLength(const char* p, const char* end) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(p[i]); };
  auto in = [&](std::size_t i, unsigned lo, unsigned hi) {
    return p + i < end && byte(i) >= lo && byte(i) <= hi;
  };
  const unsigned lead = byte(0);
  if (lead >= 0xC2 && lead <= 0xDF) return in(1, 0x80, 0xBF) ? 2 : 0;
  if (lead == 0xE0) return in(1, 0xA0, 0xBF) && in(2, 0x80, 0xBF) ? 3 : 0;
  if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
    return in(1, 0x80, 0xBF) && in(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (lead == 0xED) return in(1, 0x80, 0x9F) && in(2, 0x80, 0xBF) ? 3 : 0;
  if (lead == 0xF0) return in(1, 0x90, 0xBF) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
  if (lead >= 0xF1 && lead <= 0xF3) {
    return in(1, 0x80, 0xBF) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
  }
  if (lead == 0xF4) return in(1, 0x80, 0x8F) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
  return 0;
}

}  // namespace

std::string RenderPath(const PathNode* node) {
  std::vector<const PathNode*> chain;
  for (; node != nullptr; node = node->parent) chain.push_back(node);
  std::string out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if ((*it)->key.empty()) {
      out += '[';
      out += std::to_string((*it)->position);
      out += ']';
    } else {
      if (!out.empty()) out += '.';
      out += (*it)->key;
    }
  }
  return out;
}

namespace {
std::vector<std::uint32_t> OrderKey(const PathNode* node) {
  std::vector<std::uint32_t> key;
  for (; node != nullptr; node = node->parent) key.push_back(node->position);
  std::reverse(key.begin(), key.end());
  return key;
}
}  // namespace

// ---- JsonCursor ----------------------------------------------------------------------------

JsonCursor::JsonCursor(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {
  // A UTF-8 byte order mark is skipped, as nlohmann does.
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") p_ += 3;
}

bool JsonCursor::Fail() {
  failed_ = true;
  p_ = end_;
  return false;
}

void JsonCursor::SkipWhitespace() {
  while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
}

bool JsonCursor::Expect(char c) {
  SkipWhitespace();
  if (p_ == end_ || *p_ != c) return Fail();
  ++p_;
  return true;
}

JsonCursor::Kind JsonCursor::Peek() {
  SkipWhitespace();
  if (p_ == end_) {
    Fail();
    return Kind::kBad;
  }
  switch (*p_) {
    case '{': return Kind::kObject;
    case '[': return Kind::kArray;
    case '"': return Kind::kString;
    case 't': return Kind::kTrue;
    case 'f': return Kind::kFalse;
    case 'n': return Kind::kNull;
    default:
      if (*p_ == '-' || IsDigit(*p_)) return Kind::kNumber;
      Fail();
      return Kind::kBad;
  }
}

bool JsonCursor::TakeNull() {
  if (Peek() != Kind::kNull) return false;
  return ScanLiteral("null");
}

bool JsonCursor::ScanLiteral(std::string_view literal) {
  if (static_cast<std::size_t>(end_ - p_) < literal.size() ||
      std::string_view(p_, literal.size()) != literal) {
    return Fail();
  }
  p_ += literal.size();
  return true;
}

bool JsonCursor::BeginObject() { return Expect('{'); }
bool JsonCursor::BeginArray() { return Expect('['); }

bool JsonCursor::NextMember(bool& first, std::string_view& key) {
  SkipWhitespace();
  if (p_ == end_) return Fail();
  if (*p_ == '}') {
    ++p_;
    return false;
  }
  if (!first) {
    if (*p_ != ',') return Fail();
    ++p_;
    SkipWhitespace();
  }
  first = false;
  if (p_ == end_ || *p_ != '"') return Fail();
  if (!ScanString(nullptr, &key)) return false;
  return Expect(':');
}

bool JsonCursor::NextElement(bool& first) {
  SkipWhitespace();
  if (p_ == end_) return Fail();
  if (*p_ == ']') {
    ++p_;
    return false;
  }
  if (!first) {
    if (*p_ != ',') return Fail();
    ++p_;
  }
  first = false;
  return true;
}

bool JsonCursor::ReadString(std::string& out) {
  if (Peek() != Kind::kString) return Fail();
  return ScanString(&out, nullptr);
}

bool JsonCursor::ReadStringView(std::string_view& out) {
  if (Peek() != Kind::kString) return Fail();
  return ScanString(nullptr, &out);
}

// At an opening quote. Fills `out` (decoded) or `view` (into the text when there are no
// escapes, else into scratch_), or neither when only validating.
bool JsonCursor::ScanString(std::string* out, std::string_view* view) {
  const char* start = ++p_;
  while (p_ != end_ && kPlainStringByte[static_cast<unsigned char>(*p_)]) ++p_;
  if (p_ != end_ && *p_ == '"') {
    if (out != nullptr) out->assign(start, p_);
    if (view != nullptr) *view = std::string_view(start, static_cast<std::size_t>(p_ - start));
    ++p_;
    return true;
  }
  if (out != nullptr) return ScanStringSlow(start, out);
  if (!ScanStringSlow(start, &scratch_)) return false;
  if (view != nullptr) *view = scratch_;
  return true;
}

// Escapes, non-ASCII or an error: decode byte by byte from `start` (just after the quote).
bool JsonCursor::ScanStringSlow(const char* start, std::string* out) {
  p_ = start;
  out->clear();
  for (;;) {
    if (p_ == end_) return Fail();
    const char c = *p_;
    if (c == '"') {
      ++p_;
      return true;
    }
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20) return Fail();  // control characters must be escaped
    if (byte >= 0x80) {
      std::size_t length = Utf8SequenceLength(p_, end_);
      if (length == 0) return Fail();
      out->append(p_, length);
      p_ += length;
      continue;
    }
    if (c != '\\') {
      out->push_back(c);
      ++p_;
      continue;
    }
    if (++p_ == end_) return Fail();
    switch (*p_++) {
      case '"': out->push_back('"'); break;
      case '\\': out->push_back('\\'); break;
      case '/': out->push_back('/'); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'u': {
        auto read_hex4 = [&](std::uint32_t& value) {
          if (end_ - p_ < 4) return false;
          value = 0;
          for (int i = 0; i < 4; ++i) {
            int digit = HexValue(p_[i]);
            if (digit < 0) return false;
            value = value * 16 + static_cast<std::uint32_t>(digit);
          }
          p_ += 4;
          return true;
        };
        std::uint32_t unit = 0;
        if (!read_hex4(unit)) return Fail();
        if (unit >= 0xDC00 && unit <= 0xDFFF) return Fail();  // a lone low surrogate
        if (unit >= 0xD800 && unit <= 0xDBFF) {
          std::uint32_t low = 0;
          if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return Fail();
          p_ += 2;
          if (!read_hex4(low) || low < 0xDC00 || low > 0xDFFF) return Fail();
          unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
        }
        AppendUtf8(unit, *out);
        break;
      }
      default:
        return Fail();
    }
  }
}

bool JsonCursor::ReadNumber(Number& out) {
  if (Peek() != Kind::kNumber) return Fail();
  const char* start = p_;
  const bool negative = *p_ == '-';
  if (negative) ++p_;
  if (p_ == end_) return Fail();
  if (*p_ == '0') {
    ++p_;
  } else if (IsDigit(*p_)) {
    while (p_ != end_ && IsDigit(*p_)) ++p_;
  } else {
    return Fail();
  }
  bool integer = true;
  if (p_ != end_ && *p_ == '.') {
    integer = false;
    ++p_;
    if (p_ == end_ || !IsDigit(*p_)) return Fail();
    while (p_ != end_ && IsDigit(*p_)) ++p_;
  }
  if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
    integer = false;
    ++p_;
    if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
    if (p_ == end_ || !IsDigit(*p_)) return Fail();
    while (p_ != end_ && IsDigit(*p_)) ++p_;
  }
  // Like nlohmann: an integer that fits is an integer, anything else a double, which must be
  // finite.
  if (integer) {
    if (negative) {
      auto [ptr, ec] = std::from_chars(start, p_, out.i);
      if (ec == std::errc()) {
        out.type = Number::Type::kSigned;
        return true;
      }
    } else {
      auto [ptr, ec] = std::from_chars(start, p_, out.u);
      if (ec == std::errc()) {
        out.type = Number::Type::kUnsigned;
        return true;
      }
    }
  }
  out.type = Number::Type::kFloat;
  auto [ptr, ec] = std::from_chars(start, p_, out.d);
  if (ec == std::errc::result_out_of_range) {
    // Underflow reads as a tiny or zero value, overflow as infinity: let strtod say which.
    std::string token(start, p_);
    out.d = std::strtod(token.c_str(), nullptr);
  } else if (ec != std::errc()) {
    return Fail();
  }
  if (!std::isfinite(out.d)) return Fail();
  return true;
}

bool JsonCursor::ReadBool(bool& out) {
  switch (Peek()) {
    case Kind::kTrue:
      out = true;
      return ScanLiteral("true");
    case Kind::kFalse:
      out = false;
      return ScanLiteral("false");
    default:
      return Fail();
  }
}

void JsonCursor::SkipValue() {
  stack_.clear();
  for (;;) {
    // A value.
    switch (Peek()) {
      case Kind::kObject: {
        ++p_;
        SkipWhitespace();
        if (p_ != end_ && *p_ == '}') {
          ++p_;
          break;
        }
        if (p_ == end_ || *p_ != '"' || !ScanString(nullptr, nullptr) || !Expect(':')) {
          Fail();
          return;
        }
        stack_.push_back('{');
        continue;
      }
      case Kind::kArray: {
        ++p_;
        SkipWhitespace();
        if (p_ != end_ && *p_ == ']') {
          ++p_;
          break;
        }
        stack_.push_back('[');
        continue;
      }
      case Kind::kString:
        if (!ScanString(nullptr, nullptr)) return;
        break;
      case Kind::kNumber: {
        Number ignored;
        if (!ReadNumber(ignored)) return;
        break;
      }
      case Kind::kTrue:
        if (!ScanLiteral("true")) return;
        break;
      case Kind::kFalse:
        if (!ScanLiteral("false")) return;
        break;
      case Kind::kNull:
        if (!ScanLiteral("null")) return;
        break;
      case Kind::kBad:
        return;
    }
    // After a value: close containers until one continues with another value.
    for (;;) {
      if (stack_.empty()) return;
      SkipWhitespace();
      if (p_ == end_) {
        Fail();
        return;
      }
      const char open = stack_.back();
      if (*p_ == (open == '{' ? '}' : ']')) {
        ++p_;
        stack_.pop_back();
        continue;
      }
      if (*p_ != ',') {
        Fail();
        return;
      }
      ++p_;
      if (open == '{') {
        SkipWhitespace();
        if (p_ == end_ || *p_ != '"' || !ScanString(nullptr, nullptr) || !Expect(':')) {
          Fail();
          return;
        }
      }
      break;
    }
  }
}

void JsonCursor::ExpectEnd() {
  SkipWhitespace();
  // nlohmann reads a NUL byte as the end of input, whatever follows it.
  if (p_ != end_ && *p_ != '\0') Fail();
}

std::string DeduplicatedCopy(std::string_view text) {
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false).dump();
}

std::string SyntaxErrorMessage(std::string_view text) {
  try {
    nlohmann::json accepted = nlohmann::json::parse(text);
    static_cast<void>(accepted);
  } catch (const nlohmann::json::exception& e) {
    return e.what();
  }
  return "syntax error";
}

// ---- ReadErrors ----------------------------------------------------------------------------

void ReadErrors::Mismatch(const PathNode* at, std::string_view what) {
  Key key = OrderKey(at);
  if (type_error_ && type_error_->first <= key) return;
  std::string path = RenderPath(at);
  type_error_.emplace(std::move(key), "Failed to parse '" + (path.empty() ? "<root>" : path) +
                                          "': " + std::string(what));
}

void ReadErrors::Missing(const PathNode* parent, std::string_view key, std::uint32_t position) {
  PathNode node{parent, key, position};
  missing_.emplace_back(OrderKey(&node), RenderPath(&node));
}

std::optional<std::string> ReadErrors::TypeError() const {
  if (!type_error_) return std::nullopt;
  return type_error_->second;
}

std::optional<std::string> ReadErrors::MissingFields() const {
  if (missing_.empty()) return std::nullopt;
  auto sorted = missing_;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string message = "Missing required fields: ";
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (i > 0) message += ", ";
    message += sorted[i].second;
  }
  return message;
}

// ---- MessageReader scalars -----------------------------------------------------------------

namespace {

// Integers may come as JSON numbers (a double only if it is whole) or as decimal strings.
template <class Int>
std::optional<std::string_view> ToInteger(const JsonCursor::Number& n, Int& out) {
  using Type = JsonCursor::Number::Type;
  switch (n.type) {
    case Type::kUnsigned:
      if (n.u > static_cast<std::uint64_t>(std::numeric_limits<Int>::max())) {
        return "integer out of range";
      }
      out = static_cast<Int>(n.u);
      return std::nullopt;
    case Type::kSigned:
      if constexpr (std::is_unsigned_v<Int>) {
        if (n.i < 0) return "negative value for an unsigned field";
      } else if (n.i < std::numeric_limits<Int>::min() || n.i > std::numeric_limits<Int>::max()) {
        return "integer out of range";
      }
      out = static_cast<Int>(n.i);
      return std::nullopt;
    case Type::kFloat:
      if (std::trunc(n.d) != n.d || !std::isfinite(n.d) ||
          n.d < static_cast<double>(std::numeric_limits<Int>::min()) ||
          n.d > static_cast<double>(std::numeric_limits<Int>::max())) {
        return "expected an integer";
      }
      out = static_cast<Int>(n.d);
      return std::nullopt;
  }
  return "expected an integer";
}

template <class Int>
void ReadInteger(JsonCursor& cursor, ReadErrors& errors, const PathNode* at, Int& out) {
  switch (cursor.Peek()) {
    case JsonCursor::Kind::kNumber: {
      JsonCursor::Number n;
      if (!cursor.ReadNumber(n)) return;
      if (auto error = ToInteger(n, out)) errors.Mismatch(at, *error);
      return;
    }
    case JsonCursor::Kind::kString: {
      std::string_view s;
      if (!cursor.ReadStringView(s)) return;
      Int v{};
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) {
        return errors.Mismatch(at, "expected an integer");
      }
      out = v;
      return;
    }
    default:
      errors.Mismatch(at, "expected an integer");
      cursor.SkipValue();
  }
}

}  // namespace

void MessageReader::Read(const PathNode* at, std::string& out) {
  if (cursor_.Peek() != JsonCursor::Kind::kString) return Mismatch(at, "expected a string");
  cursor_.ReadString(out);
}

void MessageReader::Read(const PathNode* at, bool& out) {
  switch (cursor_.Peek()) {
    case JsonCursor::Kind::kTrue:
    case JsonCursor::Kind::kFalse:
      cursor_.ReadBool(out);
      return;
    case JsonCursor::Kind::kString: {
      std::string_view s;
      if (!cursor_.ReadStringView(s)) return;
      if (s == "true" || s == "false") {
        out = s == "true";
      } else {
        errors_.Mismatch(at, "expected a boolean");
      }
      return;
    }
    default:
      Mismatch(at, "expected a boolean");
  }
}

void MessageReader::Read(const PathNode* at, double& out) {
  switch (cursor_.Peek()) {
    case JsonCursor::Kind::kNumber: {
      JsonCursor::Number n;
      if (!cursor_.ReadNumber(n)) return;
      switch (n.type) {
        case JsonCursor::Number::Type::kUnsigned: out = static_cast<double>(n.u); break;
        case JsonCursor::Number::Type::kSigned: out = static_cast<double>(n.i); break;
        case JsonCursor::Number::Type::kFloat: out = n.d; break;
      }
      return;
    }
    case JsonCursor::Kind::kString: {
      std::string s;
      if (!cursor_.ReadString(s)) return;
      if (s == "Infinity") {
        out = std::numeric_limits<double>::infinity();
        return;
      }
      if (s == "-Infinity") {
        out = -std::numeric_limits<double>::infinity();
        return;
      }
      char* end = nullptr;
      double v = std::strtod(s.c_str(), &end);
      if (!s.empty() && end == s.c_str() + s.size()) {
        out = v;
        return;
      }
      errors_.Mismatch(at, "expected a number");
      return;
    }
    default:
      Mismatch(at, "expected a number");
  }
}

void MessageReader::Read(const PathNode* at, std::int64_t& out) {
  ReadInteger(cursor_, errors_, at, out);
}
void MessageReader::Read(const PathNode* at, std::uint64_t& out) {
  ReadInteger(cursor_, errors_, at, out);
}
void MessageReader::Read(const PathNode* at, std::int32_t& out) {
  ReadInteger(cursor_, errors_, at, out);
}
void MessageReader::Read(const PathNode* at, std::uint32_t& out) {
  ReadInteger(cursor_, errors_, at, out);
}

void MessageReader::ReadBytes(const PathNode* at, std::string& out) {
  if (cursor_.Peek() != JsonCursor::Kind::kString) return Mismatch(at, "expected a base64 string");
  std::string_view text;
  if (!cursor_.ReadStringView(text)) return;
  auto decoded = Base64Decode(text);
  if (!decoded.ok()) return errors_.Mismatch(at, "invalid base64");
  out = std::move(decoded).value();
}

void MessageReader::ReadLenientTypes(std::vector<std::string>& out) {
  if (cursor_.Peek() != JsonCursor::Kind::kArray) return cursor_.SkipValue();
  cursor_.BeginArray();
  bool first = true;
  while (cursor_.NextElement(first)) {
    if (cursor_.Peek() != JsonCursor::Kind::kObject) {
      cursor_.SkipValue();
      continue;
    }
    cursor_.BeginObject();
    std::optional<std::string> type;
    bool member_first = true;
    std::string_view key;
    while (cursor_.NextMember(member_first, key)) {
      if (key == "type" && cursor_.Peek() == JsonCursor::Kind::kString) {
        cursor_.ReadString(type.emplace());
      } else {
        if (key == "type") type.reset();  // the last "type" decides
        cursor_.SkipValue();
      }
    }
    if (type) out.push_back(std::move(*type));
  }
}

}  // namespace factorial::v1::detail
