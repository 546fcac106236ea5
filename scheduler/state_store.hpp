#pragma once

// Restart safety for --state-dir. `dir`/journal is an append-only log of framed records: the
// input's fingerprint and output format, the framework ID, and every final result as the very
// line the output gets. The journal is the results' durable store: a result's digits reach the
// disk once, here, and the output's lines are copied from it (copy_file_range) when they are
// due. Results are appended without a sync and made durable together by Commit(), which the
// caller runs once per handled batch of results (at most every ~100 ms), and a result counts as
// done only after that.
//
// Each record is a 32-byte header (magic "FJ1" and a kind, payload length, number, CRC-32C of
// the payload, CRC-32C of the header) and its payload. Replay keeps the longest prefix of whole,
// checksummed records and cuts the rest off: a crash mid-append (a torn write at any byte) loses
// only results never committed, so never one that was reported. A record of a kind this version
// does not know (whole and checksummed: a newer version wrote it) is an error, not a tear.
//
// A finished job's output file in the state directory holds every line the journal holds, so
// Compact() then replaces the journal by one that refers to the output's lines (number, place,
// CRC) instead of holding them: the directory ends at about the output's size. A later open
// copies the referenced lines back into a journal, each checked against its CRC (a line that
// changed is dropped: its number is computed again).
//
// Every launched task is journaled before its ACCEPT is sent (a launch record: task ID, agent,
// cpus, mem, when, its numbers as zigzag varint deltas; the caller commits the records of one
// ACCEPT round with one fdatasync), and closed by an "over" record when the task is over.
// Replay returns the tasks launched and not over, so a restarted scheduler adopts them instead
// of computing their numbers again. A launch record torn off with the tail was never followed
// by its ACCEPT: the commit comes first.
//
// `dir`/lock holds an exclusive flock for the store's life: one scheduler per state directory.
// A journal.jsonl left by an earlier version is converted into a journal at open.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crc32c.hpp"
#include "factorial/status.hpp"
#include "number_result.hpp"
#include "result_sink.hpp"

namespace factorial::scheduler {

// Names the input: how many numbers and the SHA-256 of them in order, one per line.
std::string InputFingerprint(const std::vector<std::uint64_t>& numbers);

// A result's line in the journal: bytes [offset, offset + length) of the file.
struct StoredResult {
  std::uint64_t n = 0;
  bool ok = false;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// What a journal holds, read back.
// A result's line in the output file a compacted journal refers to.
struct LocatedResult {
  StoredResult at;  // offset and length in that file
  std::uint32_t crc = 0;
};

// A task as journaled at its launch.
struct JournaledBatch {
  std::string task_id;
  std::string agent_id;
  std::string hostname;   // the agent's, from its offer
  std::string agent_url;  // where its files are served (http://host:port), empty if unknown
  double cpus = 0;
  double mem = 0;                     // MB
  std::int64_t launched_unix_ms = 0;  // wall clock
  std::vector<std::uint64_t> numbers;
};

// A launch record's payload, and back (an error for bytes that are not one).
std::string EncodeBatch(const JournaledBatch& batch);
Result<JournaledBatch> DecodeBatch(std::string_view payload);

struct JournalContents {
  std::string input;   // the fingerprint; empty: no header record (a new journal)
  std::string format;  // "text" or "json"
  std::optional<std::string> framework_id;
  std::vector<StoredResult> results;  // in journal order; a number at most once
  std::uint64_t valid_bytes = 0;      // the whole records; anything after is torn
  std::string located_in;             // compacted: the output file (a name in the state dir)
  std::vector<LocatedResult> located;  // compacted: the results' lines in it
  std::vector<JournaledBatch> open_batches;  // launched and not over, in launch order
};

// Replays the journal open on `fd` (size `size`). Errors only for a journal that is whole but
// not ours (kCorruption); a torn or garbled tail ends the replay at valid_bytes.
Result<JournalContents> ReplayJournal(int fd, std::uint64_t size);

class StateStore {
 public:
  // Creates `dir` if needed, locks it for this process (a directory another live process
  // holds: kInvalidArgument naming its PID) and replays `dir`/journal. A new journal records
  // `fingerprint` and `format`; an existing one must have recorded the same (else
  // kInvalidArgument).
  static Result<std::unique_ptr<StateStore>> Open(const std::string& dir, const std::string& fingerprint,
                                                  LineFormat format = LineFormat::kText);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  const std::optional<std::string>& framework_id() const { return framework_id_; }
  // The results committed by earlier runs (not those appended since), until ReleaseReplayed().
  const std::vector<StoredResult>& replayed() const { return replayed_; }
  // Tasks launched by earlier runs and not over, in launch order, until ReleaseReplayed().
  const std::vector<JournaledBatch>& open_batches() const { return open_batches_; }
  void ReleaseReplayed() {
    std::vector<StoredResult>().swap(replayed_);
    std::vector<JournaledBatch>().swap(open_batches_);
  }
  const std::string& dir() const { return dir_; }
  // The journal open for reading: StoredResult offsets are into it.
  int read_fd() const { return read_fd_; }

  // Recorded and committed at once (rare: a subscription).
  Status SaveFrameworkId(const std::optional<std::string>& id);
  // Appends a result's output line (with its '\n'); durable only after the next Commit().
  Result<StoredResult> Append(std::uint64_t n, bool ok, std::string_view line);
  // The same for the line `head` + the digits of `slice` + `tail`, whose digits are copied
  // from their downloaded file inside the kernel (copy_file_range; read and written where
  // that is not supported). The slice must carry its CRC-32C.
  Result<StoredResult> AppendSlice(std::uint64_t n, std::string_view head, const DigitsSlice& slice,
                                   std::string_view tail);
  // A task about to be launched; durable only after the next Commit(), which must come before
  // its ACCEPT is sent.
  Status RecordLaunch(const JournaledBatch& batch);
  // The task is over (its results taken, or its numbers sent back); durable with the next
  // Commit(). A replay that misses it still finds the task's numbers final or the master
  // answering for the task.
  Status RecordOver(const std::string& task_id);
  // Makes everything appended so far durable: one fdatasync, none if nothing was appended.
  Status Commit();
  // The output `dir`/`name` is final and holds a line for every result in the journal: the
  // journal is replaced by one referring to those lines. A result without its line there
  // leaves the journal as it is (returns false). After a compaction nothing can be appended.
  Result<bool> Compact(const std::string& name);

  std::uint64_t syncs() const { return syncs_; }
  std::uint64_t size() const { return end_; }

 private:
  StateStore(std::string dir, int fd, int read_fd, int lock_fd)
      : dir_(std::move(dir)), fd_(fd), read_fd_(read_fd), lock_fd_(lock_fd) {}
  Status Expand(const JournalContents& compacted);
  Status Write(char kind, std::uint64_t n, std::string_view payload);

  std::string dir_;
  int fd_ = -1;
  int read_fd_ = -1;
  int lock_fd_ = -1;  // holds the flock on `dir_`/lock
  std::uint64_t end_ = 0;
  bool dirty_ = false;
  std::uint64_t syncs_ = 0;
  std::optional<std::string> framework_id_;
  std::vector<StoredResult> replayed_;
  std::vector<JournaledBatch> open_batches_;
  std::string header_;  // the input record's payload
  std::vector<std::pair<std::uint64_t, bool>> finals_;  // every result in the journal: number, ok
};

}  // namespace factorial::scheduler
