// Fuzzes the --state-dir journal replay (scheduler/state_store.hpp): what a restarted scheduler
// reads back from a file a crash may have torn at any byte or a disk may have garbled.
// Properties:
//  1. Never crashes, whatever the bytes.
//  2. What it keeps is inside the file: valid_bytes <= size, every result's line lies within
//     the valid prefix, no number twice (among lines, located and placed results); placed
//     results only with a placed file named, in the state directory; each open task (launched, not over) once, with at
//     least one number, and its launch record encodes back to a record that decodes the same.
//  3. A tear after the valid prefix changes nothing: replaying the valid prefix alone gives the
//     same outcome (the same results, located and placed results, placed file and layout,
//     framework ID and input, or the same error).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_check.hpp"
#include "state_store.hpp"

namespace {

using factorial::scheduler::JournalContents;
using factorial::scheduler::ReplayJournal;

using factorial::fuzz::Check;

// The bytes as a file (the replay reads with pread).
struct MemFile {
  MemFile(const std::uint8_t* data, std::size_t size) {
    fd = ::memfd_create("journal", MFD_CLOEXEC);
    Check(fd >= 0);
    std::size_t done = 0;
    while (done < size) {
      ssize_t n = ::write(fd, data + done, size - done);
      Check(n > 0);
      done += static_cast<std::size_t>(n);
    }
  }
  ~MemFile() { ::close(fd); }
  int fd = -1;
};

using factorial::scheduler::LocatedResult;

bool SameLocated(const std::vector<LocatedResult>& a, const std::vector<LocatedResult>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto &x = a[i], &y = b[i];
    if (x.at.n != y.at.n || x.at.ok != y.at.ok || x.at.offset != y.at.offset || x.at.length != y.at.length ||
        x.crc != y.crc) {
      return false;
    }
  }
  return true;
}

bool Same(const JournalContents& a, const JournalContents& b) {
  if (a.input != b.input || a.format != b.format || a.framework_id != b.framework_id ||
      a.valid_bytes != b.valid_bytes || a.results.size() != b.results.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.results.size(); ++i) {
    const auto &x = a.results[i], &y = b.results[i];
    if (x.n != y.n || x.ok != y.ok || x.offset != y.offset || x.length != y.length) return false;
  }
  if (a.located_in != b.located_in || !SameLocated(a.located, b.located) || a.placed_name != b.placed_name ||
      a.placed_layout != b.placed_layout || !SameLocated(a.placed, b.placed)) {
    return false;
  }
  if (a.open_batches.size() != b.open_batches.size()) return false;
  for (std::size_t i = 0; i < a.open_batches.size(); ++i) {
    const auto &x = a.open_batches[i], &y = b.open_batches[i];
    if (x.task_id != y.task_id || x.agent_id != y.agent_id || x.hostname != y.hostname ||
        x.agent_url != y.agent_url || x.cpus != y.cpus || x.mem != y.mem ||
        x.launched_unix_ms != y.launched_unix_ms || x.numbers != y.numbers) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  MemFile file(data, size);
  auto replay = ReplayJournal(file.fd, size);
  if (!replay.ok()) {
    Check(!replay.error().message.empty());
    return 0;
  }
  Check(replay->valid_bytes <= size);
  std::set<std::uint64_t> numbers;
  for (const auto& r : replay->results) {
    Check(r.offset <= replay->valid_bytes && r.length <= replay->valid_bytes - r.offset);
    Check(numbers.insert(r.n).second);
  }
  for (const auto& l : replay->located) Check(numbers.insert(l.at.n).second);
  for (const auto& p : replay->placed) Check(numbers.insert(p.at.n).second);
  if (!replay->placed.empty()) Check(!replay->placed_name.empty());
  if (!replay->placed_name.empty()) {
    Check(replay->placed_name.size() <= 255 && replay->placed_layout.size() <= 255 &&
          replay->placed_name.find_first_of(std::string("/\0\n", 3)) == std::string::npos &&
          replay->placed_name != "." && replay->placed_name != "..");
  }
  std::set<std::string> tasks;
  for (const auto& batch : replay->open_batches) {
    Check(tasks.insert(batch.task_id).second && !batch.numbers.empty());
    auto again = factorial::scheduler::DecodeBatch(factorial::scheduler::EncodeBatch(batch));
    Check(again.ok() && again->numbers == batch.numbers && again->task_id == batch.task_id);
  }
  if (replay->valid_bytes == 0) {
    Check(replay->input.empty() && replay->results.empty() && replay->open_batches.empty() &&
          replay->placed_name.empty());
  }
  MemFile prefix(data, static_cast<std::size_t>(replay->valid_bytes));
  auto again = ReplayJournal(prefix.fd, replay->valid_bytes);
  Check(again.ok() && Same(*replay, *again));
  return 0;
}
