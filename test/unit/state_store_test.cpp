#include "state_store.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include <random>

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include "support/sink_results.hpp"
#include "support/files.hpp"
#include "support/held_memory.hpp"
#include "support/temp_dir.hpp"

using factorial::scheduler::Crc32c;
using factorial::scheduler::EncodeLine;
using factorial::scheduler::InputFingerprint;
using factorial::scheduler::LineFormat;
using factorial::scheduler::NumberResult;
using factorial::scheduler::OutputOrder;
using factorial::scheduler::ResultSink;
using factorial::scheduler::SinkOptions;
using factorial::scheduler::StateStore;
using factorial::scheduler::StoredResult;
using factorial::scheduler::Workload;
using factorial::testing::Done;
using factorial::testing::Order;
using factorial::testing::ReadFile;
using factorial::testing::TempDir;
namespace fs = std::filesystem;

namespace {

void Write(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string ReadAt(int fd, const StoredResult& stored) {
  std::string bytes(stored.length, '\0');
  REQUIRE(::pread(fd, bytes.data(), bytes.size(), static_cast<off_t>(stored.offset)) ==
          static_cast<ssize_t>(bytes.size()));
  return bytes;
}

}  // namespace

TEST_CASE("CRC-32C matches the standard check value", "[state]") {
  CHECK(Crc32c("123456789") == 0xE3069283u);
  CHECK(Crc32c("") == 0u);
  // In pieces, the same as whole (the word-at-a-time path and the byte tail agree).
  std::string text = "the quick brown fox jumps over the lazy dog, 0123456789";
  CHECK(Crc32c(text.substr(13), Crc32c(text.substr(0, 13))) == Crc32c(text));
  // Combined from the parts' CRCs and the second part's length alone, at every split, and for
  // a second part of a million bytes.
  for (std::size_t split = 0; split <= text.size(); ++split) {
    INFO("split at " << split);
    CHECK(factorial::scheduler::Crc32cCombine(Crc32c(text.substr(0, split)), Crc32c(text.substr(split)),
                                              text.size() - split) == Crc32c(text));
  }
  std::string big(1000000, '7');
  big[123457] = '1';
  CHECK(factorial::scheduler::Crc32cCombine(Crc32c("head "), Crc32c(big), big.size()) == Crc32c("head " + big));
}

TEST_CASE("CRC-32C of long inputs (three stretches at once) equals the CRC taken a byte at a time", "[state]") {
  std::mt19937 random(20261208);
  // Around the three-stretch rounds (12 KiB), with word and byte tails, and from an odd start.
  for (std::size_t length : {12287u, 12288u, 12289u, 24576u + 13u, 16384u, 100003u}) {
    std::string data(length + 1, '\0');
    for (char& c : data) c = static_cast<char>(random());
    std::string_view bytes = std::string_view(data).substr(1);
    std::uint32_t byte_at_a_time = 0x5eed;
    for (char c : bytes) byte_at_a_time = Crc32c(std::string_view(&c, 1), byte_at_a_time);
    INFO("length " << length);
    CHECK(Crc32c(bytes, 0x5eed) == byte_at_a_time);
  }
}

TEST_CASE("a commit in two halves: the journal handed to a sync elsewhere, then Synced or SyncFailed", "[state]") {
  TempDir dir;
  std::string state = (dir.path() / "state").string();
  auto store = StateStore::Open(state, InputFingerprint({5, 7, 9}));
  REQUIRE(store.ok());
  CHECK((*store)->syncs() == 1);
  CHECK((*store)->ToSync() == -1);  // nothing appended since the open
  REQUIRE((*store)->Append(5, true, "5! = 120\n").ok());
  int fd = (*store)->ToSync();
  CHECK(fd >= 0);
  CHECK((*store)->ToSync() == -1);  // handed out already
  REQUIRE((*store)->Append(7, true, "7! = 5040\n").ok());
  CHECK((*store)->ToSync() == fd);  // the new record
  SECTION("a Commit() while that sync runs still makes everything durable itself") {
    REQUIRE((*store)->Commit().ok());
    CHECK((*store)->syncs() == 2);
    (*store)->Synced();
    CHECK((*store)->syncs() == 3);
    REQUIRE((*store)->Commit().ok());
    CHECK((*store)->syncs() == 3);  // nothing new
    CHECK((*store)->ToSync() == -1);
  }
  SECTION("a failed sync fails every later commit and append") {
    (*store)->SyncFailed(factorial::Error{factorial::Errc::kInternal, "cannot sync state/journal: Input/output error"});
    auto committed = (*store)->Commit();
    REQUIRE_FALSE(committed.ok());
    CHECK(committed.error().message == "journal: cannot sync state/journal: Input/output error");
    auto appended = (*store)->Append(9, true, "9! = 362880\n");
    REQUIRE_FALSE(appended.ok());
    CHECK(appended.error().message == committed.error().message);
    CHECK((*store)->ToSync() == -1);
    CHECK((*store)->syncs() == 1);
  }
}

TEST_CASE("the journal holds each result's output line once and replays where it is", "[state]") {
  TempDir dir;
  std::string state = (dir.path() / "state").string();
  std::string fingerprint = InputFingerprint({5, 7, 5});
  CHECK(fingerprint == "3 numbers, sha256 " "7b4cb6278d53c5124cb3bc9cb509ec3aea4a3cb8f8e6598152c2336a08d59676");
  std::string line5 = EncodeLine(Done(5, "120"), LineFormat::kText);
  {
    auto store = StateStore::Open(state, fingerprint);
    REQUIRE(store.ok());
    CHECK((*store)->syncs() == 1);  // the new journal's header
    REQUIRE((*store)->SaveFrameworkId(std::string("fw-1")).ok());
    CHECK((*store)->syncs() == 2);
    auto stored = (*store)->Append(5, true, line5);
    REQUIRE(stored.ok());
    CHECK(ReadAt((*store)->read_fd(), *stored) == line5);
    auto failed = (*store)->Append(7, false, "7! failed: lost\n");
    REQUIRE(failed.ok());
    CHECK((*store)->syncs() == 2);  // appends are not synced one by one
    REQUIRE((*store)->Commit().ok());
    REQUIRE((*store)->Commit().ok());
    CHECK((*store)->syncs() == 3);  // one for both, none when nothing is new
  }
  // 32-byte headers and the payloads: the digits are in the file once, nothing else is.
  std::string journal = ReadFile(fs::path(state) / "journal");
  std::string header = fingerprint + "\ntext";
  CHECK(journal.size() == 4 * 32 + header.size() + 4 + line5.size() + std::string("7! failed: lost\n").size());
  CHECK(journal.find(line5) != std::string::npos);
  {
    auto store = StateStore::Open(state, fingerprint);
    REQUIRE(store.ok());
    CHECK((*store)->framework_id() == "fw-1");
    const auto& replayed = (*store)->replayed();
    REQUIRE(replayed.size() == 2);
    CHECK(replayed[0].n == 5);
    CHECK(replayed[0].ok);
    CHECK(ReadAt((*store)->read_fd(), replayed[0]) == line5);
    CHECK(replayed[1].n == 7);
    CHECK_FALSE(replayed[1].ok);
    CHECK(ReadAt((*store)->read_fd(), replayed[1]) == "7! failed: lost\n");
    CHECK((*store)->syncs() == 0);
    (*store)->ReleaseReplayed();
    CHECK((*store)->replayed().empty());
  }
  auto other = StateStore::Open(state, InputFingerprint({5, 7}));
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().message == "--state-dir " + state + " belongs to a job with other input (" + fingerprint +
                                     "; now " + InputFingerprint({5, 7}) +
                                     "): resume it with the same numbers, or use a new --state-dir");
  auto json = StateStore::Open(state, fingerprint, LineFormat::kJson);
  REQUIRE_FALSE(json.ok());
  CHECK(json.error().code == factorial::Errc::kInvalidArgument);
  CHECK(json.error().message == "--state-dir " + state +
                                    " holds results as --format text lines: resume it with --format text, or use a "
                                    "new --state-dir");
  CHECK(ReadFile(fs::path(state) / "journal") == journal);  // refusals change nothing
}

TEST_CASE("a result whose digits stay in their download is journaled byte for byte as its line would be",
          "[state]") {
  // A downloaded file with 25!'s digits between other bytes; the record is made from its
  // CRC-32C and copied from the file, and must equal the record of the whole line.
  const std::string digits = "15511210043330985984000000";
  const std::string download = "FRF1\n25 26 " + digits + "\nend 1 x\n";
  TempDir dir;
  fs::path file_path = dir.path() / "download";
  {
    std::ofstream(file_path, std::ios::binary) << download;
  }
  const bool in_memory = GENERATE(false, true);  // where the download was kept
  INFO((in_memory ? "download in memory" : "download in a file"));
  auto file = in_memory ? factorial::testing::HeldInMemory(download)
                        : std::make_shared<const factorial::scheduler::HeldFile>(::open(file_path.c_str(), O_RDONLY | O_CLOEXEC));
  for (LineFormat format : {LineFormat::kText, LineFormat::kJson}) {
    INFO((format == LineFormat::kText ? "text" : "json"));
    NumberResult sliced = Done(25, "");
    sliced.digits_slice = factorial::scheduler::DigitsSlice{file, download.find(digits), digits.size(), Crc32c(digits)};
    std::string around;
    std::size_t at = factorial::scheduler::AppendLineAround(sliced, format, around);
    const std::string line = EncodeLine(Done(25, digits), format);
    CHECK(around.substr(0, at) + digits + around.substr(at) == line);
    std::string fingerprint = InputFingerprint({25});
    std::string whole_state = (dir.path() / ("whole-" + std::to_string(static_cast<int>(format)))).string();
    std::string slice_state = (dir.path() / ("slice-" + std::to_string(static_cast<int>(format)))).string();
    {
      auto whole = StateStore::Open(whole_state, fingerprint, format);
      auto slice = StateStore::Open(slice_state, fingerprint, format);
      REQUIRE(whole.ok());
      REQUIRE(slice.ok());
      REQUIRE((*whole)->Append(25, true, line).ok());
      auto stored = (*slice)->AppendSlice(25, std::string_view(around).substr(0, at), *sliced.digits_slice,
                                          std::string_view(around).substr(at));
      REQUIRE(stored.ok());
      CHECK(ReadAt((*slice)->read_fd(), *stored) == line);
      REQUIRE((*slice)->Commit().ok());
      REQUIRE((*whole)->Commit().ok());
      // Without its CRC a slice is refused, and nothing is written.
      NumberResult bare = sliced;
      bare.digits_slice->crc32c.reset();
      CHECK_FALSE((*slice)->AppendSlice(25, "", *bare.digits_slice, "").ok());
    }
    CHECK(ReadFile(fs::path(slice_state) / "journal") == ReadFile(fs::path(whole_state) / "journal"));
    auto reopened = StateStore::Open(slice_state, fingerprint, format);  // replays: every CRC checks
    REQUIRE(reopened.ok());
    REQUIRE((*reopened)->replayed().size() == 1);
    CHECK(ReadAt((*reopened)->read_fd(), (*reopened)->replayed()[0]) == line);
  }
}

TEST_CASE("a state dir has one owner and a second open is refused with the holder PID until the first closes",
          "[state]") {
  TempDir dir;
  std::string state = (dir.path() / "state").string();
  std::string fingerprint = InputFingerprint({5});
  {
    auto first = StateStore::Open(state, fingerprint);
    REQUIRE(first.ok());
    // flock locks belong to the open file, so a second open in this process conflicts too.
    auto second = StateStore::Open(state, fingerprint);
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().code == factorial::Errc::kInvalidArgument);
    CHECK(second.error().message == "--state-dir " + state + " is in use by another scheduler (PID " +
                                        std::to_string(::getpid()) + "); one scheduler per state directory");
  }
  auto again = StateStore::Open(state, fingerprint);
  CHECK(again.ok());
}

TEST_CASE("a journal torn at any byte keeps exactly its whole records and takes appends after them", "[state]") {
  TempDir dir;
  fs::path state = dir.path() / "state";
  std::string fingerprint = InputFingerprint({1, 2, 3});
  std::vector<std::string> lines = {"1! = 1\n", "2! = 2\n", "3! failed: " + std::string(10, 'x') + "\n"};
  std::vector<std::size_t> ends;  // the file size after each record
  {
    auto store = StateStore::Open(state.string(), fingerprint);
    REQUIRE(store.ok());
    ends.push_back((*store)->size());
    REQUIRE((*store)->SaveFrameworkId(std::string("fw-9")).ok());
    ends.push_back((*store)->size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
      REQUIRE((*store)->Append(i + 1, i < 2, lines[i]).ok());
      ends.push_back((*store)->size());
    }
    REQUIRE((*store)->Commit().ok());
  }
  const std::string whole = ReadFile(state / "journal");
  REQUIRE(whole.size() == ends.back());
  for (char filler : {'\0', '\xff'}) {
    for (std::size_t cut = 0; cut <= whole.size(); ++cut) {
      // The cut-off bytes, or (torn write) the right length of garbage in their place.
      std::string torn = whole.substr(0, cut);
      if (filler == '\xff') torn += std::string(whole.size() - cut, filler);
      Write(state / "journal", torn);
      INFO("cut at byte " << cut << " of " << whole.size() << ", filler " << int(filler));
      std::size_t records = 0;
      while (records < ends.size() && ends[records] <= cut) ++records;
      std::size_t results = records > 2 ? records - 2 : 0;
      {
        auto store = StateStore::Open(state.string(), fingerprint);
        REQUIRE(store.ok());
        // Before the header is whole the journal is new (its header written again).
        std::size_t kept = records == 0 ? ends[0] : ends[records - 1];
        CHECK(fs::file_size(state / "journal") == kept);
        CHECK((*store)->framework_id() == (records >= 2 ? std::optional<std::string>("fw-9") : std::nullopt));
        REQUIRE((*store)->replayed().size() == results);
        for (std::size_t i = 0; i < results; ++i) {
          CHECK((*store)->replayed()[i].n == i + 1);
          CHECK(ReadAt((*store)->read_fd(), (*store)->replayed()[i]) == lines[i]);
        }
        // An append after the replay lands after the whole records, and replays.
        REQUIRE((*store)->Append(3, false, lines[2]).ok());
        REQUIRE((*store)->Commit().ok());
      }
      auto reopened = StateStore::Open(state.string(), fingerprint);
      REQUIRE(reopened.ok());
      const auto& replayed = (*reopened)->replayed();
      REQUIRE(replayed.size() == (results == 3 ? 3 : results + 1));  // a number twice: the first stands
      CHECK(replayed.back().n == 3);
      CHECK(ReadAt((*reopened)->read_fd(), replayed.back()) == lines[2]);
    }
  }
}

TEST_CASE("a record of a kind this version does not know is an error, not a tear", "[state]") {
  TempDir dir;
  fs::path state = dir.path() / "state";
  std::string fingerprint = InputFingerprint({1});
  {
    auto store = StateStore::Open(state.string(), fingerprint);
    REQUIRE(store.ok());
  }
  // A whole, checksummed record of kind 'Z'.
  std::string payload = "later";
  char h[32] = {'F', 'J', '1', 'Z'};
  h[8] = static_cast<char>(payload.size());
  std::uint32_t pcrc = Crc32c(payload);
  for (int i = 0; i < 4; ++i) h[24 + i] = static_cast<char>(pcrc >> (8 * i));
  std::uint32_t hcrc = Crc32c(std::string_view(h, 28));
  for (int i = 0; i < 4; ++i) h[28 + i] = static_cast<char>(hcrc >> (8 * i));
  std::string before = ReadFile(state / "journal");
  Write(state / "journal", before + std::string(h, 32) + payload);
  auto store = StateStore::Open(state.string(), fingerprint);
  REQUIRE_FALSE(store.ok());
  CHECK(store.error().message == state.string() + "/journal: journal record at byte " + std::to_string(before.size()) +
                                     " is of a kind this version does not know (a newer one wrote it?)");
  CHECK(ReadFile(state / "journal").size() == before.size() + 32 + payload.size());  // nothing cut
}

TEST_CASE("an earlier version's journal.jsonl is converted, nothing recomputed", "[state]") {
  TempDir dir;
  fs::path state = dir.path() / "state";
  fs::create_directories(state);
  std::string fingerprint = InputFingerprint({5, 7});
  Write(state / "journal.jsonl", "{\"input\":\"" + fingerprint + "\"}\n{\"framework_id\":\"fw-1\"}\n" +
                                     EncodeLine(Done(5, "120"), LineFormat::kJson) + "{\"n\":7,\"sta");
  auto store = StateStore::Open(state.string(), fingerprint);
  REQUIRE(store.ok());
  CHECK_FALSE(fs::exists(state / "journal.jsonl"));
  CHECK((*store)->framework_id() == "fw-1");
  REQUIRE((*store)->replayed().size() == 1);
  CHECK(ReadAt((*store)->read_fd(), (*store)->replayed()[0]) == "5! = 120\n");
}

TEST_CASE("a sink on the journal writes lines from it: held lines take no memory, big ones copied in the kernel",
          "[state][sink]") {
  TempDir dir;
  fs::path state = dir.path() / "state";
  auto workload = Order({3, 1, 2, 3});
  std::string big = std::string(200000, '7');  // past the copy_file_range threshold
  std::string out = (dir.path() / "results").string();
  std::vector<StoredResult> first_run;
  for (auto order : {OutputOrder::kInput, OutputOrder::kCompletion}) {
    fs::remove_all(state);
    auto store = StateStore::Open(state.string(), workload->Fingerprint());
    REQUIRE(store.ok());
    SinkOptions options;
    options.order = order;
    options.store_fd = (*store)->read_fd();
    options.hold_bytes = 0;
    auto sink = ResultSink::OpenFile(workload, LineFormat::kText, out, options);
    REQUIRE(sink.ok());
    std::string line1 = "1! = 1\n", line2 = "2! = 2\n", line3 = "3! = " + big + "\n";
    auto s1 = (*store)->Append(1, true, line1);
    auto s3 = (*store)->Append(3, true, line3);
    REQUIRE((s1.ok() && s3.ok()));
    REQUIRE((*store)->Commit().ok());
    REQUIRE((*sink)->AddStored(*s1, line1).ok());
    CHECK((*sink)->held_bytes() == 0);  // held, but in the journal only
    REQUIRE((*sink)->AddStored(*s3, {}).ok());  // not in memory at all: read from the journal
    CHECK((*sink)->held_bytes() == 0);
    CHECK((*sink)->spilled_results() == 0);
    // Resumed: 2 comes from an earlier run's journal, never in memory either.
    auto s2 = (*store)->Append(2, true, line2);
    REQUIRE(s2.ok());
    REQUIRE((*store)->Commit().ok());
    REQUIRE((*sink)->Resume(std::vector<StoredResult>{*s2}).ok());
    REQUIRE((*sink)->Finish().ok());
    std::string expected = order == OutputOrder::kInput ? line3 + line1 + line2 + line3 : line1 + line3 + line3 + line2;
    CHECK(ReadFile(out) == expected);
  }
}

TEST_CASE("a finished job's journal is compacted to refer to the output, and expands back from it", "[state]") {
  TempDir dir;
  fs::path state = dir.path() / "state";
  std::string fingerprint = InputFingerprint({3, 1, 2});
  std::string big = "3! = " + std::string(3000, '6') + "\n";
  std::string output = big + "1! = 1\n2! failed: lost\n";
  {
    auto store = StateStore::Open(state.string(), fingerprint);
    REQUIRE(store.ok());
    REQUIRE((*store)->SaveFrameworkId(std::string("fw-3")).ok());
    REQUIRE((*store)->Append(1, true, "1! = 1\n").ok());
    REQUIRE((*store)->Append(3, true, big).ok());
    // 3's line is not in the output: nothing is compacted.
    Write(state / "results", "1! = 1\n2! unfinished\n");
    auto early = (*store)->Compact("results");
    REQUIRE(early.ok());
    CHECK_FALSE(*early);
    REQUIRE((*store)->Append(2, false, "2! failed: lost\n").ok());
    Write(state / "results", output);
    auto compacted = (*store)->Compact("results");
    REQUIRE(compacted.ok());
    CHECK(*compacted);
  }
  CHECK(fs::file_size(state / "journal") < 400);  // the digits are in `results` only
  {
    auto store = StateStore::Open(state.string(), fingerprint);
    REQUIRE(store.ok());
    CHECK((*store)->framework_id() == "fw-3");
    const auto& replayed = (*store)->replayed();
    REQUIRE(replayed.size() == 3);
    std::map<std::uint64_t, std::string> lines;
    for (const auto& r : replayed) lines[r.n] = ReadAt((*store)->read_fd(), r);
    CHECK(lines == std::map<std::uint64_t, std::string>{{1, "1! = 1\n"}, {2, "2! failed: lost\n"}, {3, big}});
    CHECK((replayed[0].n == 3 && replayed[1].n == 1 && replayed[2].n == 2));  // in output order
    CHECK_FALSE(replayed[2].ok);
    auto again = (*store)->Compact("results");
    REQUIRE(again.ok());
    CHECK(*again);
  }
  // A line changed since: its number is no longer final, the others are.
  std::string changed = output;
  changed[7] = '5';
  Write(state / "results", changed);
  auto store = StateStore::Open(state.string(), fingerprint);
  REQUIRE(store.ok());
  REQUIRE((*store)->replayed().size() == 2);
  CHECK((*store)->replayed()[0].n == 1);
  CHECK((*store)->replayed()[1].n == 2);
}

namespace {

using factorial::scheduler::DecodeBatch;
using factorial::scheduler::EncodeBatch;
using factorial::scheduler::JournaledBatch;

JournaledBatch Launched(std::string task_id, std::vector<std::uint64_t> numbers) {
  return JournaledBatch{.task_id = std::move(task_id),
                        .agent_id = "A-S1",
                        .hostname = "node-2.example",
                        .agent_url = "http://10.0.0.2:5051",
                        .cpus = 1.5,
                        .mem = 96,
                        .launched_unix_ms = 1765000000123,
                        .numbers = std::move(numbers)};
}

bool SameBatch(const JournaledBatch& a, const JournaledBatch& b) {
  return a.task_id == b.task_id && a.agent_id == b.agent_id && a.hostname == b.hostname &&
         a.agent_url == b.agent_url && a.cpus == b.cpus && a.mem == b.mem &&
         a.launched_unix_ms == b.launched_unix_ms && a.numbers == b.numbers;
}

}  // namespace

TEST_CASE("a launch record round-trips, its numbers as zigzag varint deltas", "[state]") {
  // Falling, rising, repeated-distance and extreme numbers: deltas of every sign and size.
  auto batch = Launched("factorial-0badf00d-b17", {19999, 3, 4, 4000, 0, std::uint64_t{1} << 63, ~std::uint64_t{0}, 1});
  std::string bytes = EncodeBatch(batch);
  auto decoded = DecodeBatch(bytes);
  REQUIRE(decoded.ok());
  CHECK(SameBatch(*decoded, batch));
  // Numbers near each other cost a byte or two: 1000 consecutive ones take 1000 bytes.
  std::vector<std::uint64_t> run(1000);
  for (std::size_t i = 0; i < run.size(); ++i) run[i] = 5000 + i;
  std::string compact = EncodeBatch(Launched("t", run));
  CHECK(compact.size() == EncodeBatch(Launched("t", {5000})).size() + 999 + 1);  // the count takes 2 bytes
  // Every shorter prefix, and a byte too many, is refused.
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    INFO("cut at " << cut);
    CHECK_FALSE(DecodeBatch(std::string_view(bytes).substr(0, cut)).ok());
  }
  CHECK(DecodeBatch(bytes + '\0').error().message == "launch record: bytes after its numbers");
  CHECK_FALSE(DecodeBatch(EncodeBatch(Launched("", {1}))).ok());
  CHECK(DecodeBatch(EncodeBatch(Launched("x", {}))).error().message == "launch record: a count its numbers cannot fill");
}

TEST_CASE("replay returns the tasks launched and not over, in launch order", "[state]") {
  TempDir dir;
  std::string state = (dir.path() / "state").string();
  std::string fingerprint = InputFingerprint({1, 2, 3, 4, 5, 6});
  {
    auto store = StateStore::Open(state, fingerprint);
    REQUIRE(store.ok());
    REQUIRE((*store)->SaveFrameworkId(std::string("fw-1")).ok());
    REQUIRE((*store)->RecordLaunch(Launched("b1", {1, 2})).ok());
    REQUIRE((*store)->RecordLaunch(Launched("b2", {3, 4})).ok());
    REQUIRE((*store)->RecordLaunch(Launched("factorial-5-1", {5})).ok());
    CHECK((*store)->syncs() == 2);  // launch records wait for the caller's one commit
    REQUIRE((*store)->Commit().ok());
    CHECK((*store)->syncs() == 3);
    REQUIRE((*store)->Append(1, true, "1! = 1\n").ok());
    REQUIRE((*store)->RecordOver("b1").ok());
    REQUIRE((*store)->RecordOver("never-launched").ok());  // ignored
    REQUIRE((*store)->RecordOver("factorial-5-1").ok());
    // The same single-number ID launched again: the newer launch is the open one.
    auto again = Launched("factorial-5-1", {5});
    again.agent_id = "A-S2";
    REQUIRE((*store)->RecordLaunch(again).ok());
    REQUIRE((*store)->RecordLaunch(Launched("b3", {2, 6})).ok());
    REQUIRE((*store)->Commit().ok());
  }
  auto store = StateStore::Open(state, fingerprint);
  REQUIRE(store.ok());
  const auto& open = (*store)->open_batches();
  REQUIRE(open.size() == 3);
  CHECK(SameBatch(open[0], Launched("b2", {3, 4})));
  CHECK(open[1].task_id == "factorial-5-1");
  CHECK(open[1].agent_id == "A-S2");
  CHECK(SameBatch(open[2], Launched("b3", {2, 6})));
  REQUIRE((*store)->replayed().size() == 1);
  (*store)->ReleaseReplayed();
  CHECK((*store)->open_batches().empty());
}

TEST_CASE("a launch record torn off the tail was never committed: replay keeps the records before it", "[state]") {
  TempDir dir;
  fs::path state = dir.path() / "state";
  std::string fingerprint = InputFingerprint({1, 2, 3});
  std::size_t before = 0;
  {
    auto store = StateStore::Open(state.string(), fingerprint);
    REQUIRE(store.ok());
    REQUIRE((*store)->RecordLaunch(Launched("b1", {1, 2})).ok());
    REQUIRE((*store)->Commit().ok());
    before = (*store)->size();
    REQUIRE((*store)->RecordLaunch(Launched("b2", {3})).ok());
    REQUIRE((*store)->RecordOver("b1").ok());
    REQUIRE((*store)->Commit().ok());
  }
  const std::string whole = ReadFile(state / "journal");
  for (std::size_t cut = before; cut < whole.size(); ++cut) {
    INFO("cut at byte " << cut << " of " << whole.size());
    Write(state / "journal", whole.substr(0, cut));
    auto store = StateStore::Open(state.string(), fingerprint);
    REQUIRE(store.ok());
    const auto& open = (*store)->open_batches();
    bool b2_whole = cut >= before + 32 + EncodeBatch(Launched("b2", {3})).size();
    REQUIRE(open.size() == (b2_whole ? 2u : 1u));
    CHECK(open[0].task_id == "b1");
    if (b2_whole) CHECK(open[1].task_id == "b2");
    CHECK(fs::file_size(state / "journal") == (b2_whole ? before + 32 + EncodeBatch(Launched("b2", {3})).size() : before));
  }
}

namespace {

using factorial::scheduler::LocatedResult;

// `line` written at `offset` of `file` (made if missing), as the sink places it; its record.
LocatedResult Place(const fs::path& file, std::uint64_t n, bool ok, const std::string& line, std::uint64_t offset) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  CHECK(::pwrite(fd, line.data(), line.size(), static_cast<off_t>(offset)) == static_cast<ssize_t>(line.size()));
  ::close(fd);
  return LocatedResult{StoredResult{n, ok, offset, line.size()}, Crc32c(line)};
}

bool SamePlaced(const std::vector<LocatedResult>& got, const std::vector<LocatedResult>& want) {
  if (got.size() != want.size()) return false;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const auto &a = got[i], &b = want[i];
    if (a.at.n != b.at.n || a.at.ok != b.at.ok || a.at.offset != b.at.offset || a.at.length != b.at.length ||
        a.crc != b.crc) {
      return false;
    }
  }
  return true;
}

// A placed file as the sink would leave it: 3's big line first, a hole where 1's line goes (an
// ordinary record), then 2's failure. Returns the placed results, in placing order.
struct PlacedJob {
  std::string fingerprint = InputFingerprint({3, 1, 2});
  std::string layout = "text-v1 3 f00d";
  std::string line1 = "1! = 1\n";
  std::string line2 = "2! failed: lost\n";
  std::string line3 = "3! = " + std::string(3000, '6') + "\n";
  std::string output() const { return line3 + line1 + line2; }
  std::vector<LocatedResult> Run(const fs::path& state) const {
    auto store = StateStore::Open(state.string(), fingerprint);
    REQUIRE(store.ok());
    REQUIRE((*store)->SaveFrameworkId(std::string("fw-7")).ok());
    REQUIRE((*store)->Append(1, true, line1).ok());
    REQUIRE((*store)->BeginPlaced("results.partial", layout).ok());
    fs::path file = state / "results.partial";
    std::vector<LocatedResult> placed = {Place(file, 2, false, line2, line3.size() + line1.size()),
                                         Place(file, 3, true, line3, 0)};
    Place(file, 1, true, line1, line3.size());  // the sink writes the replayed line too
    for (const auto& p : placed) REQUIRE((*store)->AppendPlaced(p).ok());
    REQUIRE((*store)->Commit().ok());
    return placed;
  }
};

}  // namespace

TEST_CASE("placed results are journaled by their place, not their digits, and replay exactly", "[state][placed]") {
  TempDir dir;
  fs::path state = dir.path() / "state";
  PlacedJob job;
  {
    // Nothing can be placed before the placed file is named, and names stay in the directory.
    auto store = StateStore::Open(state.string(), job.fingerprint);
    REQUIRE(store.ok());
    auto early = (*store)->AppendPlaced(LocatedResult{StoredResult{2, true, 0, 7}, 0});
    REQUIRE_FALSE(early.ok());
    CHECK(early.error().message == "a placed result before its placed file is named");
    for (const std::string& bad :
         std::vector<std::string>{"", ".", "..", "a/b", std::string("a\0b", 3), "a\nb", std::string(256, 'n')}) {
      INFO("name " << bad.size() << " bytes");
      auto refused = (*store)->BeginPlaced(bad, job.layout);
      REQUIRE_FALSE(refused.ok());
      CHECK(refused.error().code == factorial::Errc::kInvalidArgument);
    }
    CHECK_FALSE((*store)->BeginPlaced("results.partial", std::string(256, 'l')).ok());
    CHECK((*store)->BeginPlaced(std::string(255, 'n'), std::string(255, 'l')).ok());
  }
  fs::remove_all(state);
  auto placed = job.Run(state);
  // Headers and payloads: the placed digits are not in the journal.
  std::string journal = ReadFile(state / "journal");
  CHECK(journal.size() == 32 + job.fingerprint.size() + 5 + 32 + 4 + 32 + job.line1.size() + 32 +
                              std::string("results.partial\n").size() + job.layout.size() + 2 * (32 + 20));
  CHECK(journal.find(std::string(100, '6')) == std::string::npos);
  auto store = StateStore::Open(state.string(), job.fingerprint);
  REQUIRE(store.ok());
  CHECK((*store)->syncs() == 0);
  CHECK((*store)->framework_id() == "fw-7");
  CHECK((*store)->placed_name() == "results.partial");
  CHECK((*store)->placed_layout() == job.layout);
  CHECK(SamePlaced((*store)->placed(), placed));
  CHECK((*store)->placed()[0].at.n == 2);
  CHECK_FALSE((*store)->placed()[0].at.ok);
  REQUIRE((*store)->replayed().size() == 1);
  CHECK((*store)->replayed()[0].n == 1);
  CHECK(ReadAt((*store)->read_fd(), (*store)->replayed()[0]) == job.line1);
  // The same file and layout again keep them, and write nothing.
  REQUIRE((*store)->BeginPlaced("results.partial", job.layout).ok());
  CHECK(SamePlaced((*store)->placed(), placed));
  CHECK(ReadFile(state / "journal") == journal);
  (*store)->ReleaseReplayed();
  CHECK((*store)->placed().empty());
}

TEST_CASE("a placed line changed or gone since is dropped at open, exactly that one", "[state][placed]") {
  TempDir dir;
  fs::path state = dir.path() / "state";
  PlacedJob job;
  auto placed = job.Run(state);
  std::string file = ReadFile(state / "results.partial");
  REQUIRE(file == job.output());
  std::string journal = ReadFile(state / "journal");
  SECTION("a byte of 3's digits changed") {
    std::string changed = file;
    changed[1234] = '5';
    Write(state / "results.partial", changed);
    auto store = StateStore::Open(state.string(), job.fingerprint);
    REQUIRE(store.ok());
    CHECK(SamePlaced((*store)->placed(), {placed[0]}));
    // 3 is not final: the output without its line is all the journal needs.
    Write(state / "results", job.line1 + job.line2);
    auto compacted = (*store)->Compact("results");
    REQUIRE(compacted.ok());
    CHECK(*compacted);
  }
  SECTION("2's line cut off the end") {
    Write(state / "results.partial", file.substr(0, file.size() - 1));
    auto store = StateStore::Open(state.string(), job.fingerprint);
    REQUIRE(store.ok());
    CHECK(SamePlaced((*store)->placed(), {placed[1]}));
    CHECK(ReadFile(state / "journal") == journal);  // the check writes nothing
  }
  SECTION("3's line all zeros, with records after it (a crash before the sync of its bytes)") {
    // A record may reach the disk ahead of its placed line (appended while a commit ran); the
    // file's blocks, reserved beforehand, then read as zeros.
    {
      auto store = StateStore::Open(state.string(), job.fingerprint);
      REQUIRE(store.ok());
      REQUIRE((*store)->RecordLaunch(Launched("b9", {3})).ok());
      REQUIRE((*store)->Commit().ok());
    }
    std::string zeroed = file;
    std::fill_n(zeroed.begin(), job.line3.size(), '\0');
    Write(state / "results.partial", zeroed);
    auto store = StateStore::Open(state.string(), job.fingerprint);
    REQUIRE(store.ok());
    CHECK(SamePlaced((*store)->placed(), {placed[0]}));
    REQUIRE((*store)->open_batches().size() == 1);
    CHECK((*store)->open_batches()[0].task_id == "b9");
    REQUIRE((*store)->replayed().size() == 1);
    CHECK((*store)->replayed()[0].n == 1);
  }
  SECTION("the placed file gone") {
    fs::remove(state / "results.partial");
    auto store = StateStore::Open(state.string(), job.fingerprint);
    REQUIRE(store.ok());
    CHECK((*store)->placed().empty());
    CHECK((*store)->placed_name() == "results.partial");
    REQUIRE((*store)->replayed().size() == 1);
  }
}

TEST_CASE("placed lines renamed to the final name are checked there, and that name is kept", "[state][placed]") {
  TempDir dir;
  fs::path state = dir.path() / "state";
  PlacedJob job;
  auto placed = job.Run(state);
  fs::rename(state / "results.partial", state / "results");
  std::size_t before = 0;
  {
    auto store = StateStore::Open(state.string(), job.fingerprint);
    REQUIRE(store.ok());
    CHECK((*store)->placed_name() == "results");
    CHECK((*store)->placed_layout() == job.layout);
    CHECK(SamePlaced((*store)->placed(), placed));
    before = (*store)->size();
    // Placing on in the renamed file records its name and keeps what was placed.
    REQUIRE((*store)->BeginPlaced("results", job.layout).ok());
    CHECK(SamePlaced((*store)->placed(), placed));
    CHECK((*store)->size() == before + 32 + std::string("results\n").size() + job.layout.size());
  }
  auto store = StateStore::Open(state.string(), job.fingerprint);
  REQUIRE(store.ok());
  CHECK((*store)->placed_name() == "results");
  CHECK(SamePlaced((*store)->placed(), placed));
}

TEST_CASE("a placed file of another layout or name starts afresh: what was placed before is not final",
          "[state][placed]") {
  TempDir dir;
  fs::path state = dir.path() / "state";
  PlacedJob job;
  auto placed = job.Run(state);
  std::string other = "text-v1 3 beef";
  LocatedResult again;
  {
    auto store = StateStore::Open(state.string(), job.fingerprint);
    REQUIRE(store.ok());
    REQUIRE((*store)->placed().size() == 2);
    REQUIRE((*store)->BeginPlaced("results.partial", other).ok());
    CHECK((*store)->placed().empty());
    CHECK((*store)->placed_layout() == other);
    // 2 placed again in the new layout counts; 3 does not.
    again = Place(state / "results.partial", 2, false, job.line2, 4000);
    REQUIRE((*store)->AppendPlaced(again).ok());
    REQUIRE((*store)->Commit().ok());
  }
  {
    auto store = StateStore::Open(state.string(), job.fingerprint);
    REQUIRE(store.ok());
    CHECK((*store)->placed_layout() == other);
    CHECK(SamePlaced((*store)->placed(), {again}));
    // Another name, the same layout: afresh too, within the run (Compact finds no 2 or 3 to look for).
    REQUIRE((*store)->BeginPlaced("elsewhere", other).ok());
    CHECK((*store)->placed().empty());
    Write(state / "results", job.line1);
    auto compacted = (*store)->Compact("results");
    REQUIRE(compacted.ok());
    CHECK(*compacted);
  }
  auto store = StateStore::Open(state.string(), job.fingerprint);
  REQUIRE(store.ok());
  REQUIRE((*store)->replayed().size() == 1);
  CHECK((*store)->replayed()[0].n == 1);
  CHECK((*store)->placed().empty());
}

TEST_CASE("placed results expand into line records, open tasks kept, and the new journal replays torn anywhere",
          "[state][placed]") {
  TempDir dir;
  fs::path state = dir.path() / "state";
  PlacedJob job;
  job.fingerprint = InputFingerprint({3, 1, 2, 4, 5});
  {
    auto store = StateStore::Open(state.string(), job.fingerprint);
    REQUIRE(store.ok());
    REQUIRE((*store)->RecordLaunch(Launched("b1", {4, 5})).ok());
    REQUIRE((*store)->RecordLaunch(Launched("b2", {3, 2})).ok());
    REQUIRE((*store)->RecordOver("b2").ok());
    REQUIRE((*store)->Commit().ok());
  }
  auto placed = job.Run(state);
  std::vector<std::pair<std::uint64_t, std::string>> want = {{1, job.line1}, {2, job.line2}, {3, job.line3}};
  auto check = [&](const StateStore& store) {
    CHECK(store.placed().empty());
    CHECK(store.placed_name().empty());
    REQUIRE(store.replayed().size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      CHECK(store.replayed()[i].n == want[i].first);
      CHECK(store.replayed()[i].ok == (want[i].first != 2));
      CHECK(ReadAt(store.read_fd(), store.replayed()[i]) == want[i].second);
    }
    REQUIRE(store.open_batches().size() == 1);
    CHECK(SameBatch(store.open_batches()[0], Launched("b1", {4, 5})));
    CHECK(store.framework_id() == "fw-7");
  };
  std::vector<StoredResult> expanded;
  {
    auto store = StateStore::Open(state.string(), job.fingerprint);
    REQUIRE(store.ok());
    REQUIRE((*store)->placed().size() == 2);
    REQUIRE((*store)->ExpandPlaced().ok());
    check(**store);
    expanded = (*store)->replayed();
    // It appends after the new records.
    auto line4 = (*store)->Append(4, true, "4! = 24\n");
    REQUIRE(line4.ok());
    CHECK(ReadAt((*store)->read_fd(), *line4) == "4! = 24\n");
    CHECK((*store)->ExpandPlaced().ok());  // nothing placed left: nothing to do
  }
  // The journal without the 4: header, framework ID, 1's line, b1's launch, 2's and 3's lines.
  std::string whole = ReadFile(state / "journal");
  std::vector<std::size_t> ends = {32 + job.fingerprint.size() + 5};
  for (std::size_t payload : {std::size_t{4}, job.line1.size(), EncodeBatch(Launched("b1", {4, 5})).size(),
                              job.line2.size(), job.line3.size(), std::size_t{8}}) {
    ends.push_back(ends.back() + 32 + payload);
  }
  REQUIRE(whole.size() == ends.back());
  whole.resize(ends[5]);
  Write(state / "journal", whole);
  {
    auto store = StateStore::Open(state.string(), job.fingerprint);
    REQUIRE(store.ok());
    check(**store);
    for (std::size_t i = 0; i < expanded.size(); ++i) CHECK((*store)->replayed()[i].offset == expanded[i].offset);
  }
  CHECK(ReadFile(state / "journal") == whole);
  for (std::size_t cut = ends[1]; cut <= whole.size(); ++cut) {
    INFO("cut at byte " << cut << " of " << whole.size());
    Write(state / "journal", whole.substr(0, cut));
    std::size_t records = 0;
    while (records < ends.size() && ends[records] <= cut) ++records;
    auto store = StateStore::Open(state.string(), job.fingerprint);
    REQUIRE(store.ok());
    CHECK(fs::file_size(state / "journal") == ends[records - 1]);
    std::size_t results = (records > 2 ? 1 : 0) + (records > 4 ? records - 4 : 0);
    REQUIRE((*store)->replayed().size() == results);
    for (std::size_t i = 0; i < results; ++i) {
      CHECK((*store)->replayed()[i].n == want[i].first);
      CHECK(ReadAt((*store)->read_fd(), (*store)->replayed()[i]) == want[i].second);
    }
    CHECK((*store)->open_batches().size() == (records > 3 ? 1u : 0u));
  }
}

TEST_CASE("placed results expand only before anything is journaled, and a line changed since the open is dropped",
          "[state][placed]") {
  TempDir dir;
  fs::path state = dir.path() / "state";
  PlacedJob job;
  auto placed = job.Run(state);
  {
    auto store = StateStore::Open(state.string(), job.fingerprint);
    REQUIRE(store.ok());
    REQUIRE((*store)->Append(4, true, "4! = 24\n").ok());
    auto late = (*store)->ExpandPlaced();
    REQUIRE_FALSE(late.ok());
    CHECK(late.error().message == "placed results are expanded only before anything else is journaled");
    CHECK((*store)->placed().size() == 2);
  }
  std::string changed = ReadFile(state / "results.partial");
  {
    auto store = StateStore::Open(state.string(), job.fingerprint);
    REQUIRE(store.ok());
    REQUIRE((*store)->placed().size() == 2);
    changed[2000] = 'X';  // 3's line, placed last: its partial record is cut off
    Write(state / "results.partial", changed);
    REQUIRE((*store)->ExpandPlaced().ok());
    REQUIRE((*store)->replayed().size() == 3);  // 1, the 4 appended above, 2
    CHECK((*store)->replayed()[1].n == 4);
    CHECK((*store)->replayed()[2].n == 2);
    CHECK(ReadAt((*store)->read_fd(), (*store)->replayed()[2]) == job.line2);
    CHECK(fs::file_size(state / "journal") == (*store)->size());
  }
  auto store = StateStore::Open(state.string(), job.fingerprint);
  REQUIRE(store.ok());
  REQUIRE((*store)->replayed().size() == 3);
  CHECK((*store)->replayed()[2].n == 2);
}

TEST_CASE("a journal with placed results compacts into the output, in the run or after a restart",
          "[state][placed]") {
  for (bool restart : {false, true}) {
    INFO((restart ? "after a restart" : "in the run"));
    TempDir dir;
    fs::path state = dir.path() / "state";
    PlacedJob job;
    auto placed = job.Run(state);
    {
      auto store = StateStore::Open(state.string(), job.fingerprint);
      REQUIRE(store.ok());
      REQUIRE(SamePlaced((*store)->placed(), placed));
      if (!restart) {
        // Placed this run: the in-memory finals count them too.
        REQUIRE((*store)->BeginPlaced("results.partial", "text-v1 other").ok());
        for (const auto& p : placed) REQUIRE((*store)->AppendPlaced(p).ok());
        REQUIRE((*store)->Commit().ok());
      }
      // Without 3's line the output is not the whole job: nothing is compacted.
      Write(state / "results", job.line1 + job.line2);
      auto early = (*store)->Compact("results");
      REQUIRE(early.ok());
      CHECK_FALSE(*early);
      fs::rename(state / "results.partial", state / "results");
      auto compacted = (*store)->Compact("results");
      REQUIRE(compacted.ok());
      CHECK(*compacted);
    }
    CHECK(fs::file_size(state / "journal") < 400);
    auto store = StateStore::Open(state.string(), job.fingerprint);
    REQUIRE(store.ok());
    CHECK((*store)->placed().empty());
    const auto& replayed = (*store)->replayed();
    REQUIRE(replayed.size() == 3);
    CHECK(replayed[0].n == 3);
    CHECK(ReadAt((*store)->read_fd(), replayed[0]) == job.line3);
    CHECK(ReadAt((*store)->read_fd(), replayed[1]) == job.line1);
    CHECK(ReadAt((*store)->read_fd(), replayed[2]) == job.line2);
    CHECK_FALSE(replayed[2].ok);
  }
}

TEST_CASE("lines longer than a read chunk expand whole, from the output and from a placed file, and a change in "
          "their last chunk drops them",
          "[state][placed]") {
  // 2.5 MiB of digits: three reads of 1 MiB.
  std::string digits(5 * (std::size_t{1} << 19), '8');
  digits[1 << 20] = '1';
  std::string line2 = "2! = " + digits + "\n", line1 = "1! = 1\n";
  std::string fingerprint = InputFingerprint({2, 1});
  for (bool compacted : {true, false}) {
    INFO((compacted ? "compacted into the output" : "placed"));
    TempDir dir;
    fs::path state = dir.path() / "state";
    fs::path file = state / (compacted ? "results" : "results.partial");
    {
      auto store = StateStore::Open(state.string(), fingerprint);
      REQUIRE(store.ok());
      REQUIRE((*store)->BeginPlaced("results.partial", "text-v1 2").ok());
      // The long line last: dropped, it leaves a partial record to cut off.
      REQUIRE((*store)->AppendPlaced(Place(state / "results.partial", 1, true, line1, 0)).ok());
      REQUIRE((*store)->AppendPlaced(Place(state / "results.partial", 2, true, line2, line1.size())).ok());
      REQUIRE((*store)->Commit().ok());
      if (compacted) {
        fs::rename(state / "results.partial", file);
        REQUIRE((*store)->Compact("results").value());
      }
    }
    CHECK(fs::file_size(state / "journal") < 400);
    std::string kept = ReadFile(file);
    for (bool changed : {false, true}) {
      INFO((changed ? "changed" : "intact"));
      std::string journal_before = ReadFile(state / "journal");
      if (changed) {
        kept[kept.size() - 3] = '7';
        Write(file, kept);
      }
      {
        auto store = StateStore::Open(state.string(), fingerprint);
        REQUIRE(store.ok());
        if (!compacted) REQUIRE((*store)->ExpandPlaced().ok());
        const auto& replayed = (*store)->replayed();
        REQUIRE(replayed.size() == (changed ? 1u : 2u));
        CHECK(replayed[0].n == 1);
        CHECK(ReadAt((*store)->read_fd(), replayed[0]) == line1);
        if (!changed) {
          CHECK(replayed[1].n == 2);
          CHECK(ReadAt((*store)->read_fd(), replayed[1]) == line2);
        }
        CHECK(fs::file_size(state / "journal") == (*store)->size());
      }
      if (!changed) {
        // Once more from what the first expansion wrote: the same lines, nothing left to expand.
        auto store = StateStore::Open(state.string(), fingerprint);
        REQUIRE(store.ok());
        CHECK((*store)->placed().empty());
        REQUIRE((*store)->replayed().size() == 2);
        CHECK(ReadAt((*store)->read_fd(), (*store)->replayed()[1]) == line2);
        Write(state / "journal", journal_before);  // back to the compacted or placed journal
      }
    }
  }
}
