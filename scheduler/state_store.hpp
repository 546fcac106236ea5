#pragma once

// Restart safety for --state-dir. `dir`/journal is an append-only log of framed records: the
// input's fingerprint and output format, the framework ID, and every final result, either as
// the very line the output gets or as a reference to that line in a placed file (below). The
// journal is the results' durable store: a result's digits reach the disk once, here or in the
// placed file, and the output's lines are copied from the journal (copy_file_range) when they
// are due. Results are appended without a sync and made durable together by Commit(), which
// the caller runs once per handled batch of results (at most every ~100 ms), and a result
// counts as done only after that.
//
// Each record is a 32-byte header (magic "FJ1" and a kind, payload length, number, CRC-32C of
// the payload, CRC-32C of the header) and its payload. Replay keeps the longest prefix of whole,
// checksummed records and cuts the rest off: a crash mid-append (a torn write at any byte) loses
// only results never committed, so never one that was reported. A record of a kind this version
// does not know (whole and checksummed: a newer version wrote it) is an error, not a tear.
//
// A placed file is an output file in the state directory whose lines the caller writes at their
// final offsets as results arrive (its layout, a string opaque to the store, says where each
// goes). A placed-file record names it and its layout, and each placed result record gives a
// number's line there (offset, length, CRC-32C): the digits are written once, in the placed
// file, which the caller makes durable before the commit that covers their records. A record
// may still reach the disk first (appended while another commit's sync ran, which took it
// along): what keeps that safe is the check of every placed line at Open() below. A
// placed-file record with another name or layout starts afresh: the placed results before it
// no longer count, except when only a ".partial" suffix was dropped from the name (the file was
// renamed to its final name). Open() checks every placed line against its CRC, in the placed
// file or, when that is gone, in the file of its name without ".partial" (a crash between the
// final rename and the compaction); a line missing or changed is dropped, its number computed
// again. ExpandPlaced() turns placed results into ordinary line records, for a run that cannot
// reuse the placed file.
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

// A result's line in the output file a compacted journal refers to, or in a placed file.
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

// What a journal holds, read back.
struct JournalContents {
  std::string input;   // the fingerprint; empty: no header record (a new journal)
  std::string format;  // "text" or "json"
  std::optional<std::string> framework_id;
  std::vector<StoredResult> results;  // in journal order; a number at most once, here or in placed
  std::uint64_t valid_bytes = 0;      // the whole records; anything after is torn
  std::string located_in;             // compacted: the output file (a name in the state dir)
  std::vector<LocatedResult> located;  // compacted: the results' lines in it
  std::vector<JournaledBatch> open_batches;  // launched and not over, in launch order
  std::string placed_name;             // the latest placed-file record's file, empty if none
  std::string placed_layout;           // and its layout
  std::vector<LocatedResult> placed;   // the results placed in it (unchecked), in journal order
};

// Replays the journal open on `fd` (size `size`). Errors only for a journal that is whole but
// not ours (kCorruption); a torn or garbled tail ends the replay at valid_bytes.
Result<JournalContents> ReplayJournal(int fd, std::uint64_t size);

class StateStore {
 public:
  // Creates `dir` if needed, locks it for this process (a directory another live process
  // holds: kInvalidArgument naming its PID) and replays `dir`/journal. A new journal records
  // `fingerprint` and `format`; an existing one must have recorded the same (else
  // kInvalidArgument). Placed results are checked against their placed file here (placed()).
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
  // The placed file later placed results are in: the latest placed-file record's name (or, when
  // that file is gone and the one without its ".partial" suffix holds the placed lines, that
  // one's), empty if none; and its layout.
  const std::string& placed_name() const { return placed_name_; }
  const std::string& placed_layout() const { return placed_layout_; }
  // The results earlier runs placed in placed_name(), each found intact there at open, in
  // journal order, until ReleaseReplayed(). Their numbers are final as replayed()'s are.
  const std::vector<LocatedResult>& placed() const { return placed_; }
  void ReleaseReplayed() {
    std::vector<StoredResult>().swap(replayed_);
    std::vector<LocatedResult>().swap(placed_);
    std::vector<JournaledBatch>().swap(open_batches_);
    released_ = true;
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
  // Names the placed file (a plain name in `dir`: no '/', NUL or newline, not "." or "..", at
  // most 255 bytes) later AppendPlaced() results are in, and its layout (at most 255 bytes);
  // written and committed at once. The layout of the journal's placed file with its name, or
  // with its name without a ".partial" suffix (the file renamed: placed_name() after Open()
  // found the lines there), keeps the results placed earlier; the first writes nothing. Any
  // other name or layout starts afresh: the results placed earlier are no longer in placed()
  // and their numbers no longer final. kInvalidArgument for a name or layout out of bounds.
  Status BeginPlaced(const std::string& name, const std::string& layout);
  // A result whose line (with its '\n') is in the placed file at `line.at.offset`, of
  // `line.at.length` bytes, with CRC-32C `line.crc`; durable with the next Commit(). The caller
  // makes the placed file's bytes durable (fdatasync) before that Commit(). kInternal without
  // a BeginPlaced() in this run or a replayed placed file.
  Status AppendPlaced(const LocatedResult& line);
  // Turns the replayed placed results into ordinary line records, for a run that cannot reuse
  // the placed file (another name or layout, standard output): each line is read from
  // placed_name() and checked against its CRC (a line missing or changed is dropped, its number
  // computed again, as at open), and the journal is replaced at once by one holding the header,
  // the framework ID, the replayed line records, the launch records of open_batches() and the
  // expanded lines. Afterwards placed() and placed_name() are empty, replayed() holds every
  // result and read_fd() is the new journal's (so a sink is opened after this). Call it
  // before anything is appended in this run and before ReleaseReplayed() (else kInternal,
  // unless placed() is empty: then it does nothing).
  Status ExpandPlaced();
  // Makes everything appended so far durable: one fdatasync, none if all of it is already.
  // A failed sync fails every later Commit() and append: what it covered may be lost.
  Status Commit();
  // Commit() in two halves, for a sync on another thread: the journal's descriptor to
  // fdatasync (-1 if everything appended is durable or being synced already, or after a
  // failed sync), valid until the journal is compacted; then Synced() once that fdatasync
  // succeeded, or SyncFailed(). Records appended meanwhile are left to the next commit.
  int ToSync();
  void Synced();
  void SyncFailed(const Error& error);
  // The output `dir`/`name` is final and holds a line for every result in the journal: the
  // journal is replaced by one referring to those lines. A result without its line there
  // leaves the journal as it is (returns false). After a compaction nothing can be appended.
  Result<bool> Compact(const std::string& name);

  std::uint64_t syncs() const { return syncs_; }
  std::uint64_t size() const { return end_; }

 private:
  StateStore(std::string dir, int fd, int read_fd, int lock_fd)
      : dir_(std::move(dir)), fd_(fd), read_fd_(read_fd), lock_fd_(lock_fd) {}
  // A number final in the journal, and whether a placed result record holds it.
  struct Final {
    std::uint64_t n = 0;
    bool ok = false;
    bool placed = false;
  };

  Status Expand(const JournalContents& compacted);
  // Keeps the placed results whose lines are intact (placed_name_ set to the file holding them).
  void CheckPlaced(const JournalContents& replay);
  Status Write(char kind, std::uint64_t n, std::string_view payload);
  Status ReopenJournal();

  std::string dir_;
  int fd_ = -1;
  int read_fd_ = -1;
  int lock_fd_ = -1;  // holds the flock on `dir_`/lock
  std::uint64_t end_ = 0;
  // Appends counted: made durable up to `durable_`, handed to a sync (ToSync) up to `handed_`.
  std::uint64_t appended_ = 0;
  std::uint64_t durable_ = 0;
  std::uint64_t handed_ = 0;
  std::optional<Error> sync_failed_;
  std::uint64_t syncs_ = 0;
  std::optional<std::string> framework_id_;
  std::vector<StoredResult> replayed_;
  std::vector<JournaledBatch> open_batches_;
  std::vector<LocatedResult> placed_;
  std::string placed_name_;      // the file holding the placed lines
  std::string placed_layout_;
  std::string placed_recorded_;  // the name in the latest placed-file record
  std::uint64_t opened_end_ = 0;  // end_ after Open(): ExpandPlaced() needs nothing appended since
  bool released_ = false;
  std::string header_;  // the input record's payload
  std::vector<Final> finals_;  // every result in the journal
};

}  // namespace factorial::scheduler
