#include "workload.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <new>
#include <utility>

#include <sys/mman.h>
#include <unistd.h>

#include "factorial/digits.hpp"
#include "factorial/logging.hpp"
#include "factorial/result_file.hpp"

namespace factorial::scheduler {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsBlank(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsBlank(text.back())) text.remove_suffix(1);
  return text;
}

// An uninitialized array (every element is written before it is read).
template <typename T>
std::unique_ptr<T[]> Uninitialized(std::size_t n) {
  return std::make_unique_for_overwrite<T[]>(n);
}

// Reserves `n` elements of the empty `v`, with huge pages advised for them.
template <typename T>
void ReserveHuge(std::vector<T>& v, std::size_t n) {
  v.reserve(n);
  AdviseHugePages(v.data(), n * sizeof(T));
}

}  // namespace

void AdviseHugePages(const void* data, std::size_t bytes) {
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  auto begin = (reinterpret_cast<std::uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) & ~(kHuge - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

Result<Workload> Workload::FromNumbers(std::span<const std::uint64_t> input) {
  if (input.size() > kMaxInput) {
    return MakeError(Errc::kInvalidArgument, "too many numbers: " + std::to_string(input.size()) +
                                                 " (at most " + std::to_string(kMaxInput) + ")");
  }
  WorkloadBuilder builder;
  for (std::uint64_t n : input) builder.Add(n);
  return builder.Finish();
}

std::optional<Workload::Id> Workload::Find(std::uint64_t n) const {
  auto it = std::lower_bound(numbers_.begin(), numbers_.end(), n);
  if (it == numbers_.end() || *it != n) return std::nullopt;
  return static_cast<Id>(it - numbers_.begin());
}

std::string Workload::Fingerprint() const {
  // The bytes InputFingerprint hashes, fed to SHA-256 in 64 KiB pieces.
  constexpr std::size_t kPiece = 64 * 1024;
  Sha256Stream hash;
  std::string piece;
  piece.reserve(kPiece + 32);
  char digits[24];
  for (std::size_t position = 0; position < input_ids_.size(); ++position) {
    // Random in id order: fetch a number a few positions ahead while this one is formatted.
    if (position + 16 < input_ids_.size()) __builtin_prefetch(&numbers_[input_ids_[position + 16]]);
    auto end = std::to_chars(digits, digits + sizeof digits, numbers_[input_ids_[position]]).ptr;
    piece.append(digits, end);
    piece += '\n';
    if (piece.size() >= kPiece) {
      hash.Update(piece);
      piece.clear();
    }
  }
  hash.Update(piece);
  return std::to_string(input_ids_.size()) + " numbers, sha256 " + hash.FinishHex();
}

std::size_t Workload::MemoryBytes() const {
  return numbers_.capacity() * sizeof(std::uint64_t) + input_ids_.capacity() * sizeof(Id) +
         occurrences_.capacity() * sizeof(std::uint32_t);
}

// Mapped from and unmapped back to the kernel, so a freed block lowers the resident size at
// once (malloc may keep freed memory, and the peak would then be the sum of every phase).
struct WorkloadBuilder::Block {
  static constexpr std::size_t kBytes = kBlockNumbers * sizeof(std::uint64_t);
  std::uint64_t* data = nullptr;

  Block() {
    void* mapped = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) throw std::bad_alloc();
    data = static_cast<std::uint64_t*>(mapped);
  }
  Block(Block&& other) noexcept : data(std::exchange(other.data, nullptr)) {}
  Block& operator=(Block&& other) noexcept {
    std::swap(data, other.data);
    return *this;
  }
  ~Block() { Release(); }
  void Release() {
    if (data != nullptr) ::munmap(data, kBytes);
    data = nullptr;
  }
};

WorkloadBuilder::WorkloadBuilder(std::uint64_t max_n) : max_n_(max_n) {}

WorkloadBuilder::~WorkloadBuilder() = default;

void WorkloadBuilder::Add(std::uint64_t n) {
  if (count_ >= Workload::kMaxInput) {
    too_many_ = true;
    ++count_;
    return;
  }
  if (count_ % kBlockNumbers == 0) blocks_.emplace_back();
  blocks_.back().data[count_ % kBlockNumbers] = n;
  largest_ = std::max(largest_, n);
  ++count_;
}

void WorkloadBuilder::Bad(std::string problem) {
  if (bad_.size() < 20) bad_.push_back(std::move(problem));
  ++bad_count_;
}

void WorkloadBuilder::AddToken(std::string_view text, std::string_view source) {
  Decimal n = ParseDecimal(text, max_n_);
  switch (n.problem) {
    case Decimal::Problem::kNone:
      return Add(n.value);
    case Decimal::Problem::kNotDecimal:
      // Escaped: the text goes to a terminal, and input may hold escape sequences or NULs.
      return Bad(std::string(source) + " '" + Excerpt(text) + "' is not a non-negative decimal integer");
    case Decimal::Problem::kTooLarge:
      return Bad(std::string(source) + " '" + Excerpt(text) + "' is larger than --max-n " + std::to_string(max_n_));
  }
}

// `token_continues`: the line went on past kMaxLine with more than blanks before any '#'.
void WorkloadBuilder::Line(std::string_view line, bool token_continues) {
  ++line_number_;
  // A UTF-8 byte order mark, as Windows editors write it, is a signature with no content.
  if (line_number_ == 1 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
  if (auto hash = line.find('#'); hash != std::string_view::npos) {
    line = line.substr(0, hash);
    token_continues = false;
  }
  std::string_view token = Trim(line);
  if (token_continues) {
    return Bad("input line " + std::to_string(line_number_) + " is longer than " + std::to_string(kMaxLine) +
               " bytes");
  }
  if (token.empty()) return;
  if (Decimal n = ParseDecimal(token, max_n_); n.ok()) return Add(n.value);
  AddToken(token, "input line " + std::to_string(line_number_));
}

Status WorkloadBuilder::ReadLines(int fd) {
  constexpr std::size_t kRead = 64 * 1024;
  auto buffer = Uninitialized<char>(kRead);
  // A line split across reads is gathered here, up to kMaxLine bytes; past that only whether
  // a token goes on (a non-blank before any '#') is tracked.
  std::string carry;
  bool carry_full = false, token_continues = false, comment_seen = false;
  auto gather = [&](std::string_view part) {
    if (!carry_full) {
      std::size_t take = std::min(kMaxLine - carry.size(), part.size());
      carry.append(part.substr(0, take));
      part.remove_prefix(take);
      if (part.empty()) return;
      carry_full = true;
      comment_seen = carry.find('#') != std::string::npos;
    }
    for (char c : part) {
      if (comment_seen) break;
      if (c == '#') comment_seen = true;
      else if (!IsBlank(c)) token_continues = true;
    }
  };
  auto end_gathered = [&] {
    Line(carry, token_continues);
    carry.clear();
    carry_full = token_continues = comment_seen = false;
  };
  for (;;) {
    ssize_t got = ::read(fd, buffer.get(), kRead);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return MakeError(Errc::kInvalidArgument, std::strerror(errno));
    if (got == 0) break;
    std::string_view data(buffer.get(), static_cast<std::size_t>(got));
    while (!data.empty()) {
      auto newline = data.find('\n');
      if (newline == std::string_view::npos) {
        gather(data);
        break;
      }
      if (carry.empty()) {
        Line(data.substr(0, newline), false);
      } else {
        gather(data.substr(0, newline));
        end_gathered();
      }
      data.remove_prefix(newline + 1);
    }
  }
  if (!carry.empty()) end_gathered();
  return OkStatus();
}

Result<Workload> WorkloadBuilder::Finish() {
  if (bad_count_ > 0) {
    std::string message = bad_count_ == 1 ? "bad number: " : std::to_string(bad_count_) + " bad numbers: ";
    for (std::size_t i = 0; i < bad_.size(); ++i) message += (i ? "; " : "") + bad_[i];
    if (bad_count_ > bad_.size()) message += "; ...";
    FreeBlocks();
    return MakeError(Errc::kInvalidArgument, message);
  }
  if (too_many_) {
    std::string message = "too many numbers: " + std::to_string(count_) + " (at most " +
                          std::to_string(Workload::kMaxInput) + ")";
    FreeBlocks();
    return MakeError(Errc::kInvalidArgument, message);
  }
  int position_bits = count_ > 1 ? static_cast<int>(std::bit_width(count_ - 1)) : 0;
  int value_bits = static_cast<int>(std::bit_width(largest_));
  Workload workload = value_bits + position_bits <= 64 ? FinishPacked(position_bits) : FinishSearched();
  FreeBlocks();
  return workload;
}

void WorkloadBuilder::FreeBlocks() {
  blocks_.clear();
  blocks_.shrink_to_fit();
  count_ = 0;
  largest_ = 0;
  too_many_ = false;
  bad_count_ = 0;
  bad_.clear();
  line_number_ = 0;
}

// Each number shifted left with its position in the low bits, sorted: equal numbers become
// neighbours and each carries where its id goes. Peak: the keys (8 B per number) and the ids
// (4 B), then the distinct numbers (8 B per distinct) -- the blocks are unmapped while the keys
// are filled.
Workload WorkloadBuilder::FinishPacked(int position_bits) {
  const std::size_t n = count_;
  auto keys = Uninitialized<std::uint64_t>(n);
  AdviseHugePages(keys.get(), n * sizeof(std::uint64_t));
  for (std::size_t position = 0, b = 0; position < n; ++b) {
    std::size_t in_block = std::min(kBlockNumbers, n - position);
    for (std::size_t j = 0; j < in_block; ++j, ++position) {
      keys[position] = (blocks_[b].data[j] << position_bits) | position;
    }
    blocks_[b].Release();
  }
  std::sort(keys.get(), keys.get() + n);
  Workload workload;
  ReserveHuge(workload.input_ids_, n);
  workload.input_ids_.resize(n);
  const std::uint64_t position_mask = position_bits == 0 ? 0 : (std::uint64_t{1} << position_bits) - 1;
  std::size_t distinct = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t key = keys[i];
    std::uint64_t value = key >> position_bits;
    // keys[0, distinct) now hold distinct values; keys[i] is read before keys[distinct] (<= i) is written.
    if (distinct == 0 || keys[distinct - 1] != value) keys[distinct++] = value;
    workload.input_ids_[key & position_mask] = static_cast<Workload::Id>(distinct - 1);
  }
  ReserveHuge(workload.numbers_, distinct);
  workload.numbers_.assign(keys.get(), keys.get() + distinct);
  keys.reset();
  ReserveHuge(workload.occurrences_, distinct);
  workload.occurrences_.assign(distinct, 0);
  for (Workload::Id id : workload.input_ids_) ++workload.occurrences_[id];
  return workload;
}

// When a number and its position do not fit 64 bits together (numbers near 2^64): a sorted,
// deduplicated copy, and a binary search per input number.
Workload WorkloadBuilder::FinishSearched() {
  const std::size_t n = count_;
  auto sorted = Uninitialized<std::uint64_t>(n);
  for (std::size_t position = 0, b = 0; position < n; ++b) {
    std::size_t in_block = std::min(kBlockNumbers, n - position);
    std::copy(blocks_[b].data, blocks_[b].data + in_block, sorted.get() + position);
    position += in_block;
  }
  std::sort(sorted.get(), sorted.get() + n);
  std::size_t distinct = static_cast<std::size_t>(std::unique(sorted.get(), sorted.get() + n) - sorted.get());
  Workload workload;
  ReserveHuge(workload.input_ids_, n);
  workload.input_ids_.resize(n);
  std::uint64_t last = 0;
  Workload::Id last_id = 0;
  bool have_last = false;
  for (std::size_t position = 0, b = 0; position < n; ++b) {
    std::size_t in_block = std::min(kBlockNumbers, n - position);
    for (std::size_t j = 0; j < in_block; ++j, ++position) {
      std::uint64_t value = blocks_[b].data[j];
      if (!have_last || value != last) {
        last_id = static_cast<Workload::Id>(std::lower_bound(sorted.get(), sorted.get() + distinct, value) - sorted.get());
        last = value;
        have_last = true;
      }
      workload.input_ids_[position] = last_id;
    }
    blocks_[b].Release();
  }
  ReserveHuge(workload.numbers_, distinct);
  workload.numbers_.assign(sorted.get(), sorted.get() + distinct);
  sorted.reset();
  ReserveHuge(workload.occurrences_, distinct);
  workload.occurrences_.assign(distinct, 0);
  for (Workload::Id id : workload.input_ids_) ++workload.occurrences_[id];
  return workload;
}

}  // namespace factorial::scheduler
