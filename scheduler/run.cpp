#include "run.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include <fcntl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "factorial/curl_loop.hpp"
#include "factorial/logging.hpp"
#include "factorial/sd_notify.hpp"
#include "factorial/signals.hpp"
#include "call_order.hpp"
#include "commit_queue.hpp"
#include "download_memory.hpp"
#include "job_monitor.hpp"
#include "progress_line.hpp"
#include "scheduler.hpp"
#include "state_store.hpp"
#include "writeback.hpp"

namespace factorial::scheduler {
namespace {

#ifndef FACTORIAL_VERSION
#define FACTORIAL_VERSION "0.0.0"
#endif

// Input lines with a result, of all, at the recent pace; the ETA and share from the work
// estimate (estimated CPU seconds, running tasks included).
std::string ProgressText(const ResultSink& sink, std::size_t total, RateMeter& meter,
                         const WorkEstimator::Estimate& work) {
  meter.Sample(RateMeter::Clock::now(), sink.lines_resolved());
  std::string text = FormatProgress(sink.lines_resolved(), total, meter.rate(), work.eta, sink.lines_failed());
  if (work.total > 0 && sink.lines_resolved() < total) {
    auto permille = static_cast<long>(std::min(1.0, work.done / work.total) * 1000);
    text += fmt::format(", work {}.{}%", permille / 10, permille % 10);
  }
  return text;
}

// What the status page lists as the job's settings.
std::vector<std::pair<std::string, std::string>> Settings(const RunConfig& run) {
  const SchedulerConfig& c = run.scheduler;
  std::string masters;
  for (const auto& m : c.masters) masters += (masters.empty() ? "" : ", ") + m;
  if (c.zookeeper) masters = "ZooKeeper";
  return {{"numbers", std::to_string(run.workload->size())},
          {"master", masters},
          {"user", c.framework.user},
          {"role", c.framework.roles.empty() ? "" : c.framework.roles[0]},
          {"task cpus", fmt::format("{:g}", c.batch.task_cpus)},
          {"batch seconds", fmt::format("{:g}", c.batch.batch_seconds)},
          {"batch size", c.batch.batch_size == 0 ? "as the cost model decides" : std::to_string(c.batch.batch_size)},
          {"max retries", std::to_string(c.max_retries)},
          {"output", run.output.empty() ? "standard output" : run.output},
          {"format", run.format == LineFormat::kJson ? "json" : "text"},
          {"order", run.order == OutputOrder::kCompletion ? "completion" : "input"},
          {"state dir", run.state_dir.empty() ? "none" : run.state_dir}};
}

// 1234567 -> "1.2 MB".
std::string HumanBytes(std::uint64_t bytes) {
  if (bytes < 1000) return std::to_string(bytes) + " B";
  const char* units[] = {"kB", "MB", "GB", "TB", "PB"};
  double value = static_cast<double>(bytes) / 1000;
  int unit = 0;
  while (value >= 1000 && unit < 4) {
    value /= 1000;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, units[unit]);
}

// With --no-color, log lines on a terminal carry no escape sequences either.
void TurnOffLogColors() {
  for (auto& sink : spdlog::default_logger()->sinks()) {
    if (auto* colored = dynamic_cast<spdlog::sinks::stderr_color_sink_mt*>(sink.get())) {
      colored->set_color_mode(spdlog::color_mode::never);
    }
  }
}

// A closed standard descriptor would be reused by the next socket or file, and results or
// logs written "to stdout" would land there: each closed one is opened on /dev/null.
// Returns whether standard output was closed (results then need --output).
bool ReopenClosedStandardDescriptors() {
  bool stdout_closed = ::fcntl(STDOUT_FILENO, F_GETFD) == -1;
  for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
    if (::fcntl(fd, F_GETFD) != -1) continue;
    int null = ::open("/dev/null", O_RDWR);  // takes the lowest free number: `fd` itself, or lower
    if (null >= 0 && null != fd) {
      ::dup2(null, fd);
      ::close(null);
    }
  }
  return stdout_closed;
}

// The results' destination: standard output or --output, fed from the journal when resuming.
// `reuse_placed`: a placed file left by an earlier run is opened as it is (the caller checks
// its layout, then keeps or empties it).
Result<std::unique_ptr<ResultSink>> OpenSink(const RunConfig& run, const StateStore* store, bool reuse_placed) {
  SinkOptions sink_options;
  sink_options.order = run.order;
  sink_options.hold_bytes = run.hold_bytes;
  sink_options.spill_dir = run.spill_dir;
  sink_options.flush_each_add = false;  // flushed once per batch of results, by JobDriver
  sink_options.warn = [](const std::string& message) { spdlog::warn("{}", message); };
  if (store) sink_options.store_fd = store->read_fd();
  // Text lines in input order are written where they belong as results arrive.
  sink_options.place_lines = true;
  sink_options.reuse_placed = reuse_placed;
  // The journal refers to the placed file's lines until it is compacted.
  sink_options.keep_placed = reuse_placed;
  if (run.output.empty()) {
    return std::make_unique<ResultSink>(run.workload, run.format, STDOUT_FILENO, "standard output", sink_options);
  }
  return ResultSink::OpenFile(run.workload, run.format, run.output, sink_options);
}

// Whether `path` is a file directly in the state directory (the journal names files there).
bool InStateDir(const std::string& path, const std::string& state_dir) {
  std::error_code ec;
  auto file = std::filesystem::weakly_canonical(path, ec);
  if (ec) return false;
  auto dir = std::filesystem::weakly_canonical(state_dir, ec);
  return !ec && file.parent_path() == dir;
}

// The outputs of a run: the sink, and with --state-dir whether the journal refers to the
// sink's placed lines (the output is placed in the state directory) instead of holding them.
struct Outputs {
  std::unique_ptr<ResultSink> sink;
  bool placed_in_store = false;
};

// Opens the sink and brings it up to the journal: an earlier run's placed file is reused when
// this run lays the output out the same way, else its lines are copied into the journal first
// (ExpandPlaced) and the sink starts afresh from the journal.
Result<Outputs> OpenOutputs(const RunConfig& run, StateStore* store) {
  bool candidate = store != nullptr && !run.output.empty() && run.format == LineFormat::kText &&
                   run.order == OutputOrder::kInput && InStateDir(run.output, run.state_dir);
  auto opened = OpenSink(run, store, candidate);
  if (!opened.ok()) return opened.error();
  Outputs outputs{std::move(opened).value(), false};
  if (store == nullptr) return outputs;
  std::string placed_file = std::filesystem::path(outputs.sink->placed_path()).filename().string();
  bool reusable = candidate && outputs.sink->placed() && store->placed_name() == placed_file &&
                  store->placed_layout() == outputs.sink->layout();
  if (!reusable && !store->placed_name().empty()) {
    outputs.sink.reset();  // its file may hold the very lines to expand
    if (auto expanded = store->ExpandPlaced(); !expanded.ok()) return expanded.error();
    opened = OpenSink(run, store, false);
    if (!opened.ok()) return opened.error();
    outputs.sink = std::move(opened).value();
  } else if (!reusable && candidate) {
    if (auto discarded = outputs.sink->DiscardPlaced(); !discarded.ok()) return discarded.error();
  }
  ResultSink& sink = *outputs.sink;
  if (candidate && sink.placed()) {
    if (auto begun = store->BeginPlaced(placed_file, sink.layout()); !begun.ok()) return begun.error();
    outputs.placed_in_store = true;
  }
  if (reusable) {
    std::vector<std::pair<std::uint64_t, PlacedLine>> placed;
    placed.reserve(store->placed().size());
    for (const auto& line : store->placed()) placed.emplace_back(line.at.n, PlacedLine{line.at.offset, line.at.length, line.crc});
    if (auto resumed = sink.ResumePlaced(placed); !resumed.ok()) return resumed.error();
    spdlog::info("{} result line(s) already placed in {} are kept", placed.size(), Excerpt(sink.placed_path()));
  }
  if (auto resumed = sink.Resume(store->replayed()); !resumed.ok()) return resumed.error();
  return outputs;
}

Result<std::unique_ptr<StatusServer>> StartStatusServer(RunConfig& run) {
  auto started = StatusServer::Start(*run.http);
  if (!started.ok()) return started.error();
  auto server = std::move(started).value();
  const std::string& host = run.http_advertise_host;
  run.scheduler.framework.webui_url =
      fmt::format("http://{}:{}/", host.find(':') != std::string::npos ? "[" + host + "]" : host, server->port());
  spdlog::info("status page at {} (listening on {}:{})", *run.scheduler.framework.webui_url, run.http->address,
               server->port());
  return server;
}

// A finished job's output in the state directory holds every result: the journal is
// compacted to refer to it, so the directory keeps the digits once. A placed output renamed
// into place as it was is what the journal refers to already: it is only named anew (one small
// record, no reading of the output).
void CompactJournalIntoOutput(StateStore& store, const RunConfig& run, const ResultSink& sink, bool placed_in_store) {
  if (!InStateDir(run.output, run.state_dir)) return;
  auto output = std::filesystem::weakly_canonical(run.output);
  if (placed_in_store && !sink.rewrote()) {
    if (auto renamed = store.BeginPlaced(output.filename().string(), sink.layout()); !renamed.ok()) {
      spdlog::warn("the journal still names {}: {}", Excerpt(sink.placed_path()), renamed.error().message);
    }
    return;
  }
  auto compacted = store.Compact(output.filename().string());
  if (!compacted.ok()) {
    spdlog::warn("the journal stays as it is: {}", compacted.error().message);
  } else if (*compacted) {
    spdlog::debug("journal compacted: it refers to the lines of {}", run.output);
    // A placed file the output was rewritten from is no longer referred to.
    if (sink.placed() && sink.rewrote()) ::unlink(sink.placed_path().c_str());
  }
}

// The closing summary, in input lines as the output counts them.
void LogSummary(const ResultSink& sink, std::size_t total, double seconds, const JobActivity& activity) {
  std::size_t resolved = sink.lines_resolved();
  std::size_t unfinished = total - resolved;
  spdlog::info("{} done, {} failed{} in {:.1f} s ({:.1f} numbers/s); {:.1f} cpu s held on the cluster, {} of results",
               resolved - sink.lines_failed(), sink.lines_failed(),
               unfinished > 0 ? ", " + std::to_string(unfinished) + " unfinished" : std::string(), seconds,
               seconds > 0 ? static_cast<double>(resolved) / seconds : 0.0, activity.cpu_seconds(),
               HumanBytes(activity.counters().result_bytes));
}

// Drives the job once its outputs are open: the event loop, the scheduler, the flow of
// results into the journal and the sink, signals, and progress reporting. Members are
// built in declaration order and torn down in reverse: the loop outlives the scheduler and
// the timers that post to it.
class JobDriver {
 public:
  JobDriver(RunConfig& run, StateStore* store, ResultSink& sink, bool placed_in_store, StatusServer* status_server)
      : run_(run),
        store_(store),
        sink_(sink),
        placed_in_store_(placed_in_store),
        status_server_(status_server),
        settings_(Settings(run)),
        loop_(kConnectionsPerHost),
        // On a terminal, a progress line on stderr, kept out of the way of log lines and, when
        // standard output is a terminal too, of results.
        progress_(stderr, run.progress && ::isatty(STDERR_FILENO) == 1),
        results_on_terminal_(progress_.enabled() && run.output.empty() && ::isatty(STDOUT_FILENO) == 1),
        last_commit_(loop_.Now() - kCommitEvery),
        total_(run.workload->size()) {}

  int Run() {
    CreateScheduler();
    WatchSignals();
    StartReporting();
    auto started = std::chrono::steady_clock::now();
    // A file the end syncs is written back as it grows (standard output is left alone): a
    // placed one region by region as each is whole, else every 32 MiB.
    if (sink_.synced_at_end()) {
      writeback_ = std::make_unique<Writeback>(sink_.fd());
      sink_.OnRegionWritten([this](std::uint64_t offset, std::uint64_t length) { writeback_->Whole(offset, length); });
    }
    if (store_) syncer_.emplace();
    scheduler_->Start();
    if (store_) store_->ReleaseReplayed();  // the sink and the scheduler have taken what they need
    loop_.Run();
    progress_.Close();
    SdNotify("STOPPING=1");
    FinishOutputs();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    LogSummary(sink_, total_, seconds, scheduler_->activity());
    return output_failed_ && exit_code_ == kExitOk ? kExitFailed : exit_code_;
  }

 private:
  // Results of one event (a batch) are buffered and written together once it is handled.
  // With --state-dir each result's line is appended to the journal at once, and the results
  // appended meanwhile are committed with one fdatasync at most every kCommitEvery; only then
  // do they reach the output and the progress: nothing counts as done before it is durable.
  static constexpr auto kCommitEvery = std::chrono::milliseconds(100);
  struct Uncommitted {
    StoredResult stored;
    std::string line;
    bool placed = false;  // written in the sink's placed file, which the journal refers to
  };

  // The first output error is logged and stops the job; later ones add nothing.
  void OutputError(const Status& status) {
    if (status.ok() || output_failed_) return;
    output_failed_ = true;
    spdlog::error("{}; stopping", status.error().message);
    loop_.Post([this] { scheduler_->Interrupt(kExitFailed); });
  }

  template <typename Write>
  Status AroundProgress(Write write) {
    if (!results_on_terminal_) return write();
    progress_.Erase();
    auto status = write();
    progress_.Redraw();
    return status;
  }

  // The last commit, after the loop: synced here, its waiters dropped.
  Status Commit() {
    if (!commits_.has_items()) return OkStatus();
    // The placed lines first: the journal records that refer to them must not be durable
    // before they are.
    if (placed_in_store_) {
      if (auto synced = sink_.SyncPlaced(); !synced.ok()) return synced;
    }
    if (auto synced = store_->Commit(); !synced.ok()) return synced;
    last_commit_ = loop_.Now();
    return Durable(commits_.TakeItems());
  }

  // Committed results count as done: placed ones resolved, the others added from the journal.
  Status Durable(const std::vector<Uncommitted>& results) {
    for (const auto& pending : results) {
      if (pending.placed) {
        sink_.Resolve(pending.stored.n);
      } else if (auto added = sink_.AddStored(pending.stored, pending.line); !added.ok()) {
        return added;
      }
    }
    return OkStatus();
  }

  // --state-dir, while the loop runs: the commit of what was appended since the last starts
  // here and ends on the syncer's thread (the placed bytes, then the journal), so the loop
  // goes on receiving meanwhile; CommitEnded() resolves its results and runs its waiters.
  // One commit at a time: what comes meanwhile waits for the next. A waiter waits for every
  // result appended before it, the ones in flight included. Records appended during a commit
  // may reach the disk with its journal sync, before their placed lines do: a crash then
  // leaves records whose lines fail their CRC at the next Open(), which computes those numbers
  // again (and nothing was acknowledged for them).
  void StartCommit() {
    if (output_failed_ || commits_.in_flight()) return;  // the commit in flight starts the next as it ends
    if (!commits_.has_items()) return RunWaiters(commits_.Ready());
    std::vector<Syncer::File> files;
    placed_file_ = SIZE_MAX;
    if (placed_in_store_) {
      auto placed = sink_.PlacedToSync();
      if (!placed.ok()) return OutputError(placed.error());
      files.push_back({*placed, sink_.placed_path()});
      placed_file_ = 0;
    }
    int journal = store_->ToSync();
    journal_synced_ = journal >= 0;
    files.push_back({journal, store_->dir() + "/journal"});
    commits_.Begin();
    last_commit_ = loop_.Now();
    syncer_->Start(std::move(files), [this] { loop_.Post([this] { CommitEnded(true); }); });
  }

  // The commit in flight ended (the syncer is done with it); with `go_on`, its waiters run and
  // the next commit is scheduled. Nothing if none was in flight.
  void CommitEnded(bool go_on) {
    auto done = commits_.End();
    if (!done) return;
    if (auto synced = syncer_->Finish(); !synced.ok()) {
      // Sticky: the kernel reports a writeback error once, so a later sync would pass.
      if (placed_file_ == syncer_->failed_file()) {
        sink_.PlacedSyncFailed(synced.error());
      } else {
        store_->SyncFailed(synced.error());
      }
      return OutputError(MakeError(Errc::kInternal, "--state-dir " + store_->dir() + ": " + synced.error().message));
    }
    if (journal_synced_) store_->Synced();
    OutputError(AroundProgress([&]() -> Status {
      if (auto resolved = Durable(done->items); !resolved.ok()) return resolved;
      return sink_.Flush();
    }));
    KickWriteback();
    if (!go_on) return;
    RunWaiters(std::move(done->waiters));
    if (commits_.next_due()) ScheduleFlush();
  }

  // A file written in order is written back every 32 MiB; a placed one region by region
  // (OnRegionWritten).
  void KickWriteback() {
    if (writeback_ && !sink_.placed()) writeback_->Wrote(sink_.bytes_out());
  }

  // What waited for results to be durable (the acknowledgement of the update that carried
  // them) goes on; after an output error nothing is durable any more, and the agent keeps
  // those updates for the next scheduler.
  void RunWaiters(std::vector<std::function<void()>> waiters) {
    if (output_failed_) return;
    for (auto& then : waiters) then();
  }

  void Flush() {
    flush_posted_ = false;
    if (store_) return StartCommit();
    OutputError(AroundProgress([this] { return sink_.Flush(); }));
    KickWriteback();
    RunWaiters(commits_.Ready());
  }

  // `then` runs after the next flush, which covers every result handed over so far.
  void WhenDurable(std::function<void()> then) {
    commits_.Wait(std::move(then));
    ScheduleFlush();
  }

  // One flush at a time; with --state-dir at most one commit (fdatasync) per kCommitEvery.
  void ScheduleFlush() {
    if (flush_posted_ || commits_.in_flight()) return;  // a commit in flight schedules the next as it ends
    flush_posted_ = true;
    auto since = loop_.Now() - last_commit_;
    if (!store_ || since >= kCommitEvery) return loop_.Post([this] { Flush(); });
    loop_.After(std::chrono::duration_cast<std::chrono::milliseconds>(kCommitEvery - since), [this] { Flush(); });
  }

  // --state-dir with the output placed in it: the line goes to its place in the output, and
  // the journal refers to it there. The digits reach the disk once.
  bool PlaceResult(const NumberResult& result) {
    auto placed = sink_.Place(result, /*with_crc=*/true);
    if (!placed.ok()) {
      OutputError(placed.error());
      return true;
    }
    if (!*placed) return false;  // not a line the layout has a place for: journaled as a line
    const PlacedLine& line = **placed;
    StoredResult at{result.n, true, line.offset, line.length};
    if (auto appended = store_->AppendPlaced(LocatedResult{at, line.crc}); !appended.ok()) {
      OutputError(MakeError(Errc::kInternal, "--state-dir " + store_->dir() + ": " + appended.error().message));
      return true;
    }
    commits_.Append({at, std::string(), true});
    ScheduleFlush();
    return true;
  }

  void OnResult(const NumberResult& result) {
    if (placed_in_store_ && result.ok && PlaceResult(result)) return;
    if (store_ && result.ok && result.digits_slice && result.digits_slice->crc32c) {
      // The journal holds the digits themselves, copied from the download inside the kernel;
      // the output reads the line from the journal when it is due.
      std::string around;
      std::size_t digits_at = AppendLineAround(result, run_.format, around);
      auto stored = store_->AppendSlice(result.n, std::string_view(around).substr(0, digits_at),
                                        *result.digits_slice, std::string_view(around).substr(digits_at));
      if (!stored.ok()) {
        return OutputError(MakeError(Errc::kInternal, "--state-dir " + store_->dir() + ": " + stored.error().message));
      }
      commits_.Append({*stored, std::string()});
    } else if (store_) {
      // The journal holds the digits themselves: a result left in its downloaded file is read.
      std::optional<NumberResult> loaded;
      if (result.digits_slice) {
        auto digits = ReadDigits(*result.digits_slice);
        if (!digits.ok()) return OutputError(digits.error());
        loaded = result;
        loaded->digits = std::move(digits.value());
        loaded->digits_slice.reset();
      }
      std::string line = EncodeLine(loaded ? *loaded : result, run_.format);
      auto stored = store_->Append(result.n, result.ok, line);
      if (!stored.ok()) {
        return OutputError(MakeError(Errc::kInternal, "--state-dir " + store_->dir() + ": " + stored.error().message));
      }
      commits_.Append({*stored, std::move(line)});
    } else {
      OutputError(AroundProgress([&] { return sink_.Add(result); }));
    }
    ScheduleFlush();
  }

  void CreateScheduler() {
    auto on_result = [this](const NumberResult& result) { OnResult(result); };
    auto on_exit = [this](int code) {
      exit_code_ = code;
      loop_.Stop();
    };
    scheduler_ = std::make_unique<Scheduler>(loop_, run_.scheduler, *run_.workload, on_result, on_exit);
    scheduler_->set_when_durable([this](std::function<void()> then) { WhenDurable(std::move(then)); });
  }

  // The first signal stops in order (kills, TEARDOWN); a second stops waiting for that; a
  // third exits at once. Handlers run on the loop, which only runs once the scheduler exists.
  void WatchSignals() {
    signals_ = std::make_unique<SignalWatcher>(std::initializer_list<int>{SIGINT, SIGTERM}, [this](int sig) {
      int code = sig == SIGINT ? 130 : 143;
      int count = interrupts_.fetch_add(1) + 1;
      if (count >= 3) std::_Exit(code);
      loop_.Post([this, sig, code, count] {
        if (count == 1) {
          spdlog::warn("{}: stopping; a second signal stops waiting for the master",
                       sig == SIGINT ? "SIGINT" : "SIGTERM");
          return scheduler_->Interrupt(code);
        }
        spdlog::warn("second signal: writing results and exiting without waiting for the master");
        exit_code_ = code;
        loop_.Stop();
      });
    });
  }

  std::string ProgressNow() { return ProgressText(sink_, total_, meter_, monitor_->estimate()); }

  void StartReporting() {
    // systemd: READY=1 once subscribed, STATUS= with progress, WATCHDOG=1 from this loop (so a
    // wedged loop gets the service restarted).
    scheduler_->set_on_subscribed(
        [](const std::string& id) { SdNotify("READY=1\nSTATUS=subscribed as framework " + id); });
    meter_.Sample(RateMeter::Clock::now(), sink_.lines_resolved());
    // Snapshots of the job every half second, for the status server and the progress figures:
    // built here on the loop, read by the server's threads only once published.
    monitor_ = std::make_unique<JobMonitor>(*scheduler_, run_.scheduler.framework.name, FACTORIAL_VERSION, settings_);
    snapshot_ = [this] {
      auto status = monitor_->Snapshot(loop_.Now());
      if (status_server_) status_server_->Publish(std::move(status));
      loop_.After(std::chrono::milliseconds(500), snapshot_);
    };
    snapshot_();
    StartSystemdStatus();
    StartProgressDisplay();
  }

  void StartSystemdStatus() {
    if (auto period = SdWatchdogPeriod()) {
      keepalive_ = [this, half = *period / 2] {
        SdNotify("WATCHDOG=1\nSTATUS=" + ProgressNow());
        loop_.After(half, keepalive_);
      };
      loop_.After(std::chrono::milliseconds(0), keepalive_);
    }
    // systemd without the watchdog still shows STATUS= in `systemctl status`.
    status_line_ = [this] {
      SdNotify("STATUS=" + ProgressNow());
      loop_.After(std::chrono::seconds(5), status_line_);
    };
    if (const char* socket = std::getenv("NOTIFY_SOCKET"); socket != nullptr && *socket != '\0' && !SdWatchdogPeriod()) {
      loop_.After(std::chrono::seconds(1), status_line_);
    }
  }

  void StartProgressDisplay() {
    progress_.WrapLogger();
    show_ = [this] {
      progress_.Show("factorial-scheduler: " + ProgressNow());
      loop_.After(std::chrono::seconds(1), show_);
    };
    if (progress_.enabled()) loop_.After(std::chrono::seconds(1), show_);
    // Off a terminal (piped, a log file, the journal): a progress log line now and then.
    interval_ = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(run_.progress_interval));
    log_progress_ = [this] {
      if (sink_.lines_resolved() < total_) spdlog::info("progress: {}", ProgressNow());
      loop_.After(interval_, log_progress_);
    };
    if (run_.progress && !progress_.enabled()) loop_.After(interval_, log_progress_);
  }

  // After the loop: the last journal commit, the sink's end, and compaction of a finished job.
  void FinishOutputs() {
    if (writeback_) {
      writeback_->Stop();  // the sink may close or replace its file from here on
      sink_.OnRegionWritten(nullptr);
      spdlog::debug("writeback of the output started {} time(s){}", writeback_->started(),
                    writeback_->refused() ? "; the file refused it" : "");
    }
    if (store_) {
      CommitEnded(false);  // the loop is over: nothing can act on its waiters any more
      OutputError(Commit());
      spdlog::info("journal: {} bytes written, {} fdatasync(s) this run", store_->size(), store_->syncs());
    }
    if (auto finished = sink_.Finish(); !finished.ok()) {
      if (!output_failed_) spdlog::error("{}", finished.error().message);
      output_failed_ = true;
    }
    if (store_ && !output_failed_ && sink_.lines_resolved() == total_ && !run_.output.empty()) {
      CompactJournalIntoOutput(*store_, run_, sink_, placed_in_store_);
    }
  }

  RunConfig& run_;
  StateStore* store_;
  ResultSink& sink_;
  bool placed_in_store_;
  StatusServer* status_server_;
  std::vector<std::pair<std::string, std::string>> settings_;
  CurlGlobal curl_;
  CurlLoop loop_;
  int exit_code_ = kExitOk;
  bool output_failed_ = false;
  std::unique_ptr<Scheduler> scheduler_;
  ProgressLine progress_;
  bool results_on_terminal_;
  CommitQueue<Uncommitted> commits_;  // --state-dir: results and their waiters; else waiters only
  TimePoint last_commit_;
  bool flush_posted_ = false;
  std::unique_ptr<Writeback> writeback_;
  // The commit in flight: the placed file's index in the syncer's files (SIZE_MAX: none), and
  // whether the journal was synced.
  std::size_t placed_file_ = SIZE_MAX;
  bool journal_synced_ = false;
  std::optional<Syncer> syncer_;  // --state-dir; after loop_: its end posts to the loop
  std::atomic<int> interrupts_{0};
  std::unique_ptr<SignalWatcher> signals_;
  std::size_t total_;
  RateMeter meter_;
  std::unique_ptr<JobMonitor> monitor_;
  Duration interval_{};
  std::function<void()> snapshot_, keepalive_, status_line_, show_, log_progress_;
};

}  // namespace

int RunJob(RunConfig run) {
  if (!run.color) TurnOffLogColors();
  for (const auto& warning : run.warnings) spdlog::warn("{}", warning);
  // A closed standard output is a write error the sink reports, not a silent death.
  std::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<StateStore> store;
  if (!run.state_dir.empty()) {
    auto opened = StateStore::Open(run.state_dir, run.workload->Fingerprint(), run.format);
    if (!opened.ok()) {
      std::fprintf(stderr, "factorial-scheduler: %s\n", opened.error().message.c_str());
      return opened.error().code == Errc::kInvalidArgument ? kExitUsage : kExitFailed;
    }
    store = std::move(opened).value();
    run.scheduler.store = store.get();
  }
  bool stdout_closed = ReopenClosedStandardDescriptors();
  if (stdout_closed && run.output.empty()) {
    std::fprintf(stderr, "factorial-scheduler: standard output is closed; pass --output FILE\n");
    return kExitUsage;
  }
  auto opened = OpenOutputs(run, store.get());
  if (!opened.ok()) {
    std::fprintf(stderr, "factorial-scheduler: %s\n", opened.error().message.c_str());
    return opened.error().code == Errc::kInvalidArgument ? kExitUsage : kExitFailed;
  }
  std::unique_ptr<ResultSink> sink = std::move(opened->sink);
  if (sink->placed() || run.order == OutputOrder::kCompletion) {
    run.scheduler.download_memory = DownloadMemory::DefaultBudget();
  }

  if (const auto& c = run.scheduler.executor.command) {
    spdlog::info("agents run the executor {}{}", c->value.value_or(""), c->uris.empty() ? "" : ", fetched from " + c->uris[0].value);
  }
  std::unique_ptr<StatusServer> status_server;
  if (run.http) {
    auto started = StartStatusServer(run);
    if (!started.ok()) {
      std::fprintf(stderr, "factorial-scheduler: %s\n", started.error().message.c_str());
      return kExitFailed;
    }
    status_server = std::move(started).value();
  }
  JobDriver driver(run, store.get(), *sink, opened->placed_in_store, status_server.get());
  return driver.Run();
}

}  // namespace factorial::scheduler
