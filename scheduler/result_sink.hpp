#pragma once

// Where results go: one line per input number, as text or JSON lines, in input order (or in
// completion order with --order completion).
//
// The line encoder here is the only one: --format json lines and the --state-dir journal are
// the same JSON encoding. A ResultSink works on Workload ids: a result is encoded once, its
// lines written as soon as every earlier input line is written, and its bytes kept only while
// a later line still needs them. Held-back bytes past `hold_bytes` go to an unlinked temporary
// file and are read back when due, so memory stays bounded whatever the run: the held lines
// up to `hold_bytes`, a 1 MiB output buffer, 4 bytes per distinct number and 32 bytes per
// result held back.
//
// Placed output (SinkOptions::place_lines: text lines in input order into a file of ours): every
// line's length is known from its number before its result exists ("<n>! = " + the digit count
// of n! + "\n"), so each line is written at its final offset as soon as its result arrives, and
// nothing is held for input order. The file is renamed into place at the end as it is. A line
// that does not fit the layout (a failure, an unfinished number, a digit count the prediction
// was unsure of) is held as before, and the end then writes the file once more in input order
// from the placed one: correct, at the old cost, and only for such runs.
//
// Single-threaded: every call comes from the scheduler's event loop or after it stopped.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "factorial/status.hpp"
#include "number_result.hpp"
#include "workload.hpp"

namespace factorial::scheduler {

enum class LineFormat { kText, kJson };
enum class OutputOrder { kInput, kCompletion };

// One result as one line, '\n' included. Text: "5! = 120", "5! failed: <why>" (line breaks
// in <why> become spaces). JSON: {"n":5,"status":"finished","factorial":"120","task_id":...,
// "agent":...,"agent_hostname":...,"seconds":...}; a failure has "status":"failed" and "error"
// instead of "factorial". Bytes that are not UTF-8 are replaced by U+FFFD.
std::string EncodeLine(const NumberResult& result, LineFormat format);
// The same, appended to `out`.
void AppendLine(const NumberResult& result, LineFormat format, std::string& out);
// The line of a result whose digits are in a slice, without them: returns where they go.
std::size_t AppendLineAround(const NumberResult& result, LineFormat format, std::string& out);
// The line for a number the run ended without: "5! unfinished" / {"n":5,"status":"unfinished"}.
std::string EncodeUnfinishedLine(std::uint64_t n, LineFormat format);
// Reads a JSON result line back (the journal). Fails on anything else, with the reason.
Result<NumberResult> DecodeJsonLine(std::string_view line);

struct SinkOptions {
  OutputOrder order = OutputOrder::kInput;
  // Bytes of lines held back for input order kept in memory; more go to the spill file.
  std::size_t hold_bytes = std::size_t{256} << 20;
  std::string spill_dir;  // the spill file's directory; empty: $TMPDIR, else /tmp
  // true: every Add ends with its lines written. false: lines wait in the output buffer until
  // it fills or Flush() (the caller flushes once per batch of results).
  bool flush_each_add = true;
  // Told once when the spill file cannot be made or written (results then stay in memory).
  std::function<void(const std::string&)> warn;
  // Placed output (see the top), for a text file in input order opened by OpenFile, when its
  // lines are long enough on average for a write each (placed() says whether it is).
  bool place_lines = false;
  // The average line length from which lines are placed (W2: 36 KB; W1, a million lines of
  // 1.2 KB, a thousand of each number, goes out in order).
  std::uint64_t place_from_average = 4096;
  // Placed output: reuse the file left by an earlier run with the same layout (its lines the
  // journal locates stay where they are: ResumePlaced) instead of truncating it.
  bool reuse_placed = false;
  // Placed output that needs the ordered rewrite at the end keeps the placed file (the journal
  // refers to its lines until it is compacted) instead of deleting it.
  bool keep_placed = false;
  // --state-dir: the journal open for reading, where every result's line already is (results
  // come through AddStored). Lines held back are read from it when due, never copied to
  // memory or a spill file.
  int store_fd = -1;
};

struct StoredResult;

// Where a placed result's first line went, and the CRC-32C of its bytes.
struct PlacedLine {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint32_t crc = 0;
};

// The length of n's text line when it succeeds, as the placed output lays it out (the digit
// count of n! from n; a number whose count is not certain gets one that no result has).
std::uint64_t PredictedTextLineLength(std::uint64_t n);

class ResultSink {
 public:
  // Writes to `fd` (not owned, e.g. standard output), named `name` in errors.
  ResultSink(std::shared_ptr<const Workload> workload, LineFormat format, int fd, std::string name,
             SinkOptions options = {});
  // Writes to `path`.partial, renamed to `path` by Resume() or Finish(), so `path` is never
  // left empty or half-written by a run that dies. The previous `path` stays until then.
  static Result<std::unique_ptr<ResultSink>> OpenFile(std::shared_ptr<const Workload> workload, LineFormat format,
                                                      const std::string& path, SinkOptions options = {});
  ~ResultSink();
  ResultSink(const ResultSink&) = delete;
  ResultSink& operator=(const ResultSink&) = delete;

  // Records a final result and writes every line that is now due. A number added before
  // (the journal's results are added again by the scheduler) or not in the input is ignored.
  // After the first failed write every call returns that error.
  Status Add(const NumberResult& result);
  // The same for a result whose `line` (this sink's format, '\n' included) is in the journal
  // (SinkOptions::store_fd) at `stored`. `line` may be empty (not in memory): read from there.
  Status AddStored(const StoredResult& stored, std::string_view line);
  // Writes out the buffered lines.
  Status Flush();
  // --state-dir: adds the journal's results, then (for a file) renames it into place at once,
  // so the file reflects the journal and later lines stream into it.
  Status Resume(const std::map<std::uint64_t, NumberResult>& journaled);
  // The same for results in the journal (SinkOptions::store_fd).
  Status Resume(const std::vector<StoredResult>& journaled);

  // Placed output.
  bool placed() const { return placement_ != nullptr; }
  // The layout's name: equal for equal inputs laid out by equal predictions.
  const std::string& layout() const;
  // The file being placed into (`path`.partial).
  const std::string& placed_path() const;
  // Empties the placed file when it is not reused (SinkOptions::reuse_placed left it as it was).
  Status DiscardPlaced();
  // Writes a finished result's lines at their places; they count as resolved only once
  // Resolve(n) says they are durable. nullopt: the result does not fit the layout (or is not
  // ok, or the output is not placed): the caller journals it as a line and adds it with
  // AddStored. `with_crc`: the CRC of the line is wanted (a slice's digits must carry theirs).
  Result<std::optional<PlacedLine>> Place(const NumberResult& result, bool with_crc);
  // The placed result of `n` is durable: it counts as resolved and written.
  void Resolve(std::uint64_t n);
  // The placed file's bytes to disk (before the journal that locates them is committed).
  Status SyncPlaced();
  // SyncPlaced() in two halves, for a sync on another thread: the placed bytes written out,
  // and the descriptor to fdatasync (-1: nothing was written since the last sync); then, if
  // that sync failed, PlacedSyncFailed(): the sink fails as if it had failed here (the
  // kernel reports a writeback error once, so a later sync would not).
  Result<int> PlacedToSync();
  void PlacedSyncFailed(const Error& error);
  // Placed results of an earlier run, still in the reused file (SinkOptions::reuse_placed),
  // checked by the journal: resolved at once (their repeats in the input are copied).
  Status ResumePlaced(const std::vector<std::pair<std::uint64_t, PlacedLine>>& placed);
  // Placed output: Finish() had to write the ordered file from the placed one (kept, with
  // SinkOptions::keep_placed, at placed_path()).
  bool rewrote() const { return rewrote_; }
  // Ends the output: every line not written yet is, with its result if it has one (it waited
  // behind an unfinished number), else the unfinished line. Then syncs a file and renames it
  // into place.
  Status Finish();

  // The output's descriptor (until Finish()) and the bytes written to it so far, for
  // Writeback; synced_at_end(): a file of ours (OpenFile), which Finish() syncs.
  int fd() const { return fd_; }
  std::uint64_t bytes_out() const { return bytes_out_; }
  bool synced_at_end() const { return !path_.empty(); }
  // Placed output: told of each region of the placed file (kRegionBytes, aligned; the last
  // one shorter) once every byte of it was written in this run, so that its writeback can
  // start then: a region written back before it is whole would be written back again.
  static constexpr std::uint64_t kRegionBytes = std::uint64_t{1} << 20;
  void OnRegionWritten(std::function<void(std::uint64_t offset, std::uint64_t length)> written);

  std::size_t lines_written() const { return lines_written_; }
  // Input lines whose number has a result (written or not): the progress.
  std::size_t lines_resolved() const { return lines_resolved_; }
  std::size_t lines_failed() const { return lines_failed_; }  // of those, lines of failed numbers
  std::size_t results_held() const { return held_count_; }
  std::size_t held_bytes() const { return held_bytes_; }  // in memory
  std::size_t spilled_results() const { return spilled_results_; }
  std::uint64_t spilled_bytes() const { return spill_end_; }
  std::uint64_t spill_reads() const { return spill_reads_; }  // lines read back from the spill file

 private:
  // A result held back: its line in memory (`data`), or in the spill file at `offset`; or,
  // with a `file`, the line around its digits in `data` (the digits go at `head`) and the
  // digits in `file` at `offset`.
  struct Held {
    std::unique_ptr<char[]> data;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;  // of `data`, or of the line in the spill file
    std::uint32_t lines_left = 0;
    std::uint32_t head = 0;
    std::shared_ptr<const HeldFile> file;
    std::uint64_t file_length = 0;
  };
  static constexpr std::uint32_t kAbsent = 0xffffffffu;    // no result yet
  static constexpr std::uint32_t kReleased = 0xfffffffeu;  // every line written
  static constexpr std::uint32_t kIncoming = 0xfffffffdu;  // the result being added: `line_`
  static constexpr std::uint32_t kPlaced = 0xfffffffcu;    // placed, not yet durable

  ResultSink(std::shared_ptr<const Workload> workload, LineFormat format, int fd, std::string name, std::string path,
             SinkOptions options);
  Status AddLine(std::uint64_t n, bool ok, std::string_view line, const StoredResult* stored);
  Status AddSlice(Workload::Id id, const NumberResult& result);
  Status Commit();
  Status WriteDue(bool finishing);
  void Hold(Workload::Id id, Held held);
  bool Spill(std::string_view line, std::uint64_t& offset);
  void Warn(const std::string& message);
  Status EmitHeld(const Held& held);
  Status CopyOut(int from, std::uint64_t offset, std::uint64_t length);
  Status Emit(std::string_view bytes);  // a line
  Status Put(std::string_view bytes);   // a part of one
  Status WriteFully(const char* data, std::size_t size);
  Status Fail(std::string message);
  // Placed output.
  struct Placement;
  void LayOut();
  void Reserve();
  Status PlaceBytes(std::uint64_t at, std::string_view bytes);
  Status PlaceCopy(int from, std::uint64_t offset, std::uint64_t length, std::uint64_t at);
  void CountPlaced(std::uint64_t at, std::uint64_t length);
  Status FlushPlaced();
  Status WriteAt(std::uint64_t at, const char* data, std::size_t size);
  Status PlaceStored(Workload::Id id, const StoredResult& stored, std::string_view line);
  Status CopyRepeats(Workload::Id id, std::uint64_t length);
  Status FinishPlaced();
  Status RewriteOrdered();

  std::shared_ptr<const Workload> workload_;
  LineFormat format_;
  SinkOptions options_;
  int fd_;
  bool owns_fd_ = false;
  std::string name_;
  std::string path_;  // empty: not a file we rename
  bool output_is_plain_file_;  // copy_file_range may write to it
  bool committed_ = false;
  std::uint64_t bytes_out_ = 0;

  std::vector<std::uint32_t> slot_;  // per id: kAbsent, kReleased, kIncoming or an index into held_
  std::vector<Held> held_;
  std::vector<std::uint32_t> free_held_;
  std::size_t held_count_ = 0;
  std::size_t held_bytes_ = 0;
  std::string line_;  // Add's encoding buffer
  std::string_view incoming_;  // the line of the result being added
  std::uint32_t incoming_lines_left_ = 0;

  std::size_t cursor_ = 0;  // input positions written (input order)
  std::size_t lines_written_ = 0;
  std::size_t lines_resolved_ = 0;
  std::size_t lines_failed_ = 0;

  std::unique_ptr<char[]> buffer_;
  std::size_t buffered_ = 0;

  int spill_fd_ = -1;
  bool spill_broken_ = false;
  std::uint64_t spill_end_ = 0;
  std::size_t spilled_results_ = 0;
  std::uint64_t spill_reads_ = 0;
  bool copy_range_broken_ = false;  // copy_file_range refused once: read and write instead
  std::unique_ptr<Placement> placement_;
  bool untruncated_ = false;  // opened as it was (SinkOptions::reuse_placed): DiscardPlaced empties it
  bool rewrote_ = false;
  std::optional<Error> failed_;
};

}  // namespace factorial::scheduler
