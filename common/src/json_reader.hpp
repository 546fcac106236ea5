#pragma once

// Reads protobuf-shaped JSON straight into message structs, the way Mesos' stout parser maps
// JSON to protobuf (mesos-v1-api.md §3.2): unknown keys ignored, null = unset, numbers and bools
// also accepted as strings, a single value accepted for a repeated field.
//
// One pass over the text, no DOM: JsonCursor lexes (accepting exactly what nlohmann::json::parse
// accepts, so syntax errors can be worded by nlohmann), MessageReader walks a message's field
// list (`Fields(visitor, msg)` in messages.cpp) to dispatch each key. Paths for error messages
// are a chain of PathNodes on the stack, rendered to text only when an error is reported.
// Nothing throws.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace factorial::v1::detail {

// Where a value sits: a field of the parent (key set) or an element of a list (key empty).
// `position` is the field's place in its message's field list, or the element's index; the
// chain of positions orders errors the way protobuf walks fields (declaration order, depth
// first), whatever order the keys came in.
struct PathNode {
  const PathNode* parent = nullptr;
  std::string_view key;
  std::uint32_t position = 0;
};

// "a.b[2].c"; empty for the root.
std::string RenderPath(const PathNode* node);

// A pull lexer over one JSON text. Any syntax error (including what nlohmann rejects: invalid
// UTF-8, lone surrogates, numbers that overflow a double) makes failed() true and every later
// call a no-op, so callers need not check after each step.
class JsonCursor {
 public:
  enum class Kind : char { kObject, kArray, kString, kNumber, kTrue, kFalse, kNull, kBad };
  struct Number {
    enum class Type : char { kUnsigned, kSigned, kFloat } type = Type::kUnsigned;
    std::uint64_t u = 0;
    std::int64_t i = 0;
    double d = 0;
  };

  explicit JsonCursor(std::string_view text);

  bool failed() const { return failed_; }
  // Skips whitespace and classifies the next value without consuming it.
  Kind Peek();
  // Consumes a null if one is next.
  bool TakeNull();
  // Consumes and validates any value.
  void SkipValue();
  // Object members: call BeginObject, then NextMember until it returns false; each true
  // leaves the cursor on the member's value. `key` may point into an internal buffer that the
  // next string read overwrites.
  bool BeginObject();
  bool NextMember(bool& first, std::string_view& key);
  // Array elements, the same way.
  bool BeginArray();
  bool NextElement(bool& first);
  bool ReadString(std::string& out);
  bool ReadStringView(std::string_view& out);  // valid until the next string read
  bool ReadNumber(Number& out);
  bool ReadBool(bool& out);
  // After the top-level value: only whitespace may follow (or a NUL, as nlohmann allows).
  void ExpectEnd();

 private:
  bool Fail();
  void SkipWhitespace();
  bool Expect(char c);
  bool ScanString(std::string* out, std::string_view* view);
  bool ScanStringSlow(const char* start, std::string* out);
  bool ScanLiteral(std::string_view literal);

  const char* p_;
  const char* end_;
  bool failed_ = false;
  std::string scratch_;
  std::vector<char> stack_;  // SkipValue's open containers
};

// Errors found while reading; the first type error and all missing required fields, each with
// its order key so they can be reported in protobuf's order.
class ReadErrors {
 public:
  void Mismatch(const PathNode* at, std::string_view what);
  void Missing(const PathNode* parent, std::string_view key, std::uint32_t position);
  // "Failed to parse 'path': what", or "Missing required fields: a, b.c", or nullopt.
  std::optional<std::string> TypeError() const;
  std::optional<std::string> MissingFields() const;

 private:
  using Key = std::vector<std::uint32_t>;
  std::optional<std::pair<Key, std::string>> type_error_;
  std::vector<std::pair<Key, std::string>> missing_;
};

class MessageReader;

// Visits a message's field list with one key from the text: reads the value into the field
// whose name matches, and notes which required fields were seen.
class FieldMatcher {
 public:
  FieldMatcher(MessageReader& reader, const PathNode* parent, std::string_view key,
               std::uint64_t& seen, std::uint64_t& visited)
      : r_(reader), parent_(parent), key_(key), seen_(seen), visited_(visited) {}
  bool matched() const { return matched_; }

  template <class T>
  void Required(std::string_view name, T& out);
  template <class T>
  void Optional(std::string_view name, std::optional<T>& out);
  // An optional enum where an unknown name reads as unset.
  template <class E>
  void OptionalKnown(std::string_view name, std::optional<E>& out);
  // A field with a proto default (out holds it): always written. A null keeps the default.
  template <class T>
  void Default(std::string_view name, T& out);
  template <class T>
  void Repeated(std::string_view name, std::vector<T>& out);
  void RequiredBytes(std::string_view name, std::string& out);
  void OptionalBytes(std::string_view name, std::optional<std::string>& out);
  // Optional double written as `written_default` when unset.
  void OptionalOr(std::string_view name, std::optional<double>& out, double written_default);
  // {"name": {"inner": value}} with `inner` required once the box is present.
  template <class T>
  void Boxed(std::string_view name, std::string_view inner, std::optional<T>& out);
  // {"name": {"inner": value}} with `inner` optional.
  void BoxedOptional(std::string_view name, std::string_view inner,
                     std::optional<std::string>& out);
  // {"name": {"inner": [..]}}: the box present means the list is set, maybe empty.
  template <class T>
  void BoxedList(std::string_view name, std::string_view inner,
                 std::optional<std::vector<T>>& out);
  // A required box holding an optional list.
  template <class T>
  void RequiredBoxedList(std::string_view name, std::string_view inner, std::vector<T>& out);
  // [{"type": NAME}, ...] read into enums; a missing type reads as kUnknown.
  template <class E>
  void TypeList(std::string_view name, std::vector<E>& out);
  // [{"type": "..."}, ...] keeping only well-formed entries, ignoring everything else.
  void LenientTypeList(std::string_view name, std::vector<std::string>& out);

 private:
  // True (and a node for the field in `node`) iff `name` is the key being read; advances the
  // field position either way.
  bool Match(std::string_view name, PathNode& node);
  void MarkSeen(const PathNode& node, bool present) {
    const std::uint64_t bit = std::uint64_t{1} << node.position;
    seen_ = present ? (seen_ | bit) : (seen_ & ~bit);
  }

  MessageReader& r_;
  const PathNode* parent_;
  std::string_view key_;
  std::uint64_t& seen_;
  std::uint64_t& visited_;
  std::uint32_t position_ = 0;
  bool matched_ = false;
};

// After an object is read: reports the required fields that were not seen.
class MissingReporter {
 public:
  MissingReporter(ReadErrors& errors, const PathNode* parent, std::uint64_t seen)
      : errors_(errors), parent_(parent), seen_(seen) {}

  template <class T>
  void Required(std::string_view name, T&) { Check(name); }
  void RequiredBytes(std::string_view name, std::string&) { Check(name); }
  template <class T>
  void RequiredBoxedList(std::string_view name, std::string_view, std::vector<T>&) {
    Check(name);
  }
  template <class... Args>
  void Optional(Args&&...) { ++position_; }
  template <class... Args>
  void OptionalKnown(Args&&...) { ++position_; }
  template <class... Args>
  void Default(Args&&...) { ++position_; }
  template <class... Args>
  void Repeated(Args&&...) { ++position_; }
  template <class... Args>
  void OptionalBytes(Args&&...) { ++position_; }
  template <class... Args>
  void OptionalOr(Args&&...) { ++position_; }
  template <class... Args>
  void Boxed(Args&&...) { ++position_; }
  template <class... Args>
  void BoxedOptional(Args&&...) { ++position_; }
  template <class... Args>
  void BoxedList(Args&&...) { ++position_; }
  template <class... Args>
  void TypeList(Args&&...) { ++position_; }
  template <class... Args>
  void LenientTypeList(Args&&...) { ++position_; }

 private:
  void Check(std::string_view name) {
    if ((seen_ & (std::uint64_t{1} << position_)) == 0) errors_.Missing(parent_, name, position_);
    ++position_;
  }

  ReadErrors& errors_;
  const PathNode* parent_;
  std::uint64_t seen_;
  std::uint32_t position_ = 0;
};

class MessageReader {
 public:
  explicit MessageReader(std::string_view text) : cursor_(text) {}

  // Reads the whole text as one message. Then: syntax_error(), or errors(), or `out` is good.
  template <class M>
  void ReadRoot(M& out) {
    Read(nullptr, out);
    cursor_.ExpectEnd();
  }
  bool syntax_error() const { return cursor_.failed(); }
  // A known key appeared twice in one object. A DOM keeps the last; this one-pass reader
  // cannot, so the caller reads a deduplicated copy instead (see ParseJson).
  bool duplicate_keys() const { return duplicate_keys_; }
  void NoteDuplicateKey() { duplicate_keys_ = true; }
  const ReadErrors& errors() const { return errors_; }

  JsonCursor& cursor() { return cursor_; }

  // One value of each field type; a mismatch is recorded and the value skipped.
  void Read(const PathNode* at, std::string& out);
  void Read(const PathNode* at, bool& out);
  void Read(const PathNode* at, double& out);
  void Read(const PathNode* at, std::int64_t& out);
  void Read(const PathNode* at, std::uint64_t& out);
  void Read(const PathNode* at, std::int32_t& out);
  void Read(const PathNode* at, std::uint32_t& out);
  void ReadBytes(const PathNode* at, std::string& out);

  // Enums by name; unknown names read as kUnknown (found by ADL: `ParseEnumName(text, E{})`).
  template <class E>
    requires std::is_enum_v<E>
  void Read(const PathNode* at, E& out) {
    if (cursor_.Peek() != JsonCursor::Kind::kString) return Mismatch(at, "expected an enum name");
    std::string_view name;
    if (cursor_.ReadStringView(name)) out = ParseEnumName(name, E{});
  }

  // A message: an object whose keys are dispatched through `Fields(visitor, out)`.
  template <class M>
    requires std::is_class_v<M>
  void Read(const PathNode* at, M& out) {
    if (cursor_.Peek() != JsonCursor::Kind::kObject) return Mismatch(at, "expected a JSON object");
    cursor_.BeginObject();
    std::uint64_t seen = 0;     // required fields present
    std::uint64_t visited = 0;  // any field present, to notice a repeated key
    bool first = true;
    std::string_view key;
    while (cursor_.NextMember(first, key)) {
      FieldMatcher match(*this, at, key, seen, visited);
      Fields(match, out);
      if (!match.matched()) cursor_.SkipValue();
    }
    if (cursor_.failed()) return;
    MissingReporter report(errors_, at, seen);
    Fields(report, out);
  }

  // A list, or a single value read as a one-element list; `read_element(node)` per element.
  // A single value's path is the field's own unless `index_single` (then "field[0]").
  template <class F>
  void ReadEach(const PathNode* at, bool index_single, F&& read_element) {
    if (cursor_.Peek() != JsonCursor::Kind::kArray) {
      PathNode node{at, {}, 0};
      read_element(index_single ? &node : at);
      return;
    }
    cursor_.BeginArray();
    bool first = true;
    for (std::uint32_t i = 0; cursor_.NextElement(first); ++i) {
      PathNode node{at, {}, i};
      read_element(&node);
    }
  }

  template <class T>
  void ReadList(const PathNode* at, std::vector<T>& out) {
    out.clear();
    ReadEach(at, /*index_single=*/false,
             [&](const PathNode* node) { Read(node, out.emplace_back()); });
  }

  // An object of which only the member `inner` matters; `read_inner(node)` reads a non-null
  // one. Returns whether it was there; when `required`, its absence is a missing field.
  template <class F>
  bool ReadBox(const PathNode* at, std::string_view inner, bool required, F&& read_inner) {
    if (cursor_.Peek() != JsonCursor::Kind::kObject) {
      Mismatch(at, "expected a JSON object");
      return false;
    }
    cursor_.BeginObject();
    bool found = false;
    bool seen_inner = false;
    bool first = true;
    std::string_view key;
    while (cursor_.NextMember(first, key)) {
      if (key != inner) {
        cursor_.SkipValue();
        continue;
      }
      if (seen_inner) NoteDuplicateKey();
      seen_inner = true;
      if (cursor_.TakeNull()) {
        found = false;
      } else {
        PathNode node{at, inner, 0};
        found = true;
        read_inner(&node);
      }
    }
    if (!found && required && !cursor_.failed()) errors_.Missing(at, inner, 0);
    return found;
  }

  void ReadLenientTypes(std::vector<std::string>& out);

 private:
  void Mismatch(const PathNode* at, std::string_view what) {
    errors_.Mismatch(at, what);
    cursor_.SkipValue();
  }

  JsonCursor cursor_;
  ReadErrors errors_;
  bool duplicate_keys_ = false;
};

// Reads `text` (one JSON object) into `out` through `Fields(visitor, out)`. Returns nullopt
// when it reads, kCorruption for a syntax error (worded by nlohmann), else kInvalidArgument
// with the first type error or, failing that, protobuf's "Missing required fields: ...".
struct ReadFailure {
  bool syntax = false;
  std::string message;
};
template <class M>
std::optional<ReadFailure> ReadJson(std::string_view text, M& out);

// `text` (valid JSON) with each object's repeated keys reduced to the last, as a DOM keeps it.
std::string DeduplicatedCopy(std::string_view text);
// nlohmann's words for why `text` is not JSON.
std::string SyntaxErrorMessage(std::string_view text);

template <class M>
std::optional<ReadFailure> ReadJson(std::string_view text, M& out) {
  MessageReader reader(text);
  reader.ReadRoot(out);
  if (reader.syntax_error()) return ReadFailure{true, SyntaxErrorMessage(text)};
  if (reader.duplicate_keys()) {
    // Only hand-made JSON repeats a key. Keep the DOM semantics (the last one wins, earlier
    // ones leave no trace, not even an error) by reading a deduplicated copy afresh.
    out = M{};
    return ReadJson(DeduplicatedCopy(text), out);
  }
  if (auto error = reader.errors().TypeError()) return ReadFailure{false, std::move(*error)};
  if (auto missing = reader.errors().MissingFields()) {
    return ReadFailure{false, std::move(*missing)};
  }
  return std::nullopt;
}

// ---- FieldMatcher templates ----------------------------------------------------------------

// Called once per field per key: kept inline so a field list compiles to a chain of compares.
[[gnu::always_inline]] inline bool FieldMatcher::Match(std::string_view name, PathNode& node) {
  const std::uint32_t position = position_++;
  if (matched_ || name.size() != key_.size() || name != key_) return false;
  matched_ = true;
  const std::uint64_t bit = std::uint64_t{1} << position;
  if (visited_ & bit) r_.NoteDuplicateKey();
  visited_ |= bit;
  node = PathNode{parent_, name, position};
  return true;
}

template <class T>
void FieldMatcher::Required(std::string_view name, T& out) {
  PathNode node;
  if (!Match(name, node)) return;
  if (r_.cursor().TakeNull()) return MarkSeen(node, false);  // null reads as absent
  MarkSeen(node, true);
  r_.Read(&node, out);
}

template <class T>
void FieldMatcher::Optional(std::string_view name, std::optional<T>& out) {
  PathNode node;
  if (!Match(name, node)) return;
  if (r_.cursor().TakeNull()) return out.reset();
  r_.Read(&node, out.emplace());
}

template <class E>
void FieldMatcher::OptionalKnown(std::string_view name, std::optional<E>& out) {
  PathNode node;
  if (!Match(name, node)) return;
  if (r_.cursor().TakeNull()) return out.reset();
  r_.Read(&node, out.emplace());
  if (*out == E::kUnknown) out.reset();
}

template <class T>
void FieldMatcher::Default(std::string_view name, T& out) {
  PathNode node;
  if (!Match(name, node)) return;
  if (r_.cursor().TakeNull()) return;
  r_.Read(&node, out);
}

template <class T>
void FieldMatcher::Repeated(std::string_view name, std::vector<T>& out) {
  PathNode node;
  if (!Match(name, node)) return;
  if (r_.cursor().TakeNull()) return out.clear();
  r_.ReadList(&node, out);
}

inline void FieldMatcher::RequiredBytes(std::string_view name, std::string& out) {
  PathNode node;
  if (!Match(name, node)) return;
  out.clear();
  if (r_.cursor().TakeNull()) return MarkSeen(node, false);
  MarkSeen(node, true);
  r_.ReadBytes(&node, out);
}

inline void FieldMatcher::OptionalBytes(std::string_view name, std::optional<std::string>& out) {
  PathNode node;
  if (!Match(name, node)) return;
  if (r_.cursor().TakeNull()) return out.reset();
  r_.ReadBytes(&node, out.emplace());
}

inline void FieldMatcher::OptionalOr(std::string_view name, std::optional<double>& out, double) {
  Optional(name, out);
}

template <class T>
void FieldMatcher::Boxed(std::string_view name, std::string_view inner, std::optional<T>& out) {
  PathNode node;
  if (!Match(name, node)) return;
  if (r_.cursor().TakeNull()) return out.reset();
  T& value = out.emplace();
  r_.ReadBox(&node, inner, /*required=*/true, [&](const PathNode* at) { r_.Read(at, value); });
}

inline void FieldMatcher::BoxedOptional(std::string_view name, std::string_view inner,
                                        std::optional<std::string>& out) {
  PathNode node;
  if (!Match(name, node)) return;
  out.reset();
  if (r_.cursor().TakeNull()) return;
  r_.ReadBox(&node, inner, /*required=*/false,
             [&](const PathNode* at) { r_.Read(at, out.emplace()); });
}

template <class T>
void FieldMatcher::BoxedList(std::string_view name, std::string_view inner,
                             std::optional<std::vector<T>>& out) {
  PathNode node;
  if (!Match(name, node)) return;
  if (r_.cursor().TakeNull()) return out.reset();
  std::vector<T>& list = out.emplace();
  r_.ReadBox(&node, inner, /*required=*/false,
             [&](const PathNode* at) { r_.ReadList(at, list); });
}

template <class T>
void FieldMatcher::RequiredBoxedList(std::string_view name, std::string_view inner,
                                     std::vector<T>& out) {
  PathNode node;
  if (!Match(name, node)) return;
  out.clear();
  if (r_.cursor().TakeNull()) return MarkSeen(node, false);
  MarkSeen(node, true);
  r_.ReadBox(&node, inner, /*required=*/false, [&](const PathNode* at) { r_.ReadList(at, out); });
}

template <class E>
void FieldMatcher::TypeList(std::string_view name, std::vector<E>& out) {
  PathNode node;
  if (!Match(name, node)) return;
  out.clear();
  if (r_.cursor().TakeNull()) return;
  r_.ReadEach(&node, /*index_single=*/true, [&](const PathNode* at) {
    E value = E::kUnknown;
    r_.ReadBox(at, "type", /*required=*/false, [&](const PathNode* type) { r_.Read(type, value); });
    out.push_back(value);
  });
}

inline void FieldMatcher::LenientTypeList(std::string_view name, std::vector<std::string>& out) {
  PathNode node;
  if (!Match(name, node)) return;
  out.clear();
  r_.ReadLenientTypes(out);
}

}  // namespace factorial::v1::detail
