#pragma once

// Where results go: one line per input number, in input order, as text or JSON lines.
//
// The line encoder here is the only one: --format json lines and the --state-dir journal are
// the same JSON encoding. A ResultSink prints each result as soon as every earlier number is
// printed, then forgets it (only a count per distinct number stays), so a long run holds at
// most the results still waiting behind an unfinished number.
//
// Single-threaded: every call comes from the scheduler's event loop or after it stopped.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "factorial/status.hpp"
#include "scheduler.hpp"

namespace factorial::scheduler {

enum class LineFormat { kText, kJson };

// One result as one line, '\n' included. Text: "5! = 120", "5! failed: <why>" (line breaks
// in <why> become spaces). JSON: {"n":5,"status":"finished","factorial":"120","task_id":...,
// "agent":...,"seconds":...}; a failure has "status":"failed" and "error" instead of
// "factorial". Bytes that are not UTF-8 are replaced by U+FFFD.
std::string EncodeLine(const NumberResult& result, LineFormat format);
// The line for a number the run ended without: "5! unfinished" / {"n":5,"status":"unfinished"}.
std::string EncodeUnfinishedLine(std::uint64_t n, LineFormat format);
// Reads a JSON result line back (the journal). Fails on anything else, with the reason.
Result<NumberResult> DecodeJsonLine(std::string_view line);

class ResultSink {
 public:
  // Writes to `fd` (not owned, e.g. standard output), named `name` in errors.
  ResultSink(std::vector<std::uint64_t> order, LineFormat format, int fd, std::string name);
  // Writes to `path`.partial, renamed to `path` by Resume() or Finish(), so `path` is never
  // left empty or half-written by a run that dies. The previous `path` stays until then.
  static Result<std::unique_ptr<ResultSink>> OpenFile(std::vector<std::uint64_t> order, LineFormat format,
                                                      const std::string& path);
  ~ResultSink();
  ResultSink(const ResultSink&) = delete;
  ResultSink& operator=(const ResultSink&) = delete;

  // Records a final result and prints every line that is now due. A number added before
  // (the journal's results are added again by the scheduler) is ignored. After the first
  // failed write every call returns that error.
  Status Add(const NumberResult& result);
  // --state-dir: adds the journal's results, then (for a file) renames it into place at once,
  // so the file reflects the journal and later lines stream into it.
  Status Resume(const std::map<std::uint64_t, NumberResult>& journaled);
  // Ends the output: every number not printed yet gets its line, its result if it has one
  // (it waited behind an unfinished number), else the unfinished line. Then syncs a file
  // and renames it into place.
  Status Finish();

  std::size_t lines_written() const { return cursor_; }
  std::size_t results_held() const { return held_; }

 private:
  struct Entry {
    std::size_t lines_left = 0;  // occurrences of this number not printed yet
    bool added = false;
    std::optional<NumberResult> result;  // kept only while a line still needs it
  };
  ResultSink(std::vector<std::uint64_t> order, LineFormat format, int fd, std::string name, std::string path);
  Status WriteDue(bool finishing);
  Status Write(const std::string& line);
  Status Commit();

  std::vector<std::uint64_t> order_;
  LineFormat format_;
  int fd_;
  bool owns_fd_ = false;
  std::string name_;
  std::string path_;  // empty: not a file we rename
  bool committed_ = false;
  std::unordered_map<std::uint64_t, Entry> entries_;
  std::size_t cursor_ = 0;  // lines written
  std::size_t held_ = 0;    // results waiting behind an earlier number
  std::optional<Error> failed_;
};

}  // namespace factorial::scheduler
