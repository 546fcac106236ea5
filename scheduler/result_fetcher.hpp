#pragma once

// Fetches results too large to travel in a status update: the executor leaves them in result
// files in the task's sandbox and names each (path, size, digest; see result_codec.hpp); this
// reads a file from the agent's `/files/download` endpoint and checks it before anyone sees it.
// Loop thread only; `loop` must outlive this. On destruction, fetches in flight are cancelled
// and those waiting their turn dropped: neither calls back.
// Each piece is checked (framing, digits, hash) as libcurl hands it over, while it is in the
// core's cache, and stored once; the entries are handed on when the whole file checks out.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "factorial/event_loop.hpp"
#include "factorial/messages.hpp"
#include "factorial/result_codec.hpp"
#include "factorial/status.hpp"
#include "download_memory.hpp"
#include "number_result.hpp"

namespace factorial::scheduler {

class ResultFetcher {
 public:
  // `slice_crc32c`: each slice handed on carries its digits' CRC-32C, taken in the pass that
  // checks them. `memory_budget`: bytes of downloads held in memory at most (0: every
  // download goes to a temp file).
  ResultFetcher(EventLoop& loop, TlsOptions tls, std::optional<std::pair<std::string, std::string>> credential,
                bool slice_crc32c = false, std::size_t memory_budget = DownloadMemory::DefaultBudget());
  ~ResultFetcher();
  ResultFetcher(const ResultFetcher&) = delete;
  ResultFetcher& operator=(const ResultFetcher&) = delete;

  // Offers say where each agent's HTTP endpoint is.
  void LearnAgent(const v1::Offer& offer);
  bool KnowsAgent(const std::string& agent_id) const { return agent_urls_.contains(agent_id); }
  // The agent's http(s)://host:port, empty if not known; journaled with each launch, so a
  // restarted scheduler can fetch an adopted task's files before the agent offers again.
  std::string AgentUrl(const std::string& agent_id) const {
    auto it = agent_urls_.find(agent_id);
    return it == agent_urls_.end() ? std::string() : it->second;
  }
  // An address from the journal; an offer's is newer and stays.
  void RememberAgent(const std::string& agent_id, const std::string& url) {
    if (!url.empty()) agent_urls_.emplace(agent_id, url);
  }

  // A batch's result file (result_file.hpp): the download goes to memory while the
  // budget allows (download_memory.hpp), else to an unlinked temp file in $TMPDIR; it is
  // parsed as it comes, and a 24-byte index entry per number says where its
  // digits are, so memory is bounded whatever the file's size. `accept(n)` vets each entry as it
  // starts (nullopt: n is not expected here, and the file is rejected); each entry must hold
  // exactly n!'s number of digits, and no number may come twice. Only once the transfer
  // ended and the size, the whole-file digest and the framing's own trailer all check out,
  // `accept` vets every entry (loop thread), then `on_entry(id, digits, slice)` gets each entry
  // in file order: a big one as a slice of the file (which stays open while a slice of it
  // lives), a small one read into `digits`; then `done(ok)`. A file that fails any check
  // delivers nothing, and `done` says why.
  using Accept = std::function<std::optional<std::uint32_t>(std::uint64_t n)>;
  using OnEntry = std::function<void(std::uint32_t id, std::string digits, std::optional<DigitsSlice> slice)>;
  // Downloads wait in order for their turn: at most kDownloadsPerAgent at once from one agent
  // and kDownloadsInFlight in all (`downloading()`, `waiting()`). One loopback connection
  // already brings a file faster than it is checked, and each download in flight holds a
  // block of memory, first touched page by page.
  void FetchFile(const std::string& agent_id, const ResultFile& file, Accept accept, OnEntry on_entry,
                 std::function<void(const Status&)> done);
  static constexpr std::size_t kDownloadsPerAgent = 2;
  static constexpr std::size_t kDownloadsInFlight = 8;
  std::size_t downloading() const { return in_flight_.size(); }
  std::size_t waiting() const { return queued_.size(); }

 private:
  struct Queued {
    std::string agent_id;
    std::string url;  // the agent's http(s)://host:port when it was asked for (if none is known later)
    ResultFile file;
    Accept accept;
    OnEntry on_entry;
    std::function<void(const Status&)> done;
  };
  // Starts the waiting downloads whose agent has room, in order, while there is room in all.
  void StartWaiting();
  void Start(Queued fetch);

  EventLoop& loop_;
  TlsOptions tls_;
  std::optional<std::pair<std::string, std::string>> credential_;
  std::map<std::string, std::string> agent_urls_;  // agent id -> http://host:port
  std::set<EventLoop::RequestId> in_flight_;
  std::map<std::string, std::size_t> agent_downloads_;  // agent id -> downloads in flight
  std::deque<Queued> queued_;
  std::string temp_dir_;  // $TMPDIR, else /tmp
  bool slice_crc32c_;
  DownloadMemory memory_;
};

}  // namespace factorial::scheduler
